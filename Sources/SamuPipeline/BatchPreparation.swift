import Crypto
import Foundation
import RdKafka
import SamuDispatchCore
import SamuModel
import SamuStore

/// Deciding a batch in memory: decode and validate each event, check the inbox when asked, triage
/// reports, let each zone's dispatcher decide, and record what the batch's write will carry.
extension DispatchWorker {
    /// A batch decided in memory whose write has not committed yet.
    struct PendingBatch: Sendable {
        var batch: [KafkaMessage]
        var decoded: [(KafkaMessage, DecodedEvent)]
        var recorder: DispatchRecorder
        var touched: Set<String>
        var letters: [DeadLetter]
        /// Events keyed by a grouped zone instead of its area: published again under the area's
        /// key before the batch's offsets are stored.
        var forwards: [KafkaRecord] = []
        var reports: Int
        var rejected: Int
        var begin: ContinuousClock.Instant
        var wall: Date
        /// The write's rows, encoded while the previous batch's write runs (nil: encoded when the
        /// write starts).
        var encoded: EncodedWrite? = nil
    }

    /// The SHA-256 of an event's payload, in hexadecimal: what the inbox keeps to tell a
    /// redelivery from a reused id.
    static func digest(_ value: [UInt8]?) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in SHA256.hash(data: value ?? []) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// What names a batch's settling, from which its outcomes' ids derive: the first event it
    /// decided. Each event is committed once (the inbox refuses it again), so two committed batches
    /// that decided events never share it. Named by its first message instead, a batch decided again
    /// after a refusal (the same first message, events processed since skipped, newer ones
    /// decided) gave its new assignment the id of the first batch's, and the outbox dropped it as
    /// already written: an outcome lost. A batch that decided nothing is named by its messages.
    static func settleSource(_ batch: [KafkaMessage], decided: [DispatchWrite.Processed]) -> String {
        if let first = decided.first { return "settle/\(first.eventID.lowercased)" }
        let first = batch.first, last = batch.last
        return
            "settle/\(first?.topic ?? "")/\(first?.partition ?? 0)/\(first?.offset ?? 0)-\(last?.offset ?? 0)/\(batch.count)"
    }

    /// The dead letter of an event whose id was processed before with another payload.
    func conflict(
        _ message: KafkaMessage, event: DecodedEvent, stored: String, received: String, at time: Date
    ) -> DeadLetter {
        var letter = deadLetter(
            message,
            Rejection(
                reason: .conflictingDuplicate,
                detail:
                    "event_id \(event.eventID.lowercased) was processed before with another payload (sha256 \(stored)); this one (sha256 \(received)) is not applied",
                field: "/event_id"),
            at: time)
        letter.conflict = (stored: stored, received: received)
        return letter
    }

    /// Decides a batch in memory: decodes, validates, triages, lets each zone's dispatcher decide,
    /// and records the rows and outcomes its write will carry.
    func prepare(_ batch: [KafkaMessage], zones: inout Zones) async throws -> PendingBatch {
        let begin = ContinuousClock.now
        let now = instant()
        let consumedAt = trace?.now() ?? 0
        var letters: [DeadLetter] = []
        var decoded: [(KafkaMessage, DecodedEvent)] = []
        var forwards: [KafkaRecord] = []
        for message in batch {
            switch decoder.decode(topic: message.topic, key: message.key, value: message.value) {
            case .success(let event) where event.misrouted:
                forwards.append(
                    KafkaRecord(
                        topic: message.topic, key: Array(event.area.utf8), value: message.value,
                        headers: message.headers + [KafkaHeader(name: "samu-forwarded-from", string: event.zone)]))
            case .success(let event): decoded.append((message, event))
            case .failure(let rejection): letters.append(deadLetter(message, rejection, at: now.wall))
            }
        }
        // Zones whose lease this worker holds but whose memory it forgot are reloaded under that
        // lease. A zone it holds no lease on is not its own (its partition was never assigned to
        // it, or was taken away while it was paused): its events are left to the owner.
        let plan = zones.machine.batch(zones: Set(decoded.map(\.1.area)))
        for zone in plan.newlyLeft {
            logger.warning(
                "event for a zone this worker holds no lease on; left to its owner", metadata: ["zone.id": "\(zone)"])
        }
        try await load(plan.reload, leasing: false, zones: &zones)
        var seenBefore: [UUID: String] = [:]
        if zones.machine.checksInbox {
            let eventIDs = decoded.map(\.1.eventID)
            let store = self.store
            seenBefore = try await retrying { try await store.alreadyProcessed(eventIDs) }
            zones.machine.inboxChecked(foundProcessed: !seenBefore.isEmpty)
        }
        var recorder = DispatchRecorder(
            outcomesTopic: catalog.name(.outcomes), aidTopic: catalog.name(.aid), actor: actor)
        var seenInBatch: [UUID: String] = [:]
        var touched = Set<String>()
        var rejected = 0
        var reports = 0
        for (message, event) in decoded {
            guard !plan.leftToOwner.contains(event.area) else { continue }
            let digest = Self.digest(message.value)
            // An id seen before: an honest redelivery (same bytes) changes nothing; another payload
            // under the same id is a producer's bug, parked with both digests for an operator.
            if let stored = seenBefore[event.eventID] ?? seenInBatch[event.eventID] {
                if !stored.isEmpty && stored != digest {
                    letters.append(conflict(message, event: event, stored: stored, received: digest, at: now.wall))
                }
                continue
            }
            seenInBatch[event.eventID] = digest
            recorder.write.processed.append(
                DispatchWrite.Processed(
                    eventID: event.eventID, topic: message.topic, partition: message.partition, offset: message.offset,
                    digest: digest))
            var zone = zones.taking(event.area) ?? dispatcher(event.area, in: &zones)
            let firstOutcome = recorder.write.outbox.count
            var triagedAt: Int64 = 0
            let actions: [DispatchAction]
            switch event.event {
            case .report(let report):
                reports += 1
                let caseID = DerivedID.caseID(forReport: report.id)
                let decision = triage.triage(report)
                if let trace { triagedAt = trace.now() }
                recorder.area = event.area
                let accepted = AcceptedReport(
                    report: report, sourceTopic: message.topic, sourcePartition: message.partition,
                    sourceOffset: message.offset, payload: message.value.map { String(decoding: $0, as: UTF8.self) })
                // Another call about an open case of this area: added to it, no second unit.
                if let linked = report.linkedCaseID,
                    let raised = zone.link(report: report.id, priority: decision.priority, to: linked, at: now)
                {
                    recorder.reportLinked(accepted, to: linked, triage: decision, at: now.wall)
                    actions = raised
                    break
                }
                recorder.caseOpened(accepted, caseID: caseID, triage: decision, at: now.wall)
                if let linked = report.linkedCaseID {
                    recorder.write.addTimeline(
                        caseID, entry: .linkRefused, actor: actor,
                        detail: [
                            "linked_case_id": .string(linked.lowercased),
                            "reason": .string(
                                zone.zone(of: linked) == nil
                                    ? "the case is not open in this dispatch area" : "the case is closed"),
                        ], at: now.wall)
                }
                actions = zone.submit(
                    TriagedCase(
                        caseID: caseID, reportID: report.id, zone: report.zone,
                        location: GeoPoint(latitude: report.location.latitude, longitude: report.location.longitude),
                        category: report.category, triage: decision, receivedAt: report.reportedAt),
                    at: now)
            case .unit(let update):
                actions = zone.apply(update, at: now)
                // A stale report changes nothing, in memory or in the table.
                if zone.unitVersion(update.unitID) == update.version {
                    // A position alone is stored with the status the unit keeps.
                    var stored = update
                    if update.positionOnly, let status = zone.unitStatus(update.unitID) { stored.status = status }
                    recorder.write.setUnit(
                        stored, zone: event.zone, caseID: zone.assignment(of: update.unitID), at: now.wall)
                }
            case .beds(let update):
                actions = zone.apply(update, at: now)
                recorder.touchedShelters[update.shelterID] = event.area
                if let profile = update.profile, zone.shelter(update.shelterID)?.version == update.version {
                    recorder.write.profiles[update.shelterID] = (event.zone, profile, update.version)
                }
            case .aid(let message):
                actions = zone.apply(message, at: now)
            case .command(let command) where command.action.isCaseWork:
                let applied = recordCaseWork(command, eventID: event.eventID, recorder: &recorder, at: now.wall)
                // A decided referral may let a waiting child's case close.
                switch command.action {
                case .decideReferral where applied:
                    actions = zone.referralDecided(command.caseID, at: now)
                case .acknowledgeReferral where applied:
                    // Acknowledged: it can no longer be late.
                    zone.referralAcknowledged(command.caseID)
                    actions = []
                default:
                    actions = []
                }
            case .command(let command):
                let known = zone.phase(of: command.caseID) != nil
                actions = zone.apply(command, at: now)
                if known {
                    // What the console shows: who asked what, and whether it was applied.
                    var detail: [String: JSONValue] = [
                        "command": .string(command.name), "reason": .string(command.reason),
                        "operator": .string(command.operatorID), "event_id": .string(event.eventID.lowercased),
                    ]
                    switch command.action {
                    case .reassign(let unitID?): detail["unit_id"] = .string(unitID)
                    case .close(let resolution): detail["resolution"] = .string(resolution.rawValue)
                    default: break
                    }
                    let rejections = actions.compactMap { action -> String? in
                        if case .rejected(let reason) = action { return reason }
                        return nil
                    }
                    detail["outcome"] = .string(rejections.isEmpty ? "applied" : "rejected")
                    if let first = rejections.first { detail["rejection"] = .string(first) }
                    recorder.write.addTimeline(
                        command.caseID, entry: .operatorCommand, actor: "operator:\(command.operatorID)",
                        detail: .object(JSONObject(detail.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })),
                        at: now.wall)
                }
            }
            for case .rejected(let reason) in actions {
                rejected += 1
                logger.info("input not applied", metadata: ["zone.id": "\(event.zone)", "reason": "\(reason)"])
            }
            recorder.record(
                actions, zone: event.zone, area: event.area, source: event.eventID.lowercased, at: now.wall,
                dispatcher: zone)
            if let trace {
                let dispatchedAt = trace.now()
                trace.stamp(
                    recorder.write.outbox[firstOutcome...].lazy.map(\.id),
                    [consumedAt, triagedAt == 0 ? dispatchedAt : triagedAt, dispatchedAt])
            }
            zones.dispatchers[event.area] = zone
            touched.insert(event.area)
        }
        let settled = Self.settleSource(batch, decided: recorder.write.processed)
        for zoneID in touched.sorted() {
            guard var zone = zones.taking(zoneID) else { continue }
            let firstOutcome = recorder.write.outbox.count
            let actions = zone.settle(at: now)
            recorder.record(actions, zone: zoneID, source: "\(settled)/\(zoneID)", at: now.wall, dispatcher: zone)
            if let trace {
                let settledAt = trace.now()
                trace.stamp(recorder.write.outbox[firstOutcome...].lazy.map(\.id), [consumedAt, settledAt, settledAt])
            }
            zones.dispatchers[zoneID] = zone
        }
        refreshShelters(&recorder, zones: zones, at: now.wall)
        let absorbed = recorder.coalesceOutcomes()
        if let trace, !absorbed.isEmpty { trace.forget(absorbed) }
        for zone in touched { recorder.write.leases[zone] = zones.machine.epoch(of: zone) ?? 0 }
        return PendingBatch(
            batch: batch, decoded: decoded, recorder: recorder, touched: touched, letters: letters, forwards: forwards,
            reports: reports, rejected: rejected, begin: begin, wall: now.wall,
            encoded: SamuStore.encode(recorder.write))
    }

    /// Case work (a social-path step, a follow-up taken or done, a referral acknowledged or
    /// decided): recorded beside the dispatcher, for open and closed cases alike; the store writes it
    /// only for a case it has. A referral command from anyone but a child-protection account or a
    /// supervisor is recorded as refused (the console refuses it first; this refuses what another
    /// producer might send), and so is dispatch-free case work from a child-protection account.
    /// Returns whether the command was allowed for its sender's role.
    @discardableResult
    func recordCaseWork(
        _ command: OperatorCommand, eventID: UUID, recorder: inout DispatchRecorder, at time: Date
    ) -> Bool {
        // As an operator command's entry: what the console shows of the command's outcome.
        var detail: [(String, JSONValue)] = [
            ("command", .string(command.name)), ("event_id", .string(eventID.lowercased)),
            ("operator", .string(command.operatorID)), ("outcome", "applied"),
        ]
        let allowed =
            command.action.isReferral ? (command.byChildProtection || command.bySupervisor) : !command.byChildProtection
        if !allowed {
            detail[3] = ("outcome", "rejected")
            detail.append(("rejection", .string("not allowed for this account's role")))
            recorder.write.caseWork.append(
                (command.caseID, .operatorCommand, command.operatorID, .object(JSONObject(detail)), time))
            return false
        }
        let kind: TimelineEntryKind
        switch command.action {
        case .recordStep(let step):
            kind = .socialStep
            detail.append(("step", .string(step.rawValue)))
            detail.append(("note", .string(command.reason)))
        case .takeFollowUp:
            kind = .followUpTaken
        case .completeFollowUp(let outcome):
            detail.append(("note", .string(command.reason)))
            if let next = outcome.nextVisit(after: time) {
                // Refused again or not found: the task comes back the next night.
                kind = .followUpVisit
                detail.append(("visit_outcome", .string(outcome.rawValue)))
                detail.append(("next_due", .string(RFC3339.format(next))))
            } else {
                kind = .followUpDone
            }
        case .acknowledgeReferral:
            kind = .referralAcknowledged
        case .decideReferral(let decision):
            kind = .referralDecided
            detail.append(("decision", .string(decision.rawValue)))
            detail.append(("note", .string(command.reason)))
        default:
            return false
        }
        recorder.write.caseWork.append(
            (command.caseID, kind, command.operatorID, .object(JSONObject(detail)), time))
        return true
    }

    func refreshShelters(_ recorder: inout DispatchRecorder, zones: Zones, at time: Date) {
        for (shelterID, areaID) in recorder.touchedShelters {
            guard let snapshot = zones.dispatchers[areaID]?.shelter(shelterID) else { continue }
            for (bed, (count, held)) in snapshot.beds {
                recorder.write.setBeds(
                    shelterID, zone: snapshot.zone ?? areaID, bedType: bed, count: count, held: held,
                    position: snapshot.position,
                    version: snapshot.version, at: time)
            }
        }
    }

    func deadLetter(_ message: KafkaMessage, _ rejection: Rejection, at time: Date) -> DeadLetter {
        DeadLetter(
            rejection: rejection, sourceTopic: message.topic, sourcePartition: message.partition,
            sourceOffset: message.offset, sourceTimestampMilliseconds: message.timestampMilliseconds, key: message.key,
            value: message.value, headers: message.headers.map { DeadLetter.Header(name: $0.name, value: $0.value) },
            rejectedAt: time, rejectedBy: actor)
    }
}
