import Foundation
import SamuDispatchCore
import SamuModel
import SamuStore

/// Turns the dispatcher's actions into the rows of one batch write and the outcome events to
/// publish. Outcome ids derive from the source event and the action's position, so the same
/// event processed again yields the same ids.
struct DispatchRecorder {
    let outcomesTopic: String
    /// `samu.aid.v1` (with the deployment's prefix): mutual-aid messages to other areas' workers.
    let aidTopic: String
    let actor: String
    var write = DispatchWrite()
    /// Shelters whose bed counts changed in this batch (their rows are refreshed at the end).
    var touchedShelters: [String: String] = [:]
    /// The dispatch area deciding what is being recorded: its worker publishes the rows.
    var area: String?

    init(outcomesTopic: String, aidTopic: String, actor: String) {
        self.aidTopic = aidTopic
        self.outcomesTopic = outcomesTopic
        self.actor = actor
    }

    /// A new case from a report: its rows, `case.received` and `case.triaged`.
    mutating func caseOpened(_ report: AcceptedReport, caseID: UUID, triage: TriageDecision, at time: Date) {
        write.newCases.append(DispatchWrite.NewCase(report: report, caseID: caseID, triage: triage))
        let received = CaseOutcome.received(report: report.report, caseID: caseID, at: time)
        outcome(received.payload, id: received.eventID, caseID: caseID, at: time, zone: report.report.zone)
        // One entry for the report received and triaged together (one row, not two, per report):
        // the report it came from and what triage decided.
        write.addTimeline(
            caseID, status: .triaged, actor: "triage:\(triage.rulesVersion)",
            detailText: Self.triagedDetail(
                triage, report: report.report.id,
                source: "\(report.sourceTopic)/\(report.sourcePartition)/\(report.sourceOffset)"),
            at: time)
        var triaged = base(
            "case.triaged", caseID: caseID, zone: report.report.zone, at: time,
            id: DerivedID.outcomeID(caseID: caseID, transition: "triaged", channel: "outcomes"))
        triaged.append("priority", triage.priority.code)
        triaged.append("bed_type", triage.bedType.rawValue)
        triaged.append("rules_version", triage.rulesVersion)
        triaged.append("reason", triage.reasons.map(\.english).joined(separator: " "))
        outcome(triaged, zone: report.report.zone)
        write.cases[caseID] = DispatchWrite.CaseState(status: .triaged, unitID: nil, resolution: nil)
        if let referral = triage.referral {
            let due = time.addingTimeInterval(Double(referral.deadlineMinutes) * 60)
            write.referrals.append((caseID, report.report.zone, referral, time, due))
            write.addTimeline(
                caseID, entry: .referralOpened, actor: "triage:\(triage.rulesVersion)",
                detail: [
                    "destination": .string(referral.destination.rawValue), "rule": .string(referral.rule),
                    "due_at": .string(RFC3339.format(due)),
                ], at: time)
        }
    }

    /// Another call about an open case, added to it: the report is stored with the case (case
    /// work's path: written only if the database has the case), the timeline says so, and
    /// `case.report_linked` tells the operators. No case is opened and no unit sent.
    mutating func reportLinked(_ report: AcceptedReport, to caseID: UUID, triage: TriageDecision, at time: Date) {
        let detail: JSONValue = [
            "report_id": .string(report.report.id.lowercased), "priority": .string(triage.priority.code),
            "category": .string(report.report.category.rawValue),
            // Why that call alone would be this urgent, in the operators' languages.
            "reasons": .array(
                triage.reasons.map {
                    [
                        "rule": .string($0.rule), "en": .string($0.english), "fr": .string($0.french),
                        "ar": .string($0.arabic),
                    ]
                }),
            "source": .string("\(report.sourceTopic)/\(report.sourcePartition)/\(report.sourceOffset)"),
            // Stored in `reports`, never in the timeline (the store removes it there).
            "report": [
                "zone": .string(report.report.zone), "reported_at": .string(RFC3339.format(report.report.reportedAt)),
                "payload": report.report.document, "topic": .string(report.sourceTopic),
                "partition": .integer(Int64(report.sourcePartition)), "offset": .integer(report.sourceOffset),
            ],
        ]
        write.caseWork.append((caseID, .reportLinked, actor, detail, time))
        var event = base(
            "case.report_linked", caseID: caseID, zone: report.report.zone, at: time,
            id: DerivedID.outcomeID(caseID: report.report.id, transition: "linked", channel: "outcomes"), version: 4)
        event.append("report_id", .string(report.report.id.lowercased))
        event.append("reported_at", .string(RFC3339.format(report.report.reportedAt)))
        outcome(event, zone: report.report.zone)
    }

    /// The timeline's first entry of a case: the report it came from, the outcome and the rules that
    /// fired. The full triage (with the reasons in three languages) is stored once, with the case.
    static func triagedDetail(_ triage: TriageDecision, report: UUID, source: String) -> String {
        var writer = JSONWriter(capacity: 256)
        writer.append("report_id", id: report)
        writer.append("source", source)
        writer.append("priority", triage.priority.code)
        writer.append("bed_type", triage.bedType.rawValue)
        writer.append("rules", strings: triage.reasons.map(\.rule))
        return writer.finished()
    }

    /// Records what the dispatcher decided in response to one input (`source` names it);
    /// `dispatcher` (the zone's, after the actions) tells a case's zone and current unit. It is
    /// read in place: a closure capturing the caller's dispatcher copied all of it for every lookup.
    mutating func record(
        _ actions: [DispatchAction], zone fallback: String, area: String? = nil, source: String, at time: Date,
        dispatcher: borrowing ZoneDispatcher
    ) {
        let area = area ?? fallback
        self.area = area
        for (index, action) in actions.enumerated() {
            let id = UUID(v5: "outcome/\(source)/\(index)")
            // A case's records carry its own zone (a dispatch area decides for several).
            var zone = fallback
            if let caseID = action.caseID, let own = dispatcher.zone(of: caseID) { zone = own }
            switch action {
            case .decided(let record):
                write.decisions.append(
                    DispatchWrite.Decision(
                        decisionID: record.decisionID, caseID: record.caseID, zone: record.zone,
                        kind: record.kind.rawValue,
                        priority: record.priority, unitID: record.unitID, shelterID: record.shelterID,
                        bedType: record.bedType, rulesVersion: record.rulesVersion, reason: record.reason,
                        operatorID: record.operatorID, operatorReason: record.operatorReason,
                        record: Self.recordText(record),
                        at: record.at))
                if let unitID = record.unitID {
                    write.assignmentsEnded.insert(record.caseID)
                    write.assignmentsStarted.append((record.caseID, unitID, record.decisionID, record.at))
                    write.cases[record.caseID] = DispatchWrite.CaseState(
                        status: .assigned, unitID: unitID, resolution: nil)
                }
                var event = base(
                    record.unitID == nil ? "case.queued" : "case.assigned", caseID: record.caseID, zone: zone, at: time,
                    id: id)
                event.append("decision_id", id: record.decisionID)
                event.append("priority", record.priority.code)
                if let unit = record.unitID { event.append("unit_id", unit) }
                if let shelter = record.shelterID { event.append("shelter_id", shelter) }
                event.append("bed_type", record.bedType.rawValue)
                event.append("reason", record.reason)
                outcome(event, zone: zone)
            case .priorityChanged(let record, let from, let reportID):
                // The case's new priority goes with the stored triage, which a takeover restores.
                var detail: [(String, JSONValue)] = [
                    ("from", .string(from.code)), ("to", .string(record.priority.code)),
                ]
                if let reportID { detail.append(("report_id", .string(reportID.lowercased))) }
                override(
                    record, entry: .priorityChanged, detail: detail, outcome: "case.reprioritised", zone: zone,
                    at: time, id: id)
            case .bedChosen(let record, let from):
                var detail: [(String, JSONValue)] = [
                    ("from", .string(from.rawValue)), ("to", .string(record.bedType.rawValue)),
                ]
                if let shelter = record.shelterID { detail.append(("shelter_id", .string(shelter))) }
                override(
                    record, entry: .bedChosen, detail: detail, outcome: "case.bed_chosen", zone: zone, at: time, id: id)
            case .phaseChanged(let caseID, let from, let to, let detail):
                write.addTimeline(
                    caseID, status: to, actor: actor,
                    detail: ["from": .string(from.rawValue), "detail": .string(detail)],
                    at: time)
                let keepsUnit = to.keepsUnit
                if !keepsUnit { write.assignmentsEnded.insert(caseID) }
                write.cases[caseID] = DispatchWrite.CaseState(
                    status: to, unitID: keepsUnit ? dispatcher.phase(of: caseID)?.unitID : nil,
                    resolution: write.cases[caseID]?.resolution)
                if to != .assigned && to != .queued {
                    var event = base("case.\(to.rawValue)", caseID: caseID, zone: zone, at: time, id: id)
                    event.append("status", .string(to.rawValue))
                    event.append("reason", .string(detail))
                    outcome(event, zone: zone)
                }
            case .crewResolution(let caseID, let resolution):
                // Kept with the open case (its status says it is not over).
                write.cases[caseID]?.resolution = resolution
            case .resolution(let caseID, let resolution):
                write.cases[caseID]?.resolution = resolution
                if write.cases[caseID] == nil {
                    write.cases[caseID] = DispatchWrite.CaseState(
                        status: .resolved, unitID: nil, resolution: resolution)
                }
            case .bedHeld(let caseID, let shelterID, let bed, let beds, _):
                bedChange(
                    "case.bed_held", ledger: .hold, reason: "held for the case", caseID: caseID, shelterID: shelterID,
                    bed: bed, beds: beds, zone: zone, area: area, at: time, id: id)
            case .bedReleased(let caseID, let shelterID, let bed, let beds, let release):
                bedChange(
                    "case.bed_released", ledger: release.ledgerAction, reason: release.reason,
                    caseID: caseID, shelterID: shelterID, bed: bed, beds: beds, zone: zone, area: area, at: time, id: id
                )
                if case .declined(let why) = release {
                    write.addTimeline(
                        caseID, entry: .shelterDeclined, actor: "shelter:\(shelterID)",
                        detail: ["shelter_id": .string(shelterID), "reason": .string(why)], at: time)
                }
            case .bedOccupied(let caseID, let shelterID, let bed, let beds):
                bedChange(
                    "case.admitted", ledger: .admit, reason: "admitted by the shelter", caseID: caseID,
                    shelterID: shelterID, bed: bed, beds: beds, zone: zone, area: area, at: time, id: id)
            case .escalated(let caseID, let waited):
                write.addTimeline(
                    caseID, status: .escalated, actor: actor,
                    detail: ["waited_seconds": .integer(waited.components.seconds)],
                    at: time)
                var event = base("case.escalated", caseID: caseID, zone: zone, at: time, id: id)
                event.append("waited_seconds", .integer(waited.components.seconds))
                outcome(event, zone: zone)
            case .mutualAidRequested(let caseID, let zones):
                write.addTimeline(
                    caseID, entry: .mutualAidRequested, actor: actor,
                    detail: ["zones": .array(zones.map { .string($0) })], at: time)
                var event = base("case.mutual_aid_requested", caseID: caseID, zone: zone, at: time, id: id)
                event.append("zones", strings: zones)
                outcome(event, zone: zone)
            case .followUp(let caseID, let resolution):
                guard let task = resolution.followUp(endedAt: time) else { break }
                write.followUps.append((caseID, zone, resolution, time, task))
                write.addTimeline(
                    caseID, entry: .followUp, actor: actor,
                    detail: [
                        "resolution": .string(resolution.rawValue), "kind": .string(task.kind.rawValue),
                        "due_at": .string(RFC3339.format(task.due)),
                    ],
                    at: time)
            case .turnedAway(let caseID, let shelterID, let reason):
                // Closed as sheltered, then turned away at the door with the crew gone: a re-visit
                // due now, at the top of the zone's follow-ups, not the next night's round.
                let task = FollowUpTask(kind: .revisit, due: time)
                write.followUps.append((caseID, zone, .noBedTonight, time, task))
                write.addTimeline(
                    caseID, entry: .followUp, actor: actor,
                    detail: [
                        "resolution": .string(Resolution.noBedTonight.rawValue), "kind": .string(task.kind.rawValue),
                        "due_at": .string(RFC3339.format(task.due)), "shelter_id": .string(shelterID),
                        "reason": .string(
                            "turned away by the shelter after the case was closed as sheltered"
                                + (reason.isEmpty ? "" : ": \(reason)")),
                    ],
                    at: time)
            case .notify(let caseID, let authority):
                write.addTimeline(
                    caseID, entry: .notified, actor: actor, detail: ["authority": .string(authority.rawValue)],
                    at: time)
                var event = base("case.notification", caseID: caseID, zone: zone, at: time, id: id)
                event.append("authority", .string(authority.rawValue))
                outcome(event, zone: zone)
            case .referralLate(let caseID, let destination, let dueAt):
                // The timeline entry and the referral's `escalated_at`, written only while the
                // referral is still open (case work's path), and an outcome for the supervisors.
                let detail: JSONValue = [
                    "destination": .string(destination.rawValue), "due_at": .string(RFC3339.format(dueAt)),
                    "escalated_to": "supervisors",
                ]
                write.caseWork.append((caseID, .referralLate, actor, detail, time))
                var event = base("case.referral_late", caseID: caseID, zone: zone, at: time, id: id, version: 3)
                event.append("destination", .string(destination.rawValue))
                event.append("due_at", .string(RFC3339.format(dueAt)))
                event.append("reason", .string("the child's referral was not acknowledged by its deadline"))
                outcome(event, zone: zone)
            case .aid(let message):
                // Through the outbox: sent if and only if the state change that made it commits.
                write.outbox.append(
                    OutboxRecord(
                        id: id, topic: aidTopic, key: message.toArea,
                        payload: message.json(eventID: id, at: time).serialized, createdAt: Date(), area: area))
                var detail: [String: JSONValue] = [
                    "message": .string(message.kind.rawValue), "request_id": .string(message.requestID.lowercased),
                    "from_area": .string(message.fromArea), "to_area": .string(message.toArea),
                ]
                if let unit = message.unitID { detail["unit_id"] = .string(unit) }
                if let reason = message.reason { detail["reason"] = .string(reason) }
                if let status = message.status, message.kind == .unitStatus {
                    detail["status"] = .string(status.rawValue)
                }
                write.addTimeline(
                    message.caseID, entry: .mutualAid, actor: actor,
                    detail: .object(JSONObject(detail.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })), at: time)
            case .aidExchange(let exchange):
                write.exchanges[exchange.requestID.lowercased + "/" + exchange.side.rawValue] = exchange
            case .rejected:
                break  // logged and counted by the worker
            }
        }
    }

    /// An override decision that changes no unit (a priority, a bed type): its decision row, the
    /// change as case work (`entry`: the store updates the case and its stored triage) and an
    /// outcome for the operators.
    private mutating func override(
        _ record: DecisionRecord, entry: TimelineEntryKind, detail: [(String, JSONValue)], outcome type: String,
        zone: String, at time: Date, id: UUID
    ) {
        write.decisions.append(
            DispatchWrite.Decision(
                decisionID: record.decisionID, caseID: record.caseID, zone: record.zone, kind: record.kind.rawValue,
                priority: record.priority, unitID: nil, shelterID: record.shelterID, bedType: record.bedType,
                rulesVersion: record.rulesVersion, reason: record.reason, operatorID: record.operatorID,
                operatorReason: record.operatorReason, record: Self.recordText(record), at: record.at))
        var fields = detail
        fields.append(("decision_id", .string(record.decisionID.lowercased)))
        fields.append(("reason", .string(record.operatorReason ?? record.reason)))
        if let operatorID = record.operatorID { fields.append(("operator", .string(operatorID))) }
        write.caseWork.append(
            (
                record.caseID, entry, record.operatorID.map { "operator:\($0)" } ?? actor, .object(JSONObject(fields)),
                time
            ))
        var event = base(type, caseID: record.caseID, zone: zone, at: time, id: id, version: 4)
        event.append("priority", .string(record.priority.code))
        event.append("bed_type", .string(record.bedType.rawValue))
        if let shelter = record.shelterID { event.append("shelter_id", .string(shelter)) }
        event.append("decision_id", .string(record.decisionID.lowercased))
        event.append("reason", .string(record.reason))
        outcome(event, zone: zone)
    }

    /// A bed hold, release, expiry or admission: a ledger row, the shelter's counts refreshed, an outcome.
    private mutating func bedChange(
        _ type: String, ledger action: BedLedgerAction, reason: String, caseID: UUID, shelterID: String, bed: BedType,
        beds: Int, zone: String, area: String, at time: Date, id: UUID
    ) {
        write.addLedger(shelterID, bed, caseID, action: action, reason: reason, beds: beds, at: time)
        touchedShelters[shelterID] = area
        // Version 2 of the outcome: with `beds`, one per person.
        var event = base(type, caseID: caseID, zone: zone, at: time, id: id, version: 2)
        event.append("shelter_id", shelterID)
        event.append("bed_type", bed.rawValue)
        event.append("beds", integer: Int64(beds))
        event.append("reason", reason)
        outcome(event, zone: zone)
    }

    /// An outcome being written: its common fields first, then its own.
    struct Draft {
        var writer = JSONWriter()
        let id: UUID
        let caseID: UUID
        let at: Date

        mutating func append(_ key: String, _ value: String) { writer.append(key, value) }
        mutating func append(_ key: String, id value: UUID) { writer.append(key, id: value) }
        mutating func append(_ key: String, integer value: Int64) { writer.append(key, integer: value) }
        mutating func append(_ key: String, strings values: [String]) { writer.append(key, strings: values) }
        mutating func append(_ key: String, _ value: JSONValue) { writer.append(key, value) }
    }

    private func base(
        _ type: String, caseID: UUID, zone: String, at time: Date, id: UUID, version: Int64 = 1
    ) -> Draft {
        var draft = Draft(id: id, caseID: caseID, at: time)
        draft.writer.append("schema_version", integer: version)
        draft.writer.append("event_id", id: id)
        draft.writer.append("type", type)
        draft.writer.append("case_id", id: caseID)
        draft.writer.append("zone", zone)
        draft.writer.append("occurred_at", time: time)
        return draft
    }

    private mutating func outcome(_ draft: consuming Draft, zone: String) {
        let (id, caseID, at) = (draft.id, draft.caseID, draft.at)
        outcome(draft.writer.finished(), id: id, caseID: caseID, at: at, zone: zone)
    }

    private mutating func outcome(_ payload: String, id: UUID, caseID: UUID, at time: Date, zone: String) {
        outcomeSteps.append((write.outbox.count, caseID, time))
        write.outbox.append(
            OutboxRecord(id: id, topic: outcomesTopic, key: zone, payload: payload, createdAt: Date(), area: area))
    }

    /// The outbox rows that are one case's outcome steps: the case and when the step happened.
    private var outcomeSteps: [(row: Int, caseID: UUID, at: Date)] = []

    /// Publishes the outcomes of each case that commit together as one record: a case with several
    /// steps in this write (received, triaged, assigned and its bed held, for a report dispatched
    /// at once) gets one `case.steps` record (outcomes schema version 5) carrying them in order,
    /// each step exactly as it would have been published alone, with its own id. One broker record
    /// per case per batch instead of one per step. The record takes its first step's id and row;
    /// a case with one step keeps it as it is. Returns the ids of the rows folded into another.
    @discardableResult
    mutating func coalesceOutcomes() -> [UUID] {
        defer { outcomeSteps.removeAll(keepingCapacity: true) }
        let steps = outcomeSteps
        guard steps.count > 1 else { return [] }
        // Each case's steps chained in row order: `next` is the step after this one of the same
        // case (-1: none), `follows` marks every step but a case's first.
        var next = [Int](repeating: -1, count: steps.count)
        var follows = [Bool](repeating: false, count: steps.count)
        var last: [UUID: Int] = [:]
        last.reserveCapacity(steps.count)
        for (position, step) in steps.enumerated() {
            if let previous = last.updateValue(position, forKey: step.caseID) {
                next[previous] = position
                follows[position] = true
            }
        }
        guard last.count < steps.count else { return [] }
        let outbox = write.outbox
        // A row's step (-1: not a step: a mutual-aid message).
        var stepOfRow = [Int](repeating: -1, count: outbox.count)
        for (position, step) in steps.enumerated() { stepOfRow[step.row] = position }
        var merged: [OutboxRecord] = []
        merged.reserveCapacity(last.count + outbox.count - steps.count)
        var absorbed: [UUID] = []
        absorbed.reserveCapacity(steps.count - last.count)
        for (index, row) in outbox.enumerated() {
            let position = stepOfRow[index]
            if position >= 0 && follows[position] {
                absorbed.append(row.id)  // carried by its case's first row
                continue
            }
            if position < 0 || next[position] < 0 {
                merged.append(row)  // not a step, or its case's only one
                continue
            }
            var chain = [position]
            var capacity = 256 + row.payload.utf8.count
            var after = next[position]
            while after >= 0 {
                chain.append(after)
                capacity += outbox[steps[after].row].payload.utf8.count
                after = next[after]
            }
            var writer = JSONWriter(capacity: capacity)
            writer.append("schema_version", integer: 5)
            writer.append("event_id", id: row.id)
            writer.append("type", OutcomeRecord.stepsType)
            writer.append("case_id", id: steps[position].caseID)
            writer.append("zone", row.key ?? "")
            writer.append("occurred_at", time: steps[chain[chain.count - 1]].at)
            writer.append("steps", jsonTexts: chain.lazy.map { outbox[steps[$0].row].payload })
            var record = row
            record.payload = writer.finished()
            merged.append(record)
        }
        write.outbox = merged
        return absorbed
    }

    /// The decision record as stored and shown on the console, written straight into its text
    /// (one or more for every report).
    static func recordText(_ record: DecisionRecord) -> String {
        func tenths(_ value: Double) -> Double { (value * 10).rounded() / 10 }
        func candidates(_ key: String, _ list: [Candidate], to writer: inout JSONWriter) {
            writer.append(key, objects: list) {
                $0.append("id", $1.id)
                $0.append("travel_seconds", number: tenths($1.travelSeconds))
                $0.append("score", number: tenths($1.score))
            }
        }
        var writer = JSONWriter(capacity: 768)
        writer.append("decision_id", id: record.decisionID)
        writer.append("kind", record.kind.rawValue)
        writer.append("priority", record.priority.code)
        writer.append("unit_id", record.unitID)
        if let travel = record.unitTravelSeconds {
            writer.append("unit_travel_seconds", number: tenths(travel))
        } else {
            writer.appendNull("unit_travel_seconds")
        }
        writer.append("shelter_id", record.shelterID)
        writer.append("bed_type", record.bedType.rawValue)
        candidates("unit_candidates", record.unitCandidates, to: &writer)
        writer.append("unit_candidate_count", integer: Int64(record.unitCandidateCount))
        candidates("shelter_candidates", record.shelterCandidates, to: &writer)
        writer.append("joint", bool: record.joint)
        writer.append("rules_version", record.rulesVersion)
        writer.append("reason", record.reason)
        if let operatorID = record.operatorID { writer.append("operator_id", operatorID) }
        if let reason = record.operatorReason { writer.append("operator_reason", reason) }
        return writer.finished()
    }
}
