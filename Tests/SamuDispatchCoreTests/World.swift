import Foundation
import SamuModel

@testable import SamuDispatchCore

/// A zone on a test bench: positions in kilometres east/north of Rabat's centre, a manual clock.
struct World {
    var dispatcher: ZoneDispatcher
    var clock: Duration = .zero
    /// How far the wall clock is off (F14: an NTP step, a hand-set clock); timers must not care.
    var wallOffset: TimeInterval = 0
    var log: [DispatchAction] = []
    var versions: [String: Int64] = [:]
    static let origin = Date(timeIntervalSince1970: 1_768_443_000)
    static let centre = GeoPoint(latitude: 34.0209, longitude: -6.8416)

    init(configuration: DispatchConfiguration = DispatchConfiguration()) {
        dispatcher = ZoneDispatcher(zone: "rabat", configuration: configuration)
    }

    var time: DispatchInstant {
        let seconds = Double(clock.components.seconds) + Double(clock.components.attoseconds) / 1e18
        return DispatchInstant(wall: Self.origin.addingTimeInterval(seconds + wallOffset), monotonic: clock)
    }

    static func point(_ east: Double, _ north: Double) -> GeoPoint {
        GeoPoint(
            latitude: centre.latitude + north / 111.19492664,
            longitude: centre.longitude + east / (111.19492664 * cos(centre.latitude * .pi / 180)))
    }

    @discardableResult
    mutating func record(_ actions: [DispatchAction]) -> [DispatchAction] {
        log += actions
        return actions
    }

    @discardableResult
    mutating func unit(
        _ id: String, at east: Double = 0, _ north: Double = 0, skills: Set<CrewSkill> = [],
        status: UnitStatus = .available, caseID: UUID? = nil, resolution: Resolution? = nil, settle: Bool = true
    ) -> [DispatchAction] {
        let version = (versions[id] ?? 0) + 1
        versions[id] = version
        var actions = dispatcher.apply(
            UnitUpdate(
                unitID: id, version: version, status: status, position: Self.point(east, north),
                skills: dispatcher.unitStatus(id) == nil ? skills : nil, caseID: caseID, resolution: resolution),
            at: time)
        if settle { actions += dispatcher.settle(at: time) }
        return record(actions)
    }

    private var shelterVersions: [String: Int64] = [:]

    @discardableResult
    mutating func shelter(
        _ id: String, at east: Double = 0, _ north: Double = 0, beds: [BedType: BedCount], admitted: UUID? = nil,
        profile: ShelterProfile? = nil, declined: UUID? = nil, because reason: String = "no room tonight"
    ) -> [DispatchAction] {
        let version = (shelterVersions[id] ?? 0) + 1
        shelterVersions[id] = version
        var actions = dispatcher.apply(
            BedUpdate(
                shelterID: id, version: version, position: Self.point(east, north), beds: beds, admittedCase: admitted,
                profile: profile, declinedCase: declined, declineReason: declined == nil ? nil : reason),
            at: time)
        actions += dispatcher.settle(at: time)
        return record(actions)
    }

    static func triaged(
        _ id: UUID = UUID(), at east: Double = 0, _ north: Double = 0, priority: Priority = .p2,
        skills: Set<CrewSkill> = [], preferred: Set<CrewSkill> = [], bed: BedType = .men, holdsBed: Bool = true,
        notify: Set<Authority> = [], referral: ReferralPlan? = nil, receivedAt: Date = origin,
        need: ShelterNeed = .single
    ) -> TriagedCase {
        TriagedCase(
            caseID: id, reportID: UUID(), zone: "rabat", location: point(east, north), category: .homelessAdult,
            triage: TriageDecision(
                priority: priority, requiredSkills: skills, preferredSkills: preferred, bedType: bed,
                holdsBed: holdsBed,
                notify: notify, reasons: [], rulesVersion: "test-rules-1", minor: skills.contains(.childProtection),
                referral: referral, shelterNeed: need),
            receivedAt: receivedAt)
    }

    @discardableResult
    mutating func submit(_ triaged: TriagedCase) -> [DispatchAction] {
        record(dispatcher.submit(triaged, at: time))
    }

    @discardableResult
    mutating func command(
        _ caseID: UUID, _ action: OperatorCommand.Action, reason: String = "test", by operatorID: String = "op-1",
        supervisor: Bool = false
    ) -> [DispatchAction] {
        var actions = dispatcher.apply(
            OperatorCommand(
                caseID: caseID, action: action, operatorID: operatorID, reason: reason, bySupervisor: supervisor),
            at: time)
        actions += dispatcher.settle(at: time)
        return record(actions)
    }

    @discardableResult
    mutating func advance(_ duration: Duration) -> [DispatchAction] {
        clock += duration
        return record(dispatcher.tick(at: time))
    }
}

extension [DispatchAction] {
    var decisions: [DecisionRecord] {
        compactMap { if case .decided(let record) = $0 { record } else { nil } }
    }

    var holds: [(UUID, String, BedType)] {
        compactMap {
            if case .bedHeld(let caseID, let shelter, let bed, _, _) = $0 { (caseID, shelter, bed) } else { nil }
        }
    }

    var releases: [(UUID, BedRelease)] {
        compactMap { if case .bedReleased(let caseID, _, _, _, let release) = $0 { (caseID, release) } else { nil } }
    }

    var rejections: [String] {
        compactMap { if case .rejected(let reason) = $0 { reason } else { nil } }
    }
}
