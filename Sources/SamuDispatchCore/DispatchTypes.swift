import Foundation
import SamuModel

/// The time a dispatcher is given: wall time for records, monotonic time for timers (a wall-clock
/// jump never expires a hold early or late).
public struct DispatchInstant: Sendable, Equatable {
    public var wall: Date
    /// Time since an arbitrary origin that never goes backwards.
    public var monotonic: Duration

    public init(wall: Date, monotonic: Duration) {
        self.wall = wall
        self.monotonic = monotonic
    }
}

/// Settings of a zone's dispatcher.
public struct DispatchConfiguration: Sendable, Equatable {
    /// Average speed of a unit in town, to turn distances into travel times.
    public var unitSpeedKilometresPerHour: Double = 30
    /// How long a crew has to acknowledge an assignment before the case goes to another unit.
    public var acknowledgementTimeout: Duration = .seconds(90)
    /// How long a bed stays held for a case before it is released.
    public var bedHoldDuration: Duration = .seconds(45 * 60)
    /// Waiting longer than this in the queue escalates the case and asks neighbour zones for help.
    public var escalationAfter: [Priority: Duration] = [.p1: .seconds(10 * 60), .p2: .seconds(30 * 60)]
    /// Areas that mutual-aid requests go to, nearest first.
    public var neighbours: [String] = []
    /// How long a mutual-aid request waits for an offer (and an accepted offer for its
    /// confirmation), and how long a lender holds an offered unit.
    public var aidTimeout: Duration = .seconds(30)
    /// A zone of each declared dispatch area (an area in no declaration is its own zone): the
    /// `zone` of a mutual-aid message to that area.
    public var areaZones: [String: String] = [:]
    /// A preferred skill (a language) is worth this much travel time.
    public var preferredSkillBonusSeconds: Double = 120
    /// How many candidates a decision record keeps (the best ones), besides their total count.
    public var candidatesRecorded = 8

    public init() {}
}

/// Where a case stands in its zone.
public enum CasePhase: Sendable, Equatable {
    case queued(since: Duration)
    case assigned(unitID: String, acknowledgeBy: Duration)
    case enRoute(unitID: String)
    case onScene(unitID: String)
    case transporting(unitID: String)
    /// The crew has left; an operator records how it ended.
    case awaitingResolution
    case resolved(Resolution)
    case cancelled

    /// The status this phase is stored and published as.
    public var status: CaseStatus {
        switch self {
        case .queued: .queued
        case .assigned: .assigned
        case .enRoute: .acknowledged
        case .onScene: .onScene
        case .transporting: .transporting
        case .awaitingResolution: .awaitingResolution
        case .resolved: .resolved
        case .cancelled: .cancelled
        }
    }

    /// A case with a unit on its way or on scene gets a bed held for it.
    var needsBed: Bool {
        switch self {
        case .assigned, .enRoute, .onScene: true
        default: false
        }
    }

    public var isTerminal: Bool {
        switch self {
        case .resolved, .cancelled: true
        default: false
        }
    }

    public var unitID: String? {
        switch self {
        case .assigned(let unit, _), .enRoute(let unit), .onScene(let unit), .transporting(let unit): unit
        default: nil
        }
    }
}

/// One candidate a decision looked at.
public struct Candidate: Sendable, Equatable {
    public var id: String
    /// Travel time (units: to the person; shelters: from the person), seconds.
    public var travelSeconds: Double
    /// Lower is better: travel time minus the bonus for preferred skills.
    public var score: Double
}

/// Why a case got this unit and this bed: every decision is recorded with what it considered.
public struct DecisionRecord: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case assign
        case reassign
        case queue
        case override
    }

    public var decisionID: UUID
    public var caseID: UUID
    public var zone: String
    public var kind: Kind
    public var priority: Priority
    public var unitID: String?
    public var unitTravelSeconds: Double?
    public var shelterID: String?
    public var bedType: BedType
    public var unitCandidates: [Candidate]
    public var unitCandidateCount: Int
    public var shelterCandidates: [Candidate]
    public var rulesVersion: String
    public var reason: String
    public var operatorID: String?
    public var operatorReason: String?
    public var at: Date
    /// Whether the decision was taken jointly for several waiting cases.
    public var joint: Bool
}

/// Why a held bed was given back: the ledger's entry follows from it, never from its wording.
public enum BedRelease: Sendable, Equatable {
    /// The hold ran out before the person arrived.
    case holdExpired
    /// The shelter reported it has no bed of that type left.
    case shelterFull
    /// The case ended some other way than in that shelter.
    case caseEnded(Resolution)
    case caseCancelled
    /// The shelter will not take the person (its reason).
    case declined(String)
    /// An operator chose another bed type or shelter for the case.
    case operatorChoice

    /// The bed-ledger entry it makes.
    public var ledgerAction: BedLedgerAction { self == .holdExpired ? .expire : .release }

    /// In a few words, for the ledger, the timeline and the outcome event.
    public var reason: String {
        switch self {
        case .holdExpired: "hold expired"
        case .shelterFull: "shelter full"
        case .caseEnded(let resolution): "case \(resolution.rawValue)"
        case .caseCancelled: "case cancelled"
        case .declined(let reason): "declined by the shelter: \(reason)"
        case .operatorChoice: "an operator chose another bed"
        }
    }
}

/// What the dispatcher wants done, in order: persist, publish, notify.
public enum DispatchAction: Sendable, Equatable {
    case decided(DecisionRecord)
    /// A case changed phase; `detail` says why in a few words.
    case phaseChanged(caseID: UUID, from: CaseStatus, to: CaseStatus, detail: String)
    /// `beds` beds (one per person) held at a shelter for a case.
    case bedHeld(caseID: UUID, shelterID: String, bedType: BedType, beds: Int, until: Duration)
    case bedReleased(caseID: UUID, shelterID: String, bedType: BedType, beds: Int, release: BedRelease)
    case bedOccupied(caseID: UUID, shelterID: String, bedType: BedType, beds: Int)
    case escalated(caseID: UUID, waited: Duration)
    case mutualAidRequested(caseID: UUID, zones: [String])
    /// How a case ended (follows its `phaseChanged` to `resolved`).
    case resolution(caseID: UUID, resolution: Resolution)
    /// What the crew reported when it left a child whose referral is pending: stored with the case
    /// (which stays open) so that a worker taking the zone over closes it so once decided.
    case crewResolution(caseID: UUID, resolution: Resolution)
    /// Follow-up for a person left without help tonight (refused, not found, no bed).
    case followUp(caseID: UUID, resolution: Resolution)
    /// A case closed as sheltered whose person the shelter then would not take (declined, or a
    /// no-show): the crew has left, so someone must find the person again tonight.
    case turnedAway(caseID: UUID, shelterID: String, reason: String)
    case notify(caseID: UUID, authority: Authority)
    /// A child's referral passed its deadline unacknowledged: escalated to the zone's supervisors.
    case referralLate(caseID: UUID, destination: ReferralDestination, dueAt: Date)
    /// The case's priority changed, recorded as an override decision (the new priority, who and
    /// why): an operator's override, or another call about the person that made it more urgent
    /// (`reportID`). The unit and the beds are unchanged.
    case priorityChanged(DecisionRecord, from: Priority, reportID: UUID?)
    /// An operator chose the case's bed type (and shelter: the record's `shelterID`), recorded as
    /// an override decision; the releases and holds it made follow it.
    case bedChosen(DecisionRecord, from: BedType)
    /// An input that could not be applied, and why (stale version, unknown case, illegal move).
    case rejected(reason: String)
    /// A mutual-aid message to send to another area's worker (through the outbox).
    case aid(AidMessage)
    /// This side's state of a mutual-aid exchange changed (persisted for a takeover).
    case aidExchange(AidExchange)

    /// The case the action is about, if any.
    public var caseID: UUID? {
        switch self {
        case .decided(let record), .priorityChanged(let record, _, _), .bedChosen(let record, _): record.caseID
        case .phaseChanged(let caseID, _, _, _), .bedHeld(let caseID, _, _, _, _),
            .bedReleased(let caseID, _, _, _, _), .bedOccupied(let caseID, _, _, _), .escalated(let caseID, _),
            .mutualAidRequested(let caseID, _), .resolution(let caseID, _), .followUp(let caseID, _),
            .turnedAway(let caseID, _, _),
            .crewResolution(let caseID, _), .referralLate(let caseID, _, _),
            .notify(let caseID, _):
            caseID
        case .aid(let message): message.caseID
        case .aidExchange(let exchange): exchange.caseID
        case .rejected: nil
        }
    }
}
