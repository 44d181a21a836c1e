import Foundation
import SamuModel
import Testing

@testable import SamuDispatchCore

/// Mutual aid between two areas' dispatchers, the messages carried between them by hand (the
/// integration test carries them through the broker).
@Suite("Mutual aid between two areas (dispatch core)")
struct MutualAidTests {
    /// Agadir (requester) and Marrakech (lender), 250 km apart; positions in degrees.
    struct Pair {
        var agadir: ZoneDispatcher
        var marrakech: ZoneDispatcher
        var clock: Duration = .zero
        var log: [DispatchAction] = []
        var versions: [String: Int64] = [:]

        init(timeout: Duration = .seconds(30)) {
            var a = DispatchConfiguration()
            a.neighbours = ["marrakech", "essaouira"]
            a.aidTimeout = timeout
            var m = DispatchConfiguration()
            m.neighbours = ["agadir"]
            m.aidTimeout = timeout
            agadir = ZoneDispatcher(zone: "agadir", configuration: a)
            marrakech = ZoneDispatcher(zone: "marrakech", configuration: m)
        }

        var time: DispatchInstant { DispatchInstant(wall: World.origin + clock.seconds, monotonic: clock) }

        static func messages(_ actions: [DispatchAction]) -> [AidMessage] {
            actions.compactMap { if case .aid(let message) = $0 { message } else { nil } }
        }

        /// Delivers messages to their areas until none is left; returns every action taken.
        @discardableResult
        mutating func deliver(_ first: [AidMessage], drop: (AidMessage) -> Bool = { _ in false }) -> [DispatchAction] {
            var queue = first
            var all: [DispatchAction] = []
            while !queue.isEmpty {
                let message = queue.removeFirst()
                if drop(message) { continue }
                var actions: [DispatchAction]
                switch message.toArea {
                case "agadir":
                    actions = agadir.apply(message, at: time)
                    actions += agadir.settle(at: time)
                case "marrakech":
                    actions = marrakech.apply(message, at: time)
                    actions += marrakech.settle(at: time)
                default: continue  // another neighbour, not in this test
                }
                all += actions
                queue += Self.messages(actions)
            }
            log += all
            return all
        }

        mutating func unit(
            _ area: String, _ id: String, at point: GeoPoint, status: UnitStatus = .available,
            skills: Set<CrewSkill> = [.childProtection], caseID: UUID? = nil, resolution: Resolution? = nil
        ) -> [DispatchAction] {
            let version = (versions[id] ?? 0) + 1
            versions[id] = version
            let update = UnitUpdate(
                unitID: id, version: version, status: status, position: point, skills: skills, caseID: caseID,
                resolution: resolution)
            var actions: [DispatchAction]
            if area == "agadir" {
                actions = agadir.apply(update, at: time)
                actions += agadir.settle(at: time)
            } else {
                actions = marrakech.apply(update, at: time)
                actions += marrakech.settle(at: time)
            }
            log += actions
            return actions + deliver(Self.messages(actions))
        }

        /// Time passes on both sides; messages their timers send are delivered unless dropped.
        @discardableResult
        mutating func advance(_ duration: Duration, drop: (AidMessage) -> Bool = { _ in false }) -> [DispatchAction] {
            clock += duration
            let actions = agadir.tick(at: time) + marrakech.tick(at: time)
            log += actions
            return actions + deliver(Self.messages(actions), drop: drop)
        }
    }

    static let agadirCentre = GeoPoint(latitude: 30.4278, longitude: -9.5981)
    static let marrakechCentre = GeoPoint(latitude: 31.6295, longitude: -7.9811)

    static func child(_ id: UUID = UUID(), at point: GeoPoint = agadirCentre, priority: Priority = .p1) -> TriagedCase {
        TriagedCase(
            caseID: id, reportID: UUID(), zone: "agadir-ida-outanane", location: point, category: .childStreetSituation,
            triage: TriageDecision(
                priority: priority, requiredSkills: [.childProtection], bedType: .minors, holdsBed: false, notify: [],
                reasons: [], rulesVersion: "test", minor: true),
            receivedAt: World.origin)
    }

    /// Agadir's only unit is busy; a child waits; Marrakech has a free crew.
    static func waitingChild() -> (Pair, TriagedCase) {
        var pair = Pair()
        _ = pair.unit("agadir", "agadir-u1", at: agadirCentre)
        _ = pair.unit("marrakech", "marrakech-u1", at: marrakechCentre)
        let first = child()
        _ = pair.agadir.submit(first, at: pair.time)  // takes agadir-u1, which goes
        _ = pair.unit("agadir", "agadir-u1", at: agadirCentre, status: .enRoute, caseID: first.caseID)
        let waiting = child()
        _ = pair.agadir.submit(waiting, at: pair.time)
        return (pair, waiting)
    }

    @Test(
        "a P1 waiting past its threshold gets a neighbour's unit: request, offer, accept, confirm, then the crew's statuses"
    )
    func lendAndServe() throws {
        var (pair, waiting) = Self.waitingChild()
        #expect(pair.agadir.phase(of: waiting.caseID) == .queued(since: .zero))
        let actions = pair.advance(.seconds(10 * 60))
        let kinds = Pair.messages(actions).map(\.kind)
        #expect(kinds == [.request, .offer, .accept, .confirm])
        guard case .assigned(let unit, _)? = pair.agadir.phase(of: waiting.caseID) else {
            Issue.record("the case was not assigned: \(String(describing: pair.agadir.phase(of: waiting.caseID)))")
            return
        }
        #expect(unit == "marrakech-u1")
        let decision = try #require(actions.decisions.last)
        #expect(decision.reason.hasPrefix("mutual aid: unit marrakech-u1 lent by area marrakech"))
        // The lender holds its unit for the loan: its own new case waits.
        #expect(pair.marrakech.assignment(of: "marrakech-u1") == waiting.caseID)
        let local = Self.child(at: Self.marrakechCentre, priority: .p3)
        _ = pair.marrakech.submit(local, at: pair.time)
        #expect(pair.marrakech.phase(of: local.caseID)?.status == .queued)
        // The crew goes: its statuses reach the requester.
        _ = pair.unit("marrakech", "marrakech-u1", at: Self.marrakechCentre, status: .enRoute, caseID: waiting.caseID)
        #expect(pair.agadir.phase(of: waiting.caseID) == .enRoute(unitID: "marrakech-u1"))
        _ = pair.unit("marrakech", "marrakech-u1", at: Self.agadirCentre, status: .onScene, caseID: waiting.caseID)
        let back = pair.unit(
            "marrakech", "marrakech-u1", at: Self.agadirCentre, status: .returning, caseID: waiting.caseID,
            resolution: .referredChildProtection)
        #expect(pair.agadir.phase(of: waiting.caseID) == nil, "the child's case ended with the lent crew")
        #expect(back.contains(.resolution(caseID: waiting.caseID, resolution: .referredChildProtection)))
        // Back home, the crew takes Marrakech's waiting case.
        #expect(pair.marrakech.assignment(of: "marrakech-u1") == local.caseID)
    }

    @Test("a neighbour with urgent cases of its own, or no fitting crew, says no and the next neighbour is asked")
    func busyNeighbour() {
        var (pair, waiting) = Self.waitingChild()
        _ = pair.marrakech.submit(Self.child(at: Self.marrakechCentre, priority: .p1), at: pair.time)  // takes its unit
        _ = pair.marrakech.submit(Self.child(at: Self.marrakechCentre, priority: .p2), at: pair.time)  // waits
        let actions = pair.advance(.seconds(10 * 60))
        let messages = Pair.messages(actions)
        #expect(messages.map(\.kind) == [.request, .withdraw, .request])
        #expect(messages[1].reason == "area marrakech has urgent cases waiting")
        #expect(messages[2].toArea == "essaouira", "the next neighbour")
        #expect(pair.agadir.phase(of: waiting.caseID)?.status == .queued)
    }

    @Test("an offer nobody accepts lapses: the lender takes its unit back, a late acceptance is refused")
    func offerLapses() {
        var (pair, waiting) = Self.waitingChild()
        // The acceptance is lost (the requester's worker died before sending it).
        pair.advance(.seconds(10 * 60), drop: { $0.kind == .accept })
        #expect(pair.marrakech.assignment(of: "marrakech-u1") == waiting.caseID, "held for the offer")
        // The lender's offer lapses first (its clock), and the requester asks the next neighbour.
        let lapsed = pair.advance(.seconds(31))
        #expect(pair.marrakech.assignment(of: "marrakech-u1") == nil, "the unit is Marrakech's again")
        #expect(
            lapsed.contains { if case .aid(let m) = $0 { m.kind == .withdraw && m.toArea == "agadir" } else { false } })
        // A late acceptance of the lapsed offer gets a refusal, and nothing is booked twice.
        let requestID = UUID(v5: "aid/\(waiting.caseID.lowercased)/marrakech/0")
        let late = pair.deliver([
            AidMessage(
                kind: .accept, requestID: requestID, caseID: waiting.caseID, fromArea: "agadir", toArea: "marrakech",
                zone: "marrakech")
        ])
        #expect(Pair.messages(late).first?.kind == .withdraw)
        #expect(pair.marrakech.assignment(of: "marrakech-u1") == nil)
        #expect(pair.agadir.phase(of: waiting.caseID)?.status == .queued)
    }

    @Test("a case that finds a unit of its own before the loan is confirmed gives the neighbour's back")
    func localUnitFirst() throws {
        var (pair, waiting) = Self.waitingChild()
        // The confirmation is delayed: the request and the offer go through, then Agadir's unit frees up.
        pair.advance(.seconds(10 * 60), drop: { $0.kind == .confirm })
        let first = try #require(pair.agadir.assignment(of: "agadir-u1"))
        _ = pair.unit(
            "agadir", "agadir-u1", at: Self.agadirCentre, status: .returning, caseID: first, resolution: .referredFamily
        )
        #expect(pair.agadir.phase(of: waiting.caseID)?.unitID == "agadir-u1")
        // The lender's confirmation arrives late: the requester gives the unit back at once.
        let requestID = UUID(v5: "aid/\(waiting.caseID.lowercased)/marrakech/0")
        _ = pair.deliver([
            AidMessage(
                kind: .confirm, requestID: requestID, caseID: waiting.caseID, fromArea: "marrakech", toArea: "agadir",
                zone: "agadir", unitID: "marrakech-u1", unitPosition: Self.marrakechCentre)
        ])
        #expect(pair.agadir.phase(of: waiting.caseID)?.unitID == "agadir-u1", "one unit per case")
        #expect(pair.marrakech.assignment(of: "marrakech-u1") == nil, "the lent unit is Marrakech's again")
    }

    @Test(
        "a takeover of either side keeps the exchange: the lender's unit stays lent, the requester's case stays served")
    func restoreBothSides() {
        var (pair, waiting) = Self.waitingChild()
        let actions = pair.advance(.seconds(10 * 60))
        let exchanges = actions.compactMap { if case .aidExchange(let x) = $0 { x } else { nil } }
        var last: [String: AidExchange] = [:]
        for exchange in exchanges { last["\(exchange.requestID)/\(exchange.side)"] = exchange }
        let lender = last.values.filter { $0.side == .lender }
        let requester = last.values.filter { $0.side == .requester }
        #expect(lender.map(\.status) == [.confirmed] && requester.map(\.status) == [.confirmed])
        var marrakech = ZoneDispatcher(zone: "marrakech", configuration: pair.marrakech.configuration)
        marrakech.restore(
            units: [UnitUpdate(unitID: "marrakech-u1", version: 5, status: .available, position: Self.marrakechCentre)],
            shelters: [], cases: [], exchanges: Array(lender), at: pair.time)
        #expect(marrakech.assignment(of: "marrakech-u1") == waiting.caseID, "still lent after a takeover")
        let local = Self.child(at: Self.marrakechCentre, priority: .p1)
        _ = marrakech.submit(local, at: pair.time)
        #expect(marrakech.phase(of: local.caseID)?.status == .queued, "never booked twice")
        var agadir = ZoneDispatcher(zone: "agadir", configuration: pair.agadir.configuration)
        agadir.restore(
            units: [], shelters: [],
            cases: [
                RestoredCase(
                    triaged: waiting, status: .assigned, unitID: "marrakech-u1", holds: [], decisions: 2)
            ], exchanges: Array(requester), at: pair.time)
        #expect(agadir.phase(of: waiting.caseID)?.unitID == "marrakech-u1")
        // Its timers do not take a lent unit away for want of an acknowledgement.
        _ = agadir.tick(at: DispatchInstant(wall: World.origin, monotonic: pair.clock + .seconds(600)))
        #expect(agadir.phase(of: waiting.caseID)?.unitID == "marrakech-u1")
    }
}

extension Duration {
    fileprivate var seconds: TimeInterval { Double(components.seconds) }
}
