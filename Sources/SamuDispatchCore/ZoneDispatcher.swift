import Foundation
import SamuModel

/// One zone's dispatcher: a pure state machine. Feed it unit and bed reports, triaged cases,
/// operator commands and clock ticks; it returns what to persist and publish. It holds the zone's
/// live state in memory and decides alone (the zone's single writer is the worker that owns the
/// zone's partition).
///
/// Invariants it keeps (and tests try to break): a unit has at most one active case; a shelter
/// never has more holds plus occupants than beds of a type; every case is either waiting, active
/// with exactly one unit, or in exactly one terminal state; the same inputs give the same decisions.
public struct ZoneDispatcher: Sendable {
    public let zone: String
    public let configuration: DispatchConfiguration

    struct UnitState: Sendable {
        var id: String
        var skills: SkillMask
        var status: UnitStatus
        var position: GeoPoint
        var x: Double
        var y: Double
        var version: Int64
        var assignment: UUID?
        /// Missed an acknowledgement: not offered new cases until it reports again.
        var unresponsive: Bool
        /// Lender side: the mutual-aid request this unit is offered or lent under (its
        /// `assignment` is then the other area's case).
        var lentTo: UUID? = nil
        /// Requester side: another area's unit lent to a case here (the area), under this request.
        /// Such a unit is a projection: its own area's worker alone decides what it does.
        var lentBy: String? = nil
        var loanRequest: UUID? = nil
        /// The case here the unit was lent for.
        var loanCase: UUID? = nil
    }

    struct ShelterState: Sendable {
        var id: String
        var position: GeoPoint
        var x: Double
        var y: Double
        var version: Int64
        var capacity: [Int]
        var occupied: [Int]
        var held: [Int]
        var holds: [UUID: (bed: BedType, beds: Int, until: Duration)]
        /// Who the shelter takes in (``ShelterProfile/undeclared`` until it says).
        var profile: ShelterProfile = .undeclared
        /// The shelter's zone, when its reports said (an area holds shelters of several zones).
        var zone: String? = nil

        func free(_ bed: BedType) -> Int {
            let index = bed.index
            return capacity[index] - occupied[index] - held[index]
        }
    }

    struct CaseState: Sendable {
        var triaged: TriagedCase
        var x: Double
        var y: Double
        var skills: SkillMask
        var preferred: SkillMask
        var phase: CasePhase
        var decisions: Int
        /// Beds held for the case: one hold, or several when a family had to be split.
        var holds: [BedHold]
        var escalated: Bool
        /// The operator working the case on the console, if one claimed it.
        var claimedBy: String? = nil
        /// A child's case whose referral the receiving body has not decided: it does not close.
        var referralPending = false
        /// What the crew reported when it left a child whose referral was pending: the case closes
        /// so once the referral is decided.
        var crewResolution: Resolution? = nil
        /// Shelters that declined the person: never proposed again for this case.
        var declinedBy: [String] = []

        /// Beds the shelters reported taken by the case's people (admitted).
        var admittedBeds = 0

        /// Beds still to find: one per person, less those held and those already taken.
        var missingBeds: Int {
            var held = admittedBeds
            for hold in holds { held += hold.beds }
            return triaged.triage.shelterNeed.beds - held
        }
    }

    var units: [UnitState] = []
    var unitIndex: [String: Int] = [:]
    var shelters: [ShelterState] = []
    var shelterIndex: [String: Int] = [:]
    var cases: [UUID: CaseState] = [:]
    /// Waiting cases, most urgent first, then oldest first.
    var waiting: [UUID] = []
    /// Cases that may be active without a bed: every case whose phase or hold changed in a way
    /// that could leave it so. ``giveBedsToActiveCases(at:)`` looks only at these (and drops the
    /// ones that no longer need a bed), not at every open case of the zone after each batch.
    var mayNeedBed: Set<UUID> = []
    /// Reference latitude of the local flat-earth projection.
    var referenceLatitude: Double?
    /// Children's referrals not yet acknowledged by the receiving body, with their deadlines
    /// (monotonic): at its deadline one escalates to the zone's supervisors, once.
    var referralDeadlines: [UUID: (due: Duration, destination: ReferralDestination)] = [:]
    /// Requester side: the mutual-aid request of each waiting case that asked a neighbour area.
    var aidRequests: [UUID: AidRequest] = [:]
    /// Lender side: units offered or lent to other areas' cases, by request.
    var loans: [UUID: Loan] = [:]
    /// Requester side: other areas' units lent to cases here.
    var foreignUnits = 0
    /// The zones of cases finished since the last ``settle(at:)``, for their records (a dispatch
    /// area decides for several zones; a case keeps its own).
    var finishedZones: [UUID: String] = [:]

    public init(zone: String, configuration: DispatchConfiguration = DispatchConfiguration()) {
        self.zone = zone
        self.configuration = configuration
    }

    // MARK: - Reading

    /// Cases not yet resolved or cancelled.
    public var activeCaseCount: Int { cases.count }
    public var waitingCaseIDs: [UUID] { waiting }

    public func phase(of caseID: UUID) -> CasePhase? { cases[caseID]?.phase }

    /// The zone of an open case, or of one finished since the last ``settle(at:)``.
    public func zone(of caseID: UUID) -> String? { cases[caseID]?.triaged.zone ?? finishedZones[caseID] }

    /// The case a unit is working on, if any.
    public func assignment(of unitID: String) -> UUID? {
        unitIndex[unitID].flatMap { units[$0].assignment }
    }

    public func unitStatus(_ unitID: String) -> UnitStatus? { unitIndex[unitID].map { units[$0].status } }

    /// The version of the unit's report the zone holds (the highest applied).
    public func unitVersion(_ unitID: String) -> Int64? { unitIndex[unitID].map { units[$0].version } }

    /// Beds of a type at a shelter: capacity, occupied, held.
    public func beds(at shelterID: String, _ bed: BedType) -> (capacity: Int, occupied: Int, held: Int)? {
        guard let index = shelterIndex[shelterID] else { return nil }
        let shelter = shelters[index]
        return (shelter.capacity[bed.index], shelter.occupied[bed.index], shelter.held[bed.index])
    }

    public var unitIDs: [String] { units.map(\.id) }

    /// A shelter's position, report version, beds by type (capacity, occupied, held) and zone.
    public func shelter(
        _ shelterID: String
    ) -> (
        position: GeoPoint, version: Int64, beds: [BedType: (BedCount, Int)], zone: String?
    )? {
        guard let index = shelterIndex[shelterID] else { return nil }
        let shelter = shelters[index]
        var beds: [BedType: (BedCount, Int)] = [:]
        for bed in BedType.allCases {
            beds[bed] = (
                BedCount(capacity: shelter.capacity[bed.index], occupied: shelter.occupied[bed.index]),
                shelter.held[bed.index]
            )
        }
        return (shelter.position, shelter.version, beds, shelter.zone)
    }

    /// The zone's case that triage marked for this report's case id (for records), if open.
    public func triagedCase(_ caseID: UUID) -> TriagedCase? { cases[caseID]?.triaged }
    public var shelterIDs: [String] { shelters.map(\.id) }

    /// The (first) shelter and bed type held for a case, if any.
    public func hold(of caseID: UUID) -> (shelterID: String, bed: BedType)? {
        cases[caseID]?.holds.first.map { ($0.shelterID, $0.bed) }
    }

    /// Every hold of a case: one, or several when a family was split.
    public func holds(of caseID: UUID) -> [BedHold] { cases[caseID]?.holds ?? [] }

    /// Who a shelter takes in, as the zone knows it.
    public func profile(of shelterID: String) -> ShelterProfile? {
        shelterIndex[shelterID].map { shelters[$0].profile }
    }
    /// The operator who claimed the case on the console.
    public func claimant(of caseID: UUID) -> String? { cases[caseID]?.claimedBy }

    /// What an open case keeps of its triage in memory: everything but the reasons' texts (three
    /// languages each, stored with the case in PostgreSQL, never read by dispatch). With tens of
    /// thousands of open cases (a backlog drained after an outage) they were most of the worker's
    /// memory.
    static func kept(_ triaged: TriagedCase) -> TriagedCase {
        var kept = triaged
        kept.triage.reasons = []
        return kept
    }

    // MARK: - Inputs

    /// A new triaged case: assign the best unit and bed now, or queue it.
    public mutating func submit(_ triaged: TriagedCase, at time: DispatchInstant) -> [DispatchAction] {
        guard cases[triaged.caseID] == nil else {
            return [.rejected(reason: "case \(triaged.caseID.lowercased) is already in zone \(zone)")]
        }
        let (x, y) = project(triaged.location)
        cases[triaged.caseID] = CaseState(
            triaged: Self.kept(triaged), x: x, y: y, skills: SkillMask(triaged.triage.requiredSkills),
            preferred: SkillMask(triaged.triage.preferredSkills), phase: .queued(since: time.monotonic), decisions: 0,
            holds: [], escalated: false, referralPending: triaged.triage.referral != nil)
        if let referral = triaged.triage.referral {
            referralDeadlines[triaged.caseID] = (
                time.monotonic + .seconds(referral.deadlineMinutes * 60), referral.destination
            )
        }
        let decided = dispatch(triaged.caseID, kind: .assign, excluding: nil, at: time, from: .triaged)
        if triaged.triage.notify.isEmpty { return decided }
        return triaged.triage.notify.sorted().map { DispatchAction.notify(caseID: triaged.caseID, authority: $0) }
            + decided
    }

    /// A unit's report. Call ``settle(at:)`` after a batch of inputs.
    public mutating func apply(_ update: UnitUpdate, at time: DispatchInstant) -> [DispatchAction] {
        let (x, y) = project(update.position)
        guard let index = unitIndex[update.unitID] else {
            unitIndex[update.unitID] = units.count
            units.append(
                UnitState(
                    id: update.unitID, skills: SkillMask(update.skills ?? []), status: update.status,
                    position: update.position, x: x, y: y, version: update.version, assignment: nil, unresponsive: false
                ))
            return []
        }
        guard update.version > units[index].version else {
            return [
                .rejected(
                    reason: "unit \(update.unitID): version \(update.version) is not newer than \(units[index].version)"
                )
            ]
        }
        var update = update
        if update.positionOnly {
            // A position alone keeps the unit's status, whatever the sender last knew of it.
            update.status = units[index].status
            update.caseID = nil
            update.resolution = nil
        }
        // The same status again, about no case and with no resolution: a position report (a
        // crew's phone on the move), not a change of the unit's case.
        let positionOnly =
            update.status == units[index].status && update.caseID == nil && update.resolution == nil
        units[index].version = update.version
        units[index].status = update.status
        units[index].position = update.position
        units[index].x = x
        units[index].y = y
        units[index].unresponsive = false
        if let skills = update.skills { units[index].skills = SkillMask(skills) }
        var actions: [DispatchAction] = []
        if let requestID = units[index].lentTo {
            // Lent (or offered) to another area's case: its worker hears of it from here.
            actions += lentUnitReported(index, requestID: requestID, update: update, at: time)
        } else if positionOnly {
            // Nothing for the case: the unit's position is updated above.
        } else if let caseID = units[index].assignment {
            if let reported = update.caseID, reported != caseID {
                // About another case than the unit's (an action made offline, sent after the case
                // was reassigned or closed): the unit's status and position stand, the case is
                // left alone.
                actions.append(
                    .rejected(
                        reason:
                            "unit \(update.unitID) reports case \(reported.lowercased) but is assigned \(caseID.lowercased)"
                    ))
            } else {
                actions += advance(caseID, unit: index, with: update, at: time)
            }
        } else if let reported = update.caseID, update.status == .enRoute || update.status == .onScene {
            actions.append(
                .rejected(reason: "unit \(update.unitID) reports case \(reported.lowercased) it was not given"))
        }
        return actions
    }

    /// A shelter's report of its beds. Call ``settle(at:)`` after a batch of inputs.
    public mutating func apply(_ update: BedUpdate, at time: DispatchInstant) -> [DispatchAction] {
        let index: Int
        if let known = shelterIndex[update.shelterID] {
            guard update.version > shelters[known].version else {
                return [
                    .rejected(
                        reason:
                            "shelter \(update.shelterID): version \(update.version) is not newer than \(shelters[known].version)"
                    )
                ]
            }
            index = known
        } else {
            let (x, y) = project(update.position)
            index = shelters.count
            shelterIndex[update.shelterID] = index
            let zeros = [Int](repeating: 0, count: BedType.allCases.count)
            shelters.append(
                ShelterState(
                    id: update.shelterID, position: update.position, x: x, y: y, version: update.version,
                    capacity: zeros, occupied: zeros, held: zeros, holds: [:]))
        }
        shelters[index].version = update.version
        if let profile = update.profile { shelters[index].profile = profile }
        if let zone = update.zone { shelters[index].zone = zone }
        for bed in BedType.allCases {
            let count = update.beds[bed] ?? BedCount(capacity: 0, occupied: 0)
            shelters[index].capacity[bed.index] = max(0, count.capacity)
            shelters[index].occupied[bed.index] = max(0, count.occupied)
        }
        var actions: [DispatchAction] = []
        if let admitted = update.admittedCase, let hold = shelters[index].holds.removeValue(forKey: admitted) {
            shelters[index].held[hold.bed.index] -= hold.beds
            cases[admitted]?.holds.removeAll { $0.shelterID == update.shelterID }
            cases[admitted]?.admittedBeds += hold.beds
            actions.append(
                .bedOccupied(caseID: admitted, shelterID: update.shelterID, bedType: hold.bed, beds: hold.beds))
        }
        if let declined = update.declinedCase {
            actions += decline(declined, at: index, reason: update.declineReason ?? "", time: time)
        }
        // More holds than free beds (walk-ins, a count corrected down): release the least urgent,
        // most recent holds and look for beds elsewhere.
        for bed in BedType.allCases where shelters[index].free(bed) < 0 {
            let victims = shelters[index].holds.filter { $0.value.bed == bed }.map(\.key)
                .sorted { lhs, rhs in holdOrder(lhs) > holdOrder(rhs) }
            for caseID in victims where shelters[index].free(bed) < 0 {
                actions += releaseHold(of: caseID, at: update.shelterID, reason: .shelterFull)
            }
        }
        return actions
    }

    /// A shelter will not take a case's person: its beds there go back, the shelter is never
    /// proposed again for the case, and the next fitting bed is held at once (whatever the case's
    /// phase: a crew at the door with the person needs it now).
    mutating func decline(_ caseID: UUID, at index: Int, reason: String, time: DispatchInstant) -> [DispatchAction] {
        let shelterID = shelters[index].id
        guard shelters[index].holds[caseID] != nil else {
            return [
                .rejected(reason: "shelter \(shelterID) declined case \(caseID.lowercased), which holds no bed there")
            ]
        }
        guard cases[caseID] != nil else {
            // The case was closed (sheltered: the crew left the person at the door) before the
            // shelter declined: the beds go back, and the person is to be found again tonight.
            return releaseHold(of: caseID, at: shelterID, reason: .declined(reason))
                + [.turnedAway(caseID: caseID, shelterID: shelterID, reason: reason)]
        }
        cases[caseID]?.declinedBy.append(shelterID)
        var actions = releaseHold(of: caseID, at: shelterID, reason: .declined(reason))
        actions += findBeds(for: caseID, at: time)
        return actions
    }

    /// An operator's command.
    public mutating func apply(_ command: OperatorCommand, at time: DispatchInstant) -> [DispatchAction] {
        guard let state = cases[command.caseID] else {
            return [.rejected(reason: "case \(command.caseID.lowercased) is not open in zone \(zone)")]
        }
        // A claimed case is the claimant's: another operator's actions are refused, and so is a
        // release unless a supervisor sends it (the timeline records who released). Enforced here,
        // by the zone's single writer, so that no race between consoles can undo another's claim.
        if let holder = state.claimedBy, holder != command.operatorID,
            command.action != .release || !command.bySupervisor
        {
            return [.rejected(reason: "case is claimed by \(holder)")]
        }
        // A child-protection body's account acknowledges and decides referrals, nothing else (the
        // console refuses the rest; this refuses what another producer might send).
        if command.byChildProtection, !command.action.isCaseWork {
            return [.rejected(reason: "a child-protection account sends referral commands only")]
        }
        switch command.action {
        case .cancel:
            // Cancelling would end the child's case and its referral's watch before the receiving
            // body decided (a close refused, then a cancel): it waits for the decision too.
            if state.referralPending {
                return [.rejected(reason: "a child's case ends once its referral is decided")]
            }
            return finish(
                command.caseID, as: .cancelled, detail: "cancelled by \(command.operatorID): \(command.reason)")
        case .close(let resolution):
            if state.referralPending {
                return [.rejected(reason: "a child's case closes once its referral is decided")]
            }
            return finish(
                command.caseID, as: .resolved(resolution),
                detail: "closed by \(command.operatorID) as \(resolution.rawValue): \(command.reason)")
        case .requestMutualAid:
            return [.mutualAidRequested(caseID: command.caseID, zones: configuration.neighbours)]
        case .claim:
            // Console bookkeeping: recorded in the timeline; dispatch is unchanged.
            cases[command.caseID]?.claimedBy = command.operatorID
            return []
        case .release:
            guard state.claimedBy != nil else { return [.rejected(reason: "case is not claimed")] }
            cases[command.caseID]?.claimedBy = nil
            return []
        case .recordStep, .takeFollowUp, .completeFollowUp, .acknowledgeReferral, .decideReferral:
            // Case work: the worker records it beside the dispatcher; dispatch is unchanged.
            return []
        case .setPriority(let priority):
            guard state.triaged.triage.priority != priority else {
                return [.rejected(reason: "the case is already \(priority.code)")]
            }
            return reprioritise(
                command.caseID, to: priority, operatorID: command.operatorID, reason: command.reason, reportID: nil,
                at: time)
        case .chooseBed(let bed, let shelterID):
            return chooseBed(
                command.caseID, bed: bed, shelterID: shelterID, operatorID: command.operatorID, reason: command.reason,
                at: time)
        case .reassign(let target):
            let previous = state.phase.unitID
            if let target {
                guard let unit = unitIndex[target] else {
                    return [.rejected(reason: "unit \(target) is unknown in \(zone)")]
                }
                guard units[unit].assignment == nil || units[unit].assignment == command.caseID else {
                    return [.rejected(reason: "unit \(target) already has a case")]
                }
                guard units[unit].status != .offDuty else { return [.rejected(reason: "unit \(target) is off duty")] }
            }
            var actions: [DispatchAction] = []
            let from = state.phase.status
            if let previous, let unit = unitIndex[previous] { units[unit].assignment = nil }
            removeFromWaiting(command.caseID)
            if let target, let unit = unitIndex[target] {
                actions += assign(
                    command.caseID, unit: unit, candidates: [], candidateCount: 1, kind: .override, joint: false,
                    reason: "operator override", operatorID: command.operatorID, operatorReason: command.reason,
                    at: time, from: from)
            } else {
                actions += dispatch(
                    command.caseID, kind: .reassign, excluding: previous, at: time, from: from,
                    operatorID: command.operatorID, operatorReason: command.reason)
            }
            return actions
        }
    }

    /// Another call about an open case of this zone (schema version 3's `linked_case_id`): the
    /// case takes the call's priority if it is more urgent (a second call saying the child is now
    /// injured), and no second unit is sent. `nil` when the case is not open here: the call then
    /// opens a case of its own.
    public mutating func link(
        report reportID: UUID, priority: Priority, to caseID: UUID, at time: DispatchInstant
    ) -> [DispatchAction]? {
        guard let state = cases[caseID], !state.phase.isTerminal else { return nil }
        guard priority < state.triaged.triage.priority else { return [] }
        return reprioritise(
            caseID, to: priority, operatorID: nil, reason: "another call about the person", reportID: reportID, at: time
        )
    }

    /// Gives a case a new priority: a waiting case leaves the queue under its old key and comes
    /// back at its new place (its wait so far still counts: it keeps its received time). Bed holds
    /// and escalation follow the new priority from now on. The override is a decision of its own.
    mutating func reprioritise(
        _ caseID: UUID, to priority: Priority, operatorID: String?, reason: String, reportID: UUID?,
        at time: DispatchInstant
    ) -> [DispatchAction] {
        guard let state = cases[caseID] else { return [] }
        let from = state.triaged.triage.priority
        let waiting: Bool
        if case .queued = state.phase { waiting = true } else { waiting = false }
        if waiting { removeFromWaiting(caseID) }
        cases[caseID]?.triaged.triage.priority = priority
        // A case made more urgent may escalate again at its new priority's wait.
        if priority < from { cases[caseID]?.escalated = false }
        if waiting { self.waiting.insert(caseID, at: waitingPosition(after: queueOrder(caseID))) }
        if priority < from { mayNeedBed.insert(caseID) }
        let wording =
            "priority \(from.code) → \(priority.code)" + (operatorID.map { " by \($0)" } ?? "") + ": \(reason)"
        let decision = record(
            caseID, kind: .override, unit: nil, travel: nil, shelter: nil, candidates: [], candidateCount: 0,
            shelterCandidates: [], joint: false, reason: wording, operatorID: operatorID,
            operatorReason: operatorID == nil ? nil : reason, at: time)
        return [.priorityChanged(decision, from: from, reportID: reportID)]
    }

    /// An operator's choice of bed type, and of shelter if given: the beds held are given back
    /// and held again as chosen (at that shelter if it has a free bed of the type and takes the
    /// person; beds it lacks are found as usual). A shelter is chosen for a case with a crew on its
    /// way or on scene (the cases that hold beds); a bed type, at any time.
    mutating func chooseBed(
        _ caseID: UUID, bed: BedType, shelterID: String?, operatorID: String, reason: String, at time: DispatchInstant
    ) -> [DispatchAction] {
        guard let state = cases[caseID] else { return [] }
        guard state.triaged.triage.holdsBed else { return [.rejected(reason: "no bed is held for this case")] }
        let from = state.triaged.triage.bedType
        var shelter: Int?
        if let shelterID {
            guard state.phase.needsBed else {
                return [.rejected(reason: "the case has no crew on its way: its shelter is chosen once one goes")]
            }
            guard let index = shelterIndex[shelterID] else {
                return [.rejected(reason: "shelter \(shelterID) is unknown in \(zone)")]
            }
            if let refusal = shelters[index].profile.refusal(of: state.triaged.triage.shelterNeed) {
                return [.rejected(reason: "shelter \(shelterID) cannot take the person (\(refusal.rawValue))")]
            }
            let own = shelters[index].holds[caseID].map { $0.bed == bed ? $0.beds : 0 } ?? 0
            guard shelters[index].free(bed) + own > 0 else {
                return [.rejected(reason: "shelter \(shelterID) has no free \(bed.rawValue) bed")]
            }
            shelter = index
        } else if bed == from {
            return [.rejected(reason: "the case's bed type is already \(bed.rawValue)")]
        }
        var held = releaseHold(of: caseID, reason: .operatorChoice)
        cases[caseID]?.triaged.triage.bedType = bed
        cases[caseID]?.declinedBy.removeAll { $0 == shelterID }
        if let shelter, let missing = cases[caseID]?.missingBeds,
            let hold = holdBed(
                for: caseID, at: shelter, beds: min(missing, shelters[shelter].free(bed)),
                until: time.monotonic + configuration.bedHoldDuration)
        {
            held.append(hold)
        }
        mayNeedBed.insert(caseID)
        let wording =
            "bed \(from.rawValue) → \(bed.rawValue)" + (shelterID.map { " at \($0)" } ?? "")
            + " by \(operatorID): \(reason)"
        let decision = record(
            caseID, kind: .override, unit: nil, travel: nil, shelter: shelterID, candidates: [], candidateCount: 0,
            shelterCandidates: [], joint: false, reason: wording, operatorID: operatorID, operatorReason: reason,
            at: time)
        return [.bedChosen(decision, from: from)] + held
    }

    /// The clock: acknowledgement timeouts, hold expiry, escalation of long waits.
    public mutating func tick(at time: DispatchInstant) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        let now = time.monotonic
        // Only the overdue assignments are sorted (by id, for determinism): the open cases can be
        // thousands, and this runs every second.
        let overdue = cases.compactMap { entry -> (UUID, String)? in
            guard case .assigned(let unitID, let deadline) = entry.value.phase, deadline <= now else { return nil }
            // A lent unit's acknowledgement is its own area's worker's to wait for.
            if let unit = unitIndex[unitID], units[unit].lentBy != nil { return nil }
            return (entry.key, unitID)
        }
        for (caseID, unitID) in overdue.sorted(by: { $0.0.orderKey < $1.0.orderKey }) {
            if let unit = unitIndex[unitID] {
                units[unit].assignment = nil
                units[unit].unresponsive = true
            }
            actions += dispatch(
                caseID, kind: .reassign, excluding: unitID, at: time, from: .assigned,
                reasonPrefix: "unit \(unitID) did not acknowledge within \(configuration.acknowledgementTimeout)")
        }
        for index in shelters.indices {
            let expired = shelters[index].holds.filter { $0.value.until <= now }.map(\.key).sorted {
                $0.orderKey < $1.orderKey
            }
            for caseID in expired {
                actions += releaseHold(of: caseID, at: shelters[index].id, reason: .holdExpired)
            }
        }
        for caseID in waiting {
            guard var state = cases[caseID], !state.escalated, case .queued(let since) = state.phase,
                let limit = configuration.escalationAfter[state.triaged.triage.priority], now - since >= limit
            else { continue }
            state.escalated = true
            cases[caseID] = state
            actions.append(.escalated(caseID: caseID, waited: now - since))
            actions.append(.mutualAidRequested(caseID: caseID, zones: configuration.neighbours))
            actions += askForAid(caseID, at: time)
        }
        actions += lateReferrals(at: time)
        actions += aidTimers(at: time)
        actions += settle(at: time)
        return actions
    }

    /// Referrals past their deadline and still unacknowledged: each escalates once.
    mutating func lateReferrals(at time: DispatchInstant) -> [DispatchAction] {
        if referralDeadlines.isEmpty { return [] }
        let late = referralDeadlines.filter { $0.value.due <= time.monotonic }.keys.sorted {
            $0.orderKey < $1.orderKey
        }
        return late.compactMap { caseID in
            guard let (due, destination) = referralDeadlines.removeValue(forKey: caseID) else { return nil }
            let overdue = time.monotonic - due
            let dueAt = time.wall.addingTimeInterval(
                -(Double(overdue.components.seconds) + Double(overdue.components.attoseconds) * 1e-18))
            return .referralLate(caseID: caseID, destination: destination, dueAt: dueAt)
        }
    }

    /// The receiving body acknowledged a child's referral: it can no longer be late.
    public mutating func referralAcknowledged(_ caseID: UUID) {
        referralDeadlines[caseID] = nil
    }

    /// Serves the waiting cases with the units that became free and gives beds to active cases
    /// that have none. Call it after each batch of inputs (and ``tick(at:)`` calls it): deciding
    /// for a batch at once lets waiting cases be matched to free units jointly.
    public mutating func settle(at time: DispatchInstant) -> [DispatchAction] {
        if !finishedZones.isEmpty { finishedZones.removeAll(keepingCapacity: true) }
        let decided = assignWaiting(at: time) + giveBedsToActiveCases(at: time)
        if aidRequests.isEmpty && loans.isEmpty && !hasForeignUnits { return decided }
        return decided + settleAid(at: time)
    }

    // MARK: - Deciding

    /// Finds the best unit (and a bed) for one case, or queues it.
    mutating func dispatch(
        _ caseID: UUID, kind: DecisionRecord.Kind, excluding excluded: String?, at time: DispatchInstant,
        from: CaseStatus,
        operatorID: String? = nil, operatorReason: String? = nil, reasonPrefix: String? = nil
    ) -> [DispatchAction] {
        guard let state = cases[caseID] else { return [] }
        // One pass over the zone's units keeps the few best (by score, then id) for the record.
        var top: [Candidate] = []
        top.reserveCapacity(configuration.candidatesRecorded + 1)
        var bestIndex: Int?
        var eligible = 0
        for index in units.indices {
            let unit = units[index]
            guard unit.status.isFree, unit.assignment == nil, !unit.unresponsive, unit.lentBy == nil,
                unit.id != excluded, unit.skills.contains(state.skills)
            else { continue }
            eligible += 1
            let travel = travelSeconds(unit.x, unit.y, state.x, state.y)
            let score =
                travel - Double(unit.skills.intersection(state.preferred).count)
                * configuration.preferredSkillBonusSeconds
            if top.count == configuration.candidatesRecorded, let last = top.last,
                (score, unit.id) >= (last.score, last.id)
            {
                continue
            }
            let position = top.firstIndex { (score, unit.id) < ($0.score, $0.id) } ?? top.count
            top.insert(Candidate(id: unit.id, travelSeconds: travel, score: score), at: position)
            if position == 0 { bestIndex = index }
            if top.count > configuration.candidatesRecorded { top.removeLast() }
        }
        let best = bestIndex.map { (index: $0, score: top[0].score) }
        let prefix = reasonPrefix.map { "\($0); " } ?? ""
        if best == nil, !canEverServe(state.skills), let partial = bestPartialUnit(for: state, excluding: excluded) {
            // No crew of the zone has every required skill: waiting would wait for ever. Send the
            // free unit that covers most of them, and ask the neighbours for the rest.
            let missing = CrewSkill.allCases.filter {
                SkillMask([$0]).bits & state.skills.bits != 0 && !units[partial].skills.contains(SkillMask([$0]))
            }.map(\.rawValue).joined(separator: ", ")
            var actions = assign(
                caseID, unit: partial, candidates: [], candidateCount: 0, kind: kind, joint: false,
                reason: prefix
                    + "no unit in \(zone) has every required skill: sent the free unit covering most (missing \(missing))",
                operatorID: operatorID, operatorReason: operatorReason, at: time, from: from)
            actions.append(.mutualAidRequested(caseID: caseID, zones: configuration.neighbours))
            return actions
        }
        guard let best else {
            enqueue(caseID, at: time)
            let skills = state.triage.requiredSkills.sorted().map(\.rawValue).joined(separator: ", ")
            let record = record(
                caseID, kind: .queue, unit: nil, travel: nil, shelter: nil, candidates: [], candidateCount: 0,
                shelterCandidates: [], joint: false,
                reason: prefix + "no free unit" + (skills.isEmpty ? "" : " with \(skills)"), operatorID: operatorID,
                operatorReason: operatorReason, at: time)
            var actions: [DispatchAction] = [.decided(record)]
            if from != .queued {
                actions.append(.phaseChanged(caseID: caseID, from: from, to: .queued, detail: record.reason))
            }
            return actions
        }
        return assign(
            caseID, unit: best.index, candidates: top, candidateCount: eligible, kind: kind, joint: false,
            reason: prefix.isEmpty
                ? "nearest free unit with the required skills" : prefix + "nearest free unit with the required skills",
            operatorID: operatorID, operatorReason: operatorReason, at: time, from: from)
    }

    /// Gives a unit (and a bed, if one is free) to a case and records why.
    mutating func assign(
        _ caseID: UUID, unit: Int, candidates: [Candidate], candidateCount: Int, kind: DecisionRecord.Kind, joint: Bool,
        reason: String, operatorID: String? = nil, operatorReason: String? = nil, at time: DispatchInstant,
        from: CaseStatus
    ) -> [DispatchAction] {
        guard var state = cases[caseID] else { return [] }
        removeFromWaiting(caseID)
        units[unit].assignment = caseID
        let travel = travelSeconds(units[unit].x, units[unit].y, state.x, state.y)
        state.phase = .assigned(
            unitID: units[unit].id, acknowledgeBy: time.monotonic + configuration.acknowledgementTimeout)
        cases[caseID] = state
        mayNeedBed.insert(caseID)
        var held: [DispatchAction] = []
        var shelterCandidates: [Candidate] = []
        var shelterID = state.holds.first?.shelterID
        let holdsBed = state.triaged.triage.holdsBed
        var bedNote = holdsBed ? "" : "; no bed held (triage)"
        if holdsBed, state.missingBeds > 0 {
            let plan = bestShelter(for: state)
            shelterCandidates = plan.considered
            held = hold(plan, for: caseID, until: time.monotonic + configuration.bedHoldDuration)
            shelterID = shelterID ?? plan.holds.first.map { shelters[$0.index].id }
            bedNote = note(plan, for: state)
        }
        let record = record(
            caseID, kind: kind, unit: units[unit].id, travel: travel, shelter: shelterID, candidates: candidates,
            candidateCount: candidateCount, shelterCandidates: shelterCandidates, joint: joint,
            reason: bedNote.isEmpty ? reason : reason + bedNote,
            operatorID: operatorID, operatorReason: operatorReason, at: time)
        var result: [DispatchAction] = []
        result.reserveCapacity(2 + held.count)
        result.append(.decided(record))
        result.append(.phaseChanged(caseID: caseID, from: from, to: .assigned, detail: "unit " + units[unit].id))
        result += held
        return result
    }

    /// Serves waiting cases with the free units: the most urgent class first; within a class the
    /// longest-waiting cases are served, and who gets which unit is decided jointly (minimum total
    /// travel time) rather than first come, first served.
    mutating func assignWaiting(at time: DispatchInstant) -> [DispatchAction] {
        guard !waiting.isEmpty else { return [] }
        var free = units.indices.filter {
            units[$0].status.isFree && units[$0].assignment == nil && !units[$0].unresponsive
                && units[$0].lentBy == nil
        }
        guard !free.isEmpty else { return [] }
        var actions: [DispatchAction] = []
        for priority in Priority.allCases where !free.isEmpty {
            let servable = waiting.filter { caseID in
                guard let state = cases[caseID], state.triaged.triage.priority == priority else { return false }
                return !canEverServe(state.skills) || free.contains { units[$0].skills.contains(state.skills) }
            }
            guard !servable.isEmpty else { continue }
            let chosen = Array(servable.prefix(free.count))
            var costs = [Double](repeating: .infinity, count: chosen.count * free.count)
            for (row, caseID) in chosen.enumerated() {
                let state = cases[caseID]!
                // A case no crew of the zone can fully serve accepts partial crews, an hour of
                // travel dearer per missing skill.
                let partial = !canEverServe(state.skills)
                for (column, index) in free.enumerated() {
                    let covered = units[index].skills.intersection(state.skills).count
                    guard covered == state.skills.count || partial else { continue }
                    costs[row * free.count + column] =
                        travelSeconds(units[index].x, units[index].y, state.x, state.y)
                        - Double(units[index].skills.intersection(state.preferred).count)
                        * configuration.preferredSkillBonusSeconds + Double(state.skills.count - covered) * 3600
                }
            }
            let solution = Assignment.solve(flat: costs, rows: chosen.count, columns: free.count)
            var used = Set<Int>()
            for (row, column) in solution.enumerated() {
                guard let column else { continue }
                let caseID = chosen[row]
                let unit = free[column]
                used.insert(unit)
                let rowCosts = costs[(row * free.count)..<((row + 1) * free.count)]
                let best = Self.smallest(rowCosts, count: configuration.candidatesRecorded)
                let considered = best.map { column in
                    let index = free[column]
                    return Candidate(
                        id: units[index].id,
                        travelSeconds: travelSeconds(
                            units[index].x, units[index].y, cases[caseID]!.x, cases[caseID]!.y),
                        score: rowCosts[rowCosts.startIndex + column])
                }
                actions += assign(
                    caseID, unit: unit, candidates: considered,
                    candidateCount: rowCosts.lazy.filter(\.isFinite).count, kind: .assign, joint: chosen.count > 1,
                    reason: chosen.count > 1
                        ? "assigned jointly with \(chosen.count - 1) other waiting \(priority.code) case(s): least total travel time"
                        : "a unit became free",
                    at: time, from: .queued)
            }
            free.removeAll { used.contains($0) }
        }
        return actions
    }

    /// Whether some crew of the zone on duty (free or busy) has all these skills.
    func canEverServe(_ skills: SkillMask) -> Bool {
        units.contains { $0.status != .offDuty && $0.lentBy == nil && $0.skills.contains(skills) }
    }

    /// The free unit covering most of the required skills, then the nearest.
    func bestPartialUnit(for state: CaseState, excluding excluded: String?) -> Int? {
        var best: (index: Int, covered: Int, travel: Double)?
        for index in units.indices {
            let unit = units[index]
            guard unit.status.isFree, unit.assignment == nil, !unit.unresponsive, unit.lentBy == nil,
                unit.id != excluded
            else { continue }
            let covered = unit.skills.intersection(state.skills).count
            let travel = travelSeconds(unit.x, unit.y, state.x, state.y)
            if best == nil || covered > best!.covered || (covered == best!.covered && travel < best!.travel) {
                best = (index, covered, travel)
            }
        }
        return best?.index
    }

    /// The positions of the `count` smallest finite values, smallest first (ties by position).
    static func smallest(_ values: ArraySlice<Double>, count: Int) -> [Int] {
        var best: [(Double, Int)] = []
        best.reserveCapacity(count + 1)
        for (offset, value) in values.enumerated() where value.isFinite {
            if best.count == count, value >= best[count - 1].0 { continue }
            let position = best.firstIndex { value < $0.0 } ?? best.count
            best.insert((value, offset), at: position)
            if best.count > count { best.removeLast() }
        }
        return best.map(\.1)
    }

    /// Finds beds for active cases that have none (or too few: a family split), most urgent first.
    mutating func giveBedsToActiveCases(at time: DispatchInstant) -> [DispatchAction] {
        if mayNeedBed.isEmpty { return [] }
        // Bed types some shelter of the zone has free: a case needing another waits in the set.
        let available = BedType.allCases.filter { bed in shelters.contains { $0.free(bed) > 0 } }
        var needing: [UUID] = []
        for caseID in mayNeedBed {
            guard let state = cases[caseID], state.missingBeds > 0, state.phase.needsBed,
                state.triaged.triage.holdsBed
            else {
                mayNeedBed.remove(caseID)
                continue
            }
            if available.contains(state.triaged.triage.bedType) { needing.append(caseID) }
        }
        needing.sort { holdOrder($0) < holdOrder($1) }
        var actions: [DispatchAction] = []
        for caseID in needing { actions += findBeds(for: caseID, at: time) }
        return actions
    }

    /// Holds the beds a case still lacks at the best fitting shelters.
    mutating func findBeds(for caseID: UUID, at time: DispatchInstant) -> [DispatchAction] {
        guard let state = cases[caseID], state.triaged.triage.holdsBed, state.missingBeds > 0 else { return [] }
        return hold(bestShelter(for: state), for: caseID, until: time.monotonic + configuration.bedHoldDuration)
    }

    /// Where a case's missing beds go: the nearest fitting shelter with them all (a family stays
    /// together); failing that, the nearest fitting shelters one after another (the split is
    /// recorded with its reason); and which shelters were looked at.
    struct ShelterPlan {
        var holds: [(index: Int, beds: Int)] = []
        var considered: [Candidate] = []
        /// Shelters with a free bed of the type that cannot take the person, by reason.
        var refused: [ShelterRefusal: Int] = [:]
        var needed = 0

        var held: Int { holds.reduce(0) { $0 + $1.beds } }
    }

    func bestShelter(for state: CaseState) -> ShelterPlan {
        let bed = state.triaged.triage.bedType
        let need = state.triaged.triage.shelterNeed
        var plan = ShelterPlan()
        plan.needed = state.missingBeds
        guard plan.needed > 0 else { return plan }
        var top: [Candidate] = []
        top.reserveCapacity(configuration.candidatesRecorded + 1)
        // Fitting shelters with a free bed, by travel: the first with every missing bed wins.
        var fitting: [(index: Int, travel: Double)] = []
        var together: (index: Int, travel: Double)?
        for index in shelters.indices where shelters[index].free(bed) > 0 {
            let id = shelters[index].id
            if state.declinedBy.contains(id) { continue }
            if let refusal = shelters[index].profile.refusal(of: need) {
                plan.refused[refusal, default: 0] += 1
                continue
            }
            let travel = travelSeconds(state.x, state.y, shelters[index].x, shelters[index].y)
            if plan.needed > 1 { fitting.append((index, travel)) }
            if shelters[index].free(bed) >= plan.needed,
                together == nil || (travel, id) < (together!.travel, shelters[together!.index].id)
            {
                together = (index, travel)
            }
            if top.count == configuration.candidatesRecorded, let last = top.last,
                (travel, id) >= (last.travelSeconds, last.id)
            {
                continue
            }
            let position = top.firstIndex { (travel, id) < ($0.travelSeconds, $0.id) } ?? top.count
            top.insert(Candidate(id: id, travelSeconds: travel, score: travel), at: position)
            if top.count > configuration.candidatesRecorded { top.removeLast() }
        }
        plan.considered = top
        if let together {
            plan.holds = [(together.index, plan.needed)]
            return plan
        }
        fitting.sort { ($0.travel, shelters[$0.index].id) < ($1.travel, shelters[$1.index].id) }
        var left = plan.needed
        for candidate in fitting where left > 0 {
            let beds = min(left, shelters[candidate.index].free(bed))
            plan.holds.append((candidate.index, beds))
            left -= beds
        }
        return plan
    }

    /// What the decision record says of the beds: a family split, beds missing, shelters that
    /// could not take the person.
    func note(_ plan: ShelterPlan, for state: CaseState) -> String {
        let bed = state.triaged.triage.bedType.rawValue
        let refused =
            plan.refused.isEmpty
            ? ""
            : " (not fitting: "
                + plan.refused.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
                .joined(separator: ", ") + ")"
        if plan.holds.isEmpty {
            return "; no fitting free \(bed) bed in \(zone)" + refused
        }
        if plan.holds.count == 1, plan.held == plan.needed { return "" }
        let places = plan.holds.map { "\($0.beds) at \(shelters[$0.index].id)" }.joined(separator: ", ")
        let missing = plan.needed - plan.held
        return "; \(plan.needed) people split: no fitting shelter has \(plan.needed) free \(bed) beds together; "
            + places + (missing > 0 ? "; \(missing) without a bed yet" : "") + refused
    }

    mutating func hold(_ plan: ShelterPlan, for caseID: UUID, until: Duration) -> [DispatchAction] {
        plan.holds.compactMap { holdBed(for: caseID, at: $0.index, beds: $0.beds, until: until) }
    }

    mutating func holdBed(for caseID: UUID, at shelter: Int, beds: Int, until: Duration) -> DispatchAction? {
        guard let bed = cases[caseID]?.triaged.triage.bedType, beds > 0, shelters[shelter].holds[caseID] == nil
        else { return nil }
        shelters[shelter].holds[caseID] = (bed, beds, until)
        shelters[shelter].held[bed.index] += beds
        cases[caseID]?.holds.append(BedHold(shelterID: shelters[shelter].id, bed: bed, beds: beds))
        return .bedHeld(caseID: caseID, shelterID: shelters[shelter].id, bedType: bed, beds: beds, until: until)
    }

    /// Gives back a case's beds: at one shelter, or (nil) everywhere.
    mutating func releaseHold(of caseID: UUID, at shelterID: String? = nil, reason: BedRelease) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        let holds = cases[caseID]?.holds ?? holdLookup(caseID)
        for hold in holds where shelterID == nil || hold.shelterID == shelterID {
            guard let index = shelterIndex[hold.shelterID], let held = shelters[index].holds.removeValue(forKey: caseID)
            else { continue }
            shelters[index].held[held.bed.index] -= held.beds
            cases[caseID]?.holds.removeAll { $0.shelterID == hold.shelterID }
            mayNeedBed.insert(caseID)
            actions.append(
                .bedReleased(
                    caseID: caseID, shelterID: hold.shelterID, bedType: held.bed, beds: held.beds, release: reason))
        }
        return actions
    }

    /// A closed case's holds (kept until admission or expiry), from the shelters.
    func holdLookup(_ caseID: UUID) -> [BedHold] {
        shelters.compactMap { shelter in
            shelter.holds[caseID].map { BedHold(shelterID: shelter.id, bed: $0.bed, beds: $0.beds) }
        }
    }

    // MARK: - Case lifecycle

    /// Moves an assigned case along with its unit's report.
    mutating func advance(
        _ caseID: UUID, unit: Int, with update: UnitUpdate, at time: DispatchInstant
    ) -> [DispatchAction] {
        guard let state = cases[caseID] else {
            units[unit].assignment = nil
            return []
        }
        let from = state.phase.status
        let unitID = units[unit].id
        func move(_ phase: CasePhase, _ detail: String) -> [DispatchAction] {
            cases[caseID]?.phase = phase
            mayNeedBed.insert(caseID)
            return phase.status == from
                ? [] : [.phaseChanged(caseID: caseID, from: from, to: phase.status, detail: detail)]
        }
        // The crew's note, when it sent one, goes with what it reported.
        let noted = update.note.map { " (crew's note: \($0))" } ?? ""
        switch update.status {
        case .enRoute:
            return move(.enRoute(unitID: unitID), "unit \(unitID) acknowledged" + noted)
        case .onScene:
            return move(.onScene(unitID: unitID), "unit \(unitID) on scene" + noted)
        case .transporting:
            return move(.transporting(unitID: unitID), "unit \(unitID) transporting" + noted)
        case .available, .returning, .offDuty:
            if let resolution = update.resolution, state.referralPending {
                // The crew's part is done; the child's case waits for the referral's decision (a
                // night in a shelter is temporary until then: the hold stays).
                units[unit].assignment = nil
                cases[caseID]?.crewResolution = resolution
                return move(
                    .awaitingResolution,
                    "unit \(unitID) left as \(resolution.rawValue); the case waits for its referral's decision")
                    + [.crewResolution(caseID: caseID, resolution: resolution)]
            }
            if let resolution = update.resolution {
                return finish(
                    caseID, as: .resolved(resolution),
                    detail: "closed by unit \(unitID) as \(resolution.rawValue)" + noted)
            }
            units[unit].assignment = nil
            switch state.phase {
            case .assigned, .enRoute:
                // The crew dropped the case before reaching the person: find another unit.
                return dispatch(
                    caseID, kind: .reassign, excluding: unitID, at: time, from: from,
                    reasonPrefix: "unit \(unitID) became \(update.status.rawValue) before reaching the person")
            default:
                return move(.awaitingResolution, "unit \(unitID) left the scene without a resolution")
            }
        }
    }

    /// The receiving body decided a child's referral: the case may close now, and does if its crew
    /// already left with a resolution.
    public mutating func referralDecided(_ caseID: UUID, at time: DispatchInstant) -> [DispatchAction] {
        referralDeadlines[caseID] = nil
        guard var state = cases[caseID], state.referralPending else { return [] }
        state.referralPending = false
        cases[caseID] = state
        guard case .awaitingResolution = state.phase, let resolution = state.crewResolution else { return [] }
        return finish(
            caseID, as: .resolved(resolution),
            detail: "closed as \(resolution.rawValue) once its referral was decided")
    }

    /// Ends a case: frees its unit, settles its bed, opens a follow-up for unmet demand.
    mutating func finish(_ caseID: UUID, as phase: CasePhase, detail: String) -> [DispatchAction] {
        guard let state = cases[caseID] else { return [] }
        if let unitID = state.phase.unitID, let unit = unitIndex[unitID], units[unit].assignment == caseID {
            units[unit].assignment = nil
        }
        removeFromWaiting(caseID)
        // A cancelled case's referral is no longer this dispatcher's to watch (a restored zone has
        // open cases only).
        referralDeadlines[caseID] = nil
        var actions: [DispatchAction] = [
            .phaseChanged(caseID: caseID, from: state.phase.status, to: phase.status, detail: detail)
        ]
        if case .resolved(let resolution) = phase {
            actions.append(.resolution(caseID: caseID, resolution: resolution))
            // A person taken to a shelter keeps the hold until the shelter reports the admission
            // (or the hold expires); otherwise the bed goes back at once.
            if resolution != .sheltered { actions += releaseHold(of: caseID, reason: .caseEnded(resolution)) }
            if resolution.isUnmetDemand { actions.append(.followUp(caseID: caseID, resolution: resolution)) }
        } else {
            actions += releaseHold(of: caseID, reason: .caseCancelled)
        }
        finishedZones[caseID] = state.triaged.zone
        cases.removeValue(forKey: caseID)
        return actions
    }

    mutating func enqueue(_ caseID: UUID, at time: DispatchInstant) {
        guard var state = cases[caseID] else { return }
        if case .queued = state.phase {} else { state.phase = .queued(since: time.monotonic) }
        cases[caseID] = state
        removeFromWaiting(caseID)
        waiting.insert(caseID, at: waitingPosition(after: queueOrder(caseID)))
    }

    mutating func removeFromWaiting(_ caseID: UUID) {
        // The queue is sorted by `queueOrder` and a waiting case's key does not change: a binary
        // search finds it. A case already forgotten has no key: scan for it.
        guard cases[caseID] != nil else {
            if let index = waiting.firstIndex(of: caseID) { waiting.remove(at: index) }
            return
        }
        let index = waitingPosition(before: queueOrder(caseID))
        if index < waiting.endIndex, waiting[index] == caseID { waiting.remove(at: index) }
    }

    /// The first position in the waiting queue whose key is greater than `key` (binary search).
    func waitingPosition(after key: QueueKey) -> Int {
        var low = 0
        var high = waiting.count
        while low < high {
            let middle = (low + high) / 2
            if queueOrder(waiting[middle]) > key { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The first position in the waiting queue whose key is not less than `key` (binary search).
    func waitingPosition(before key: QueueKey) -> Int {
        var low = 0
        var high = waiting.count
        while low < high {
            let middle = (low + high) / 2
            if queueOrder(waiting[middle]) < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Waiting order: most urgent, then received first, then id (for determinism).
    func queueOrder(_ caseID: UUID) -> QueueKey {
        guard let state = cases[caseID] else { return QueueKey(priority: 9, received: 0, id: caseID.orderKey) }
        return QueueKey(
            priority: state.triaged.triage.priority.rawValue,
            received: state.triaged.receivedAt.timeIntervalSince1970, id: caseID.orderKey)
    }

    /// Hold order: more urgent and older holds are kept first.
    func holdOrder(_ caseID: UUID) -> QueueKey { queueOrder(caseID) }

    struct QueueKey: Comparable {
        var priority: Int
        var received: Double
        var id: UUID.OrderKey

        static func < (lhs: QueueKey, rhs: QueueKey) -> Bool {
            (lhs.priority, lhs.received, lhs.id.high, lhs.id.low) < (
                rhs.priority, rhs.received, rhs.id.high, rhs.id.low
            )
        }

        static func == (lhs: QueueKey, rhs: QueueKey) -> Bool {
            lhs.priority == rhs.priority && lhs.received == rhs.received && lhs.id == rhs.id
        }
    }

    // MARK: - Records and geometry

    mutating func record(
        _ caseID: UUID, kind: DecisionRecord.Kind, unit: String?, travel: Double?, shelter: String?,
        candidates: [Candidate], candidateCount: Int, shelterCandidates: [Candidate], joint: Bool, reason: String,
        operatorID: String?, operatorReason: String?, at time: DispatchInstant
    ) -> DecisionRecord {
        let state = cases[caseID]!
        cases[caseID]?.decisions += 1
        return DecisionRecord(
            decisionID: Self.decisionID(caseID, state.decisions + 1), caseID: caseID, zone: state.triaged.zone,
            kind: kind, priority: state.triaged.triage.priority, unitID: unit, unitTravelSeconds: travel,
            shelterID: shelter, bedType: state.triaged.triage.bedType, unitCandidates: candidates,
            unitCandidateCount: candidateCount, shelterCandidates: shelterCandidates,
            rulesVersion: state.triaged.triage.rulesVersion, reason: reason, operatorID: operatorID,
            operatorReason: operatorReason, at: time.wall, joint: joint)
    }

    /// The id of a case's n-th decision, derived from the case id and n (stable, so a replayed
    /// event yields the same decision id).
    static func decisionID(_ caseID: UUID, _ number: Int) -> UUID {
        UUID(derivedFrom: caseID, UInt32(truncatingIfNeeded: number))
    }

    /// Local flat-earth projection in kilometres (equirectangular around the zone's latitude):
    /// within a zone's ~100 km its error is far below the error of "30 km/h in town".
    mutating func project(_ point: GeoPoint) -> (Double, Double) {
        if referenceLatitude == nil { referenceLatitude = point.latitude }
        let kilometresPerDegree = 111.19492664
        let x = point.longitude * kilometresPerDegree * cos(referenceLatitude! * .pi / 180)
        return (x, point.latitude * kilometresPerDegree)
    }

    func travelSeconds(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> Double {
        let dx = x1 - x2
        let dy = y1 - y2
        return (dx * dx + dy * dy).squareRoot() / configuration.unitSpeedKilometresPerHour * 3600
    }
}

extension ZoneDispatcher.CaseState {
    var triage: TriageDecision { triaged.triage }
}

extension BedType {
    /// Position in `BedType.allCases`, for per-type arrays.
    var index: Int {
        switch self {
        case .men: 0
        case .women: 1
        case .womenWithChildren: 2
        case .minors: 3
        case .elderly: 4
        }
    }
}

/// Crew skills as a bit set: subset tests in one instruction on the hot path.
struct SkillMask: Sendable, Equatable {
    var bits: UInt16

    init(_ skills: Set<CrewSkill>) {
        var bits: UInt16 = 0
        for skill in skills { bits |= 1 << UInt16(CrewSkill.allCases.firstIndex(of: skill)!) }
        self.bits = bits
    }

    init(bits: UInt16) { self.bits = bits }

    func contains(_ other: SkillMask) -> Bool { bits & other.bits == other.bits }
    func intersection(_ other: SkillMask) -> SkillMask { SkillMask(bits: bits & other.bits) }
    var count: Int { bits.nonzeroBitCount }
}

/// A case as PostgreSQL holds it, for a worker that takes a zone over.
public struct RestoredCase: Sendable {
    public var triaged: TriagedCase
    /// The stored status: `triaged`, `queued`, `assigned`, `acknowledged`, `on_scene`,
    /// `transporting` or `awaiting_resolution` (any other restores as queued).
    public var status: CaseStatus
    public var unitID: String?
    /// The beds held for the case (several shelters when a family was split).
    public var holds: [BedHold]
    /// Decisions already taken for the case (new decision ids continue after them).
    public var decisions: Int
    /// The operator holding the case on the console.
    public var claimedBy: String?
    /// A child's referral not decided yet (the case does not close).
    public var referralPending: Bool
    /// The crew's resolution of a child's case waiting for its referral's decision.
    public var crewResolution: Resolution?
    /// When the child's referral is due to be acknowledged, if it is still open and was not
    /// escalated yet (a past deadline escalates at the first tick).
    public var referralDue: Date?
    /// When the case's last decision was taken (queued, assigned): a queued case has waited, and an
    /// assignment's acknowledgement delay has run, since then, not since the restore.
    public var decidedAt: Date?
    /// When its beds were held: a hold runs out its own time, not a new one.
    public var heldAt: Date?
    /// Escalated already: never twice.
    public var escalated: Bool

    public init(
        triaged: TriagedCase, status: CaseStatus, unitID: String?, holds: [BedHold],
        decisions: Int,
        claimedBy: String? = nil, referralPending: Bool = false, crewResolution: Resolution? = nil,
        referralDue: Date? = nil, decidedAt: Date? = nil, heldAt: Date? = nil, escalated: Bool = false
    ) {
        self.decidedAt = decidedAt
        self.heldAt = heldAt
        self.escalated = escalated
        self.referralDue = referralDue
        self.crewResolution = crewResolution
        self.referralPending = referralPending
        self.triaged = triaged
        self.status = status
        self.unitID = unitID
        self.holds = holds
        self.decisions = decisions
        self.claimedBy = claimedBy
    }
}

extension ZoneDispatcher {
    /// Rebuilds the zone from stored state: the latest report of each unit and shelter, the open
    /// cases with their unit and held bed, the queue. Timers go on from the stored times (a queued
    /// case has waited since it was queued, an assignment's acknowledgement delay and a hold run
    /// from when they were made; an escalated case is not escalated again), so that reloading a
    /// zone (a takeover, a write refused) never restarts them; without a stored time, from `time`.
    public mutating func restore(
        units restoredUnits: [UnitUpdate], shelters restoredShelters: [BedUpdate], cases restoredCases: [RestoredCase],
        exchanges: [AidExchange] = [], at time: DispatchInstant
    ) {
        for update in restoredUnits { _ = apply(update, at: time) }
        for update in restoredShelters { _ = apply(update, at: time) }
        restoreAid(
            exchanges,
            locations: Dictionary(restoredCases.map { ($0.triaged.caseID, $0.triaged.location) }) { a, _ in a },
            at: time)
        for restored in restoredCases.sorted(by: { queueKeyOf($0) < queueKeyOf($1) }) {
            let caseID = restored.triaged.caseID
            let (x, y) = project(restored.triaged.location)
            var phase: CasePhase
            // How long ago (on the wall clock, never negative) a stored time was: the same span
            // before `time` on the monotonic clock the timers use.
            func elapsed(since date: Date?) -> Duration {
                guard let date else { return .zero }
                return .milliseconds(Int64(max(0, time.wall.timeIntervalSince(date)) * 1000))
            }
            let decided = elapsed(since: restored.decidedAt)
            let unit = restored.unitID.flatMap { unitIndex[$0] }.flatMap { units[$0].assignment == nil ? $0 : nil }
            switch (restored.status, unit) {
            case (.assigned, let unit?):
                phase = .assigned(
                    unitID: units[unit].id,
                    acknowledgeBy: time.monotonic + max(.zero, configuration.acknowledgementTimeout - decided))
            case (.acknowledged, let unit?): phase = .enRoute(unitID: units[unit].id)
            case (.onScene, let unit?): phase = .onScene(unitID: units[unit].id)
            case (.transporting, let unit?): phase = .transporting(unitID: units[unit].id)
            case (.awaitingResolution, _): phase = .awaitingResolution
            case (.queued, _): phase = .queued(since: time.monotonic - decided)
            default: phase = .queued(since: time.monotonic)
            }
            if let unitID = phase.unitID, let index = unitIndex[unitID] { units[index].assignment = caseID }
            cases[caseID] = CaseState(
                triaged: Self.kept(restored.triaged), x: x, y: y,
                skills: SkillMask(restored.triaged.triage.requiredSkills),
                preferred: SkillMask(restored.triaged.triage.preferredSkills), phase: phase,
                decisions: restored.decisions, holds: [], escalated: restored.escalated, claimedBy: restored.claimedBy,
                referralPending: restored.referralPending,
                crewResolution: phase == .awaitingResolution ? restored.crewResolution : nil)
            if case .queued = phase { waiting.append(caseID) }
            mayNeedBed.insert(caseID)
            if let due = restored.referralDue, let destination = restored.triaged.triage.referral?.destination {
                let left = max(0, due.timeIntervalSince(time.wall))
                referralDeadlines[caseID] = (time.monotonic + .milliseconds(Int64(left * 1000)), destination)
            }
            for hold in restored.holds {
                guard let shelter = shelterIndex[hold.shelterID], shelters[shelter].free(hold.bed) >= hold.beds else {
                    continue
                }
                _ = holdBed(
                    for: caseID, at: shelter, beds: hold.beds,
                    until: time.monotonic + max(.zero, configuration.bedHoldDuration - elapsed(since: restored.heldAt)))
            }
        }
    }

    private func queueKeyOf(_ restored: RestoredCase) -> QueueKey {
        QueueKey(
            priority: restored.triaged.triage.priority.rawValue,
            received: restored.triaged.receivedAt.timeIntervalSince1970, id: restored.triaged.caseID.orderKey)
    }
}

extension UUID {
    /// The id's 128 bits as two big-endian integers: the same order as the canonical text form,
    /// without formatting it (`uuidString` goes through `sprintf`).
    struct OrderKey: Comparable, Hashable {
        var high: UInt64
        var low: UInt64

        static func < (lhs: OrderKey, rhs: OrderKey) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
    }

    var orderKey: OrderKey {
        unsafe withUnsafeBytes(of: uuid) { bytes in
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 { high = unsafe high << 8 | UInt64(bytes[index]) }
            for index in 8..<16 { low = unsafe low << 8 | UInt64(bytes[index]) }
            return OrderKey(high: high, low: low)
        }
    }
}
