import Foundation

/// A WGS 84 position.
public struct GeoPoint: Sendable, Equatable, Hashable, Codable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    static let earthRadiusKilometres = 6371.0088

    /// The latitudes and longitudes the topics' schemas accept for a position: Morocco with its
    /// southern provinces, and a margin.
    public static let servedLatitudes = 20.5...36.0
    public static let servedLongitudes = -17.5 ... -0.9

    /// Whether the point lies in the area the topics accept (false for NaN).
    public var isServed: Bool {
        Self.servedLatitudes.contains(latitude) && Self.servedLongitudes.contains(longitude)
    }

    /// Great-circle distance (haversine): exact on the sphere, the baseline the benchmark compares with.
    public func haversineKilometres(to other: GeoPoint) -> Double {
        let φ1 = latitude * .pi / 180
        let φ2 = other.latitude * .pi / 180
        let Δφ = φ2 - φ1
        let Δλ = (other.longitude - longitude) * .pi / 180
        let a = sin(Δφ / 2) * sin(Δφ / 2) + cos(φ1) * cos(φ2) * sin(Δλ / 2) * sin(Δλ / 2)
        return 2 * Self.earthRadiusKilometres * asin(min(1, sqrt(a)))
    }
}

/// What a mobile unit is doing, as its crew reports it (`samu.units.v1`).
public enum UnitStatus: String, Sendable, CaseIterable, Codable {
    case available
    case enRoute = "en_route"
    case onScene = "on_scene"
    case transporting
    case returning
    case offDuty = "off_duty"

    /// Free to take a new case now.
    public var isFree: Bool { self == .available || self == .returning }
}

/// Where a case stands: the `status` of the `cases` table, of the timeline's transitions and of
/// outcome events. The table's check constraint is generated from these cases (migration 12); a
/// new status needs a new migration that generates it again.
public enum CaseStatus: String, Sendable, CaseIterable, Codable {
    /// Reported; not triaged yet.
    case received
    /// Triaged; not dispatched yet.
    case triaged
    /// Waiting for a free unit (or for a bed).
    case queued
    /// A unit was assigned and has not acknowledged yet.
    case assigned
    /// The crew acknowledged and is on its way.
    case acknowledged
    case onScene = "on_scene"
    /// The crew takes the person somewhere (a shelter, a hospital).
    case transporting
    /// The crew has left; an operator records how it ended.
    case awaitingResolution = "awaiting_resolution"
    /// Ended, with a ``Resolution``.
    case resolved
    /// Closed by an operator.
    case closed
    case cancelled
    /// Waited past its priority's limit: raised to a supervisor.
    case escalated
    /// Its unit was replaced.
    case reassigned

    /// A case in these states is over: not on the board, no timers, no unit.
    public static let finished: [CaseStatus] = [.resolved, .closed, .cancelled]

    public var isFinished: Bool { Self.finished.contains(self) }

    /// States in which the case keeps its unit.
    public var keepsUnit: Bool {
        self == .assigned || self == .acknowledged || self == .onScene || self == .transporting
    }
}

/// A case-timeline entry that is not a move to a ``CaseStatus`` (`case_timeline.status`).
public enum TimelineEntryKind: String, Sendable, CaseIterable, Codable {
    case mutualAidRequested = "mutual_aid_requested"
    case followUp = "follow_up"
    case notified
    /// An operator's command, applied or rejected (who, what, why).
    case operatorCommand = "operator_command"
    /// A step of the person's social path recorded by a social worker or an operator.
    case socialStep = "social_step"
    /// Somebody took the case's follow-up task.
    case followUpTaken = "follow_up_taken"
    /// The case's follow-up task was done (by whom, with what note).
    case followUpDone = "follow_up_done"
    /// A re-visit found the person refusing help again, or not at all: the task comes back the
    /// next night (``VisitOutcome``).
    case followUpVisit = "follow_up_visit"
    /// A child-protection referral was opened (to whom, due when).
    case referralOpened = "referral_opened"
    /// The receiving body acknowledged the referral.
    case referralAcknowledged = "referral_acknowledged"
    /// The receiving body decided (what, with what note).
    case referralDecided = "referral_decided"
    /// The referral passed its deadline unacknowledged: escalated to the zone's supervisors.
    case referralLate = "referral_late"
    /// A shelter declined the person (which shelter, why); samu looks for another bed.
    case shelterDeclined = "shelter_declined"
    /// An operator changed the case's priority (from, to, who, why).
    case priorityChanged = "priority_changed"
    /// An operator chose the case's bed type or shelter (from, to, which shelter, who, why).
    case bedChosen = "bed_chosen"
    /// Another call about the same person was added to the case (its report id, who linked it).
    case reportLinked = "report_linked"
    /// A call linked to a case that could not take it (closed, unknown, another area's) opened a
    /// case of its own: why, on that new case.
    case linkRefused = "link_refused"
    /// A mutual-aid message this area's worker sent about the case (request, offer, accept,
    /// confirm, withdraw, a lent crew's status): recorded by the requester's and the lender's workers.
    case mutualAid = "mutual_aid"
}

/// Entraide Nationale's steps for every beneficiary, after the emergency: reception, listening,
/// diagnosis, orientation, follow-up (docs/domain.md; الاستقبال، الإنصات، التشخيص، التوجيه، التتبع).
public enum SocialStep: String, Sendable, CaseIterable, Codable {
    case reception
    case listening
    case diagnosis
    case orientation
    case followUp = "follow_up"
}

/// What a bed-ledger entry records (`bed_ledger.action`).
public enum BedLedgerAction: String, Sendable, CaseIterable, Codable {
    /// A bed held for a case whose unit is on its way.
    case hold
    /// A held bed given back (the case ended elsewhere, the shelter is full, cancelled).
    case release
    /// A held bed whose hold ran out.
    case expire
    /// The person was admitted: the held bed is occupied.
    case admit
}

/// How a case ended (docs/dispatch.md).
public enum Resolution: String, Sendable, CaseIterable, Codable {
    case sheltered
    case hospital = "taken_to_hospital"
    case referredChildProtection = "referred_child_protection"
    case referredPolice = "referred_police"
    case referredFamily = "referred_family"
    case helpRefused = "help_refused"
    case personNotFound = "person_not_found"
    case noBedTonight = "no_bed_tonight"
    /// The crew found the person dead (the police and the prosecutor take over; no bed).
    case deceased

    /// Resolutions that leave a person without help tonight: they open a follow-up task and count
    /// as unmet demand.
    public var isUnmetDemand: Bool { self == .helpRefused || self == .personNotFound || self == .noBedTonight }

    /// The task a case that ended this way leaves (``isUnmetDemand`` ones only): help refused or a
    /// person not found is a street re-visit the next night (20:00, Morocco's time), as the SAMU
    /// social's night rounds go back to the people who said no; a night without a bed is a day
    /// team's follow-up the next morning (09:00) to find a place. A design assumption: the
    /// sources describe follow-up as a step, not its timing.
    public func followUp(endedAt: Date) -> FollowUpTask? {
        guard isUnmetDemand else { return nil }
        switch self {
        case .helpRefused, .personNotFound:
            return FollowUpTask(kind: .revisit, due: FollowUpTask.next(hour: 20, after: endedAt))
        default:
            return FollowUpTask(kind: .followUp, due: FollowUpTask.next(hour: 9, after: endedAt))
        }
    }
}

/// Morocco's civil time (the tz database's Africa/Casablanca: UTC+1, UTC+0 during Ramadan),
/// computed on the server: some browsers' time-zone data put Casablanca at UTC+0 outside Ramadan
/// (Debian's Chromium 156 shows 19:00 for 20:00 in December 2026), so pages show these strings.
public enum MoroccoTime {
    public static let timeZone = TimeZone(identifier: "Africa/Casablanca") ?? TimeZone(secondsFromGMT: 3600)!

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }()

    /// `2026-12-06 20:00`: the date and time in Morocco.
    public static func format(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
            parts.minute ?? 0)
    }
}

/// What a follow-up's visit found (`samu.commands.v1` version 3, `visit_outcome`).
public enum VisitOutcome: String, Sendable, CaseIterable, Codable {
    /// The task is done: the person was helped, or there is nothing more to do (the note says).
    case done
    /// The person refused help again: the re-visit comes back the next night, one more refusal.
    case helpRefused = "help_refused"
    /// Nobody was found: the re-visit comes back the next night.
    case personNotFound = "person_not_found"

    /// When the task comes back after a visit that ended this way at `time` (nil: it is done):
    /// the next night's round, 20:00 in Morocco, like the first re-visit.
    public func nextVisit(after time: Date) -> Date? {
        self == .done ? nil : FollowUpTask.next(hour: 20, after: time)
    }
}

/// A task a case leaves for later (`follow_ups`): its kind and when it is due.
public struct FollowUpTask: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// A night team goes back to the place (help refused, person not found).
        case revisit
        /// A day team follows the person up (a night without a bed).
        case followUp = "follow_up"
    }

    public var kind: Kind
    public var due: Date

    public init(kind: Kind, due: Date) {
        self.kind = kind
        self.due = due
    }

    static let calendar = MoroccoTime.calendar

    /// The first `hour`:00 in Morocco strictly after `date`.
    static func next(hour: Int, after date: Date) -> Date {
        calendar.nextDate(
            after: date, matching: DateComponents(hour: hour, minute: 0, second: 0), matchingPolicy: .nextTime)
            ?? date.addingTimeInterval(86_400)
    }
}

/// A case ready for dispatch: where the person is and what triage decided.
public struct TriagedCase: Sendable, Equatable {
    public var caseID: UUID
    public var reportID: UUID
    public var zone: String
    public var location: GeoPoint
    public var category: BeneficiaryCategory
    public var triage: TriageDecision
    public var receivedAt: Date

    public init(
        caseID: UUID, reportID: UUID, zone: String, location: GeoPoint, category: BeneficiaryCategory,
        triage: TriageDecision, receivedAt: Date
    ) {
        self.caseID = caseID
        self.reportID = reportID
        self.zone = zone
        self.location = location
        self.category = category
        self.triage = triage
        self.receivedAt = receivedAt
    }
}

/// A mobile unit's report of itself (`samu.units.v1`).
public struct UnitUpdate: Sendable, Equatable {
    public var unitID: String
    /// Increases with every report of this unit; older versions are ignored.
    public var version: Int64
    public var status: UnitStatus
    public var position: GeoPoint
    /// The crew's skills, when they changed (start of shift); nil keeps the known ones.
    public var skills: Set<CrewSkill>?
    /// The case the crew is working on, when the status is about one.
    public var caseID: UUID?
    /// How the crew closed the case, when it reports one.
    public var resolution: Resolution?
    public var shelterID: String?
    /// The crew's short note with the status (version 2 of `samu.units.v1`), for the timeline.
    public var note: String?
    /// A position alone (version 3): the unit keeps the status it has, whatever `status` says (what
    /// the sender last knew, maybe from before the crew's last action).
    public var positionOnly: Bool

    public init(
        unitID: String, version: Int64, status: UnitStatus, position: GeoPoint, skills: Set<CrewSkill>? = nil,
        caseID: UUID? = nil, resolution: Resolution? = nil, shelterID: String? = nil, note: String? = nil,
        positionOnly: Bool = false
    ) {
        self.note = note
        self.positionOnly = positionOnly
        self.unitID = unitID
        self.version = version
        self.status = status
        self.position = position
        self.skills = skills
        self.caseID = caseID
        self.resolution = resolution
        self.shelterID = shelterID
    }
}

/// Beds of one type at a shelter.
public struct BedCount: Sendable, Equatable, Codable {
    public var capacity: Int
    public var occupied: Int

    public init(capacity: Int, occupied: Int) {
        self.capacity = capacity
        self.occupied = occupied
    }
}

/// A shelter's report of its beds (`samu.beds.v1`): the full counts by type, and which case was
/// admitted or left, if any.
public struct BedUpdate: Sendable, Equatable {
    public var shelterID: String
    public var version: Int64
    public var position: GeoPoint
    public var beds: [BedType: BedCount]
    public var admittedCase: UUID?
    /// Who the shelter takes in (version 2); nil keeps the profile known.
    public var profile: ShelterProfile?
    /// The case whose person the shelter will not take (version 2), and why: samu looks for
    /// another bed.
    public var declinedCase: UUID?
    public var declineReason: String?
    /// The shelter's zone (the event's), when known: a dispatch area holds shelters of several.
    public var zone: String?

    public init(
        shelterID: String, version: Int64, position: GeoPoint, beds: [BedType: BedCount], admittedCase: UUID? = nil,
        profile: ShelterProfile? = nil, declinedCase: UUID? = nil, declineReason: String? = nil, zone: String? = nil
    ) {
        self.zone = zone
        self.profile = profile
        self.declinedCase = declinedCase
        self.declineReason = declineReason
        self.shelterID = shelterID
        self.version = version
        self.position = position
        self.beds = beds
        self.admittedCase = admittedCase
    }
}

/// An operator's override (`samu.commands.v1`).
public struct OperatorCommand: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Take the case from its unit; give it to `unitID`, or to the best other unit.
        case reassign(unitID: String?)
        case cancel
        case close(Resolution)
        case requestMutualAid
        /// An operator takes the case on the console (no effect on dispatch; recorded).
        case claim
        /// An operator lets the case go on the console (no effect on dispatch; recorded).
        case release
        /// Case work, open or closed case alike (no effect on dispatch): a step of the social path.
        case recordStep(SocialStep)
        /// Case work: the sender takes the case's follow-up task.
        case takeFollowUp
        /// Case work: a visit or follow-up was made; the reason is its note. Done, the task ends;
        /// the person refusing again or not found, it comes back the next night.
        case completeFollowUp(VisitOutcome)
        /// Case work: the receiving body has the child's referral.
        case acknowledgeReferral
        /// Case work: the receiving body's decision for the child; the reason is its note.
        case decideReferral(ReferralDecision)
        /// The operator overrides triage's priority (schema version 4): a waiting case takes its
        /// new place in the queue.
        case setPriority(Priority)
        /// The operator chooses the case's bed type, and the shelter if given (schema version 4):
        /// the beds held are given back and held again as chosen.
        case chooseBed(BedType, shelterID: String?)

        /// A child-protection referral's acknowledgement or decision.
        public var isReferral: Bool {
            switch self {
            case .acknowledgeReferral, .decideReferral: true
            default: false
            }
        }

        /// Whether the command is case work, which the worker records without its dispatcher (a
        /// closed case's follow-up included).
        public var isCaseWork: Bool {
            switch self {
            case .recordStep, .takeFollowUp, .completeFollowUp, .acknowledgeReferral, .decideReferral: true
            default: false
            }
        }
    }

    public var caseID: UUID
    public var action: Action
    /// The command's name on `samu.commands.v1`.
    public var name: String {
        switch action {
        case .reassign: "reassign"
        case .cancel: "cancel"
        case .close: "close"
        case .requestMutualAid: "mutual_aid"
        case .claim: "claim"
        case .release: "release"
        case .recordStep: "record_step"
        case .takeFollowUp: "take_follow_up"
        case .completeFollowUp: "complete_follow_up"
        case .acknowledgeReferral: "acknowledge_referral"
        case .decideReferral: "decide_referral"
        case .setPriority: "set_priority"
        case .chooseBed: "choose_bed"
        }
    }
    public var operatorID: String
    public var reason: String
    /// Sent by a supervisor (who may release another operator's claim).
    public var bySupervisor: Bool
    /// Sent by a child-protection body's account (referral commands only).
    public var byChildProtection: Bool

    public init(
        caseID: UUID, action: Action, operatorID: String, reason: String, bySupervisor: Bool = false,
        byChildProtection: Bool = false
    ) {
        self.byChildProtection = byChildProtection
        self.caseID = caseID
        self.action = action
        self.operatorID = operatorID
        self.reason = reason
        self.bySupervisor = bySupervisor
    }
}
