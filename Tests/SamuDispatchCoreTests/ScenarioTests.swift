import Foundation
import SamuModel
import Testing

@testable import SamuDispatchCore

@Suite("Dispatch scenarios")
struct ScenarioTests {
    @Test("the nearest free unit with the required skills goes, and the nearest bed of the right type is held")
    func nearestWithSkills() throws {
        var world = World()
        world.unit("near-no-skill", at: 0.5, 0)
        world.unit("far-child-protection", at: 4, 0, skills: [.childProtection, .speaksDarija])
        world.unit("nearer-child-protection", at: 2, 0, skills: [.childProtection])
        world.shelter("men-only", at: 0.1, 0, beds: [.men: BedCount(capacity: 10, occupied: 0)])
        world.shelter("minors-far", at: 6, 0, beds: [.minors: BedCount(capacity: 4, occupied: 3)])
        world.shelter("minors-full", at: 1, 0, beds: [.minors: BedCount(capacity: 4, occupied: 4)])
        let child = World.triaged(priority: .p1, skills: [.childProtection], bed: .minors, notify: [.childProtection])
        let actions = world.submit(child)
        let decision = try #require(actions.decisions.first)
        #expect(decision.unitID == "nearer-child-protection")
        #expect(decision.shelterID == "minors-far")
        #expect(decision.unitCandidates.map(\.id) == ["nearer-child-protection", "far-child-protection"])
        #expect(decision.unitCandidateCount == 2)
        #expect(decision.rulesVersion == "test-rules-1")
        #expect(abs((decision.unitTravelSeconds ?? 0) - 240) < 1, "2 km at 30 km/h")
        #expect(actions.contains(.notify(caseID: child.caseID, authority: .childProtection)))
        #expect(actions.holds.map(\.1) == ["minors-far"])
        #expect(world.dispatcher.beds(at: "minors-far", .minors)! == (4, 3, 1))
        #expect(world.dispatcher.assignment(of: "nearer-child-protection") == child.caseID)
    }

    @Test("a case triage holds no bed for (a person reported dead) gets a unit and never a bed, even when beds free up")
    func noBedHeld() throws {
        var world = World()
        world.unit("u1", at: 1, 0)
        world.shelter("s1", at: 0.5, 0, beds: [.men: BedCount(capacity: 10, occupied: 0)])
        let deceased = World.triaged(priority: .p1, holdsBed: false, notify: [.police, .prosecutor])
        let actions = world.submit(deceased)
        let decision = try #require(actions.decisions.first)
        #expect(decision.unitID == "u1")
        #expect(decision.shelterID == nil)
        #expect(decision.reason.contains("no bed held"))
        #expect(actions.holds.isEmpty)
        world.shelter("s1", at: 0.5, 0, beds: [.men: BedCount(capacity: 12, occupied: 0)])
        world.advance(.seconds(30))
        #expect(world.log.holds.isEmpty)
        #expect(world.dispatcher.beds(at: "s1", .men)! == (12, 0, 0))
        // The same case with a bed: held at once.
        var other = World()
        other.unit("u1", at: 1, 0)
        other.shelter("s1", at: 0.5, 0, beds: [.men: BedCount(capacity: 10, occupied: 0)])
        #expect(other.submit(World.triaged(priority: .p1)).holds.count == 1)
    }

    @Test(
        "a child's case closes only once its referral is decided: the crew leaves, the bed stays held, an early close is refused"
    )
    func childWaitsForReferral() throws {
        var world = World()
        world.unit("u1", at: 1, 0, skills: [.childProtection])
        world.shelter("minors", at: 0.5, 0, beds: [.minors: BedCount(capacity: 4, occupied: 0)])
        let child = World.triaged(
            priority: .p1, skills: [.childProtection], bed: .minors,
            referral: ReferralPlan(destination: .familyTracing, deadlineMinutes: 1440, rule: "referral-child-alone"))
        world.submit(child)
        world.unit("u1", at: 1, 0, status: .onScene, caseID: child.caseID)
        // The crew takes the child to the shelter and reports "sheltered": the unit is free, the
        // case waits, the minors' bed is still held (a temporary night).
        let left = world.unit("u1", at: 0.5, 0, status: .available, caseID: child.caseID, resolution: .sheltered)
        #expect(world.dispatcher.phase(of: child.caseID) == .awaitingResolution)
        #expect(world.dispatcher.assignment(of: "u1") == nil)
        #expect(!left.contains { if case .resolution = $0 { true } else { false } })
        #expect(world.dispatcher.beds(at: "minors", .minors)! == (4, 0, 1))
        #expect(left.contains(.crewResolution(caseID: child.caseID, resolution: .sheltered)), "kept with the case")
        // A worker that takes the zone over meanwhile remembers what the crew reported.
        var takeover = ZoneDispatcher(zone: "rabat")
        takeover.restore(
            units: [], shelters: [],
            cases: [
                RestoredCase(
                    triaged: child, status: .awaitingResolution, unitID: nil, holds: [], decisions: 1,
                    referralPending: true, crewResolution: .sheltered)
            ], at: world.time)
        #expect(
            takeover.referralDecided(child.caseID, at: world.time).contains(
                .resolution(caseID: child.caseID, resolution: .sheltered)))
        let early = world.command(child.caseID, .close(.sheltered), reason: "done")
        #expect(early.rejections == ["a child's case closes once its referral is decided"])
        #expect(world.dispatcher.phase(of: child.caseID) == .awaitingResolution)
        // Nor does a cancel end it, from an operator or a supervisor: the referral's watch stays.
        for supervisor in [false, true] {
            let cancelled = world.command(child.caseID, .cancel, reason: "duplicate", supervisor: supervisor)
            #expect(cancelled.rejections == ["a child's case ends once its referral is decided"])
        }
        #expect(world.dispatcher.phase(of: child.caseID) == .awaitingResolution)
        #expect(world.dispatcher.beds(at: "minors", .minors)! == (4, 0, 1), "the child's bed still held")
        // The body decides: the case closes as the crew reported.
        let decided = world.record(world.dispatcher.referralDecided(child.caseID, at: world.time))
        #expect(decided.contains(.resolution(caseID: child.caseID, resolution: .sheltered)))
        #expect(world.dispatcher.phase(of: child.caseID) == nil)
        // A case without a referral closes at once, as before.
        let adult = World.triaged(priority: .p3)
        world.unit("u2", at: 2, 0)
        world.submit(adult)
        let closed = world.command(adult.caseID, .close(.helpRefused), reason: "refuses")
        #expect(closed.rejections.isEmpty)
        #expect(world.dispatcher.phase(of: adult.caseID) == nil)
    }

    @Test(
        "a child's referral not acknowledged by its deadline escalates once; an acknowledged one never does; a takeover escalates a past deadline at once and a future one on time"
    )
    func lateReferral() throws {
        var world = World()
        world.unit("u1", at: 1, 0, skills: [.childProtection])
        world.unit("u2", at: 2, 0, skills: [.childProtection])
        func child() -> TriagedCase {
            World.triaged(
                priority: .p1, skills: [.childProtection], bed: .minors,
                referral: ReferralPlan(destination: .prosecutor, deadlineMinutes: 60, rule: "referral-child-danger"))
        }
        func late(_ actions: [DispatchAction]) -> [(UUID, ReferralDestination, Date)] {
            actions.compactMap {
                if case .referralLate(let caseID, let destination, let due) = $0 {
                    (caseID, destination, due)
                } else {
                    nil
                }
            }
        }
        let unanswered = child()
        let acknowledged = child()
        world.submit(unanswered)
        world.submit(acknowledged)
        let due = world.time.wall.addingTimeInterval(3600)
        #expect(late(world.advance(.seconds(3599))).isEmpty, "not before its deadline")
        world.dispatcher.referralAcknowledged(acknowledged.caseID)
        let escalated = late(world.advance(.seconds(5)))
        #expect(escalated.count == 1)
        #expect(escalated.first?.0 == unanswered.caseID)
        #expect(escalated.first?.1 == .prosecutor)
        #expect(
            abs((escalated.first?.2 ?? .distantPast).timeIntervalSince(due)) < 0.01, "its deadline, not the tick's time"
        )
        #expect(late(world.advance(.seconds(3600))).isEmpty, "once only")
        // A decided referral no longer escalates either.
        let decided = child()
        world.submit(decided)
        _ = world.dispatcher.referralDecided(decided.caseID, at: world.time)
        #expect(late(world.advance(.seconds(7200))).isEmpty)
        // A worker taking the zone over: a deadline already past escalates at the first tick, a
        // future one when it comes.
        var takeover = World()
        let past = child()
        let future = child()
        takeover.dispatcher.restore(
            units: [], shelters: [],
            cases: [
                RestoredCase(
                    triaged: past, status: .queued, unitID: nil, holds: [], decisions: 1, referralPending: true,
                    referralDue: takeover.time.wall.addingTimeInterval(-600)),
                RestoredCase(
                    triaged: future, status: .queued, unitID: nil, holds: [], decisions: 1, referralPending: true,
                    referralDue: takeover.time.wall.addingTimeInterval(900)),
            ], at: takeover.time)
        #expect(late(takeover.advance(.seconds(1))).map(\.0) == [past.caseID])
        #expect(late(takeover.advance(.seconds(898))).isEmpty)
        #expect(late(takeover.advance(.seconds(2))).map(\.0) == [future.caseID])
    }

    @Test(
        "a crew's action about another case than its own (made offline, sent after a reassignment) is refused and changes neither case"
    )
    func staleCrewAction() throws {
        var world = World()
        world.unit("u1", at: 1, 0)
        world.unit("u2", at: 5, 0)
        let first = World.triaged(priority: .p2)
        world.submit(first)
        #expect(world.dispatcher.assignment(of: "u1") == first.caseID)
        // The phone reports its position with the unit's status unchanged: nothing happens to the case.
        let moved = world.unit("u1", at: 1.2, 0)
        #expect(moved.rejections.isEmpty && moved.decisions.isEmpty)
        #expect(world.dispatcher.assignment(of: "u1") == first.caseID)
        // u1 goes on scene offline; meanwhile the operator gives the case to u2 and u1 gets another.
        let reassigned = world.command(first.caseID, .reassign(unitID: "u2"), reason: "u1 silent")
        #expect(reassigned.rejections.isEmpty)
        let second = World.triaged(priority: .p2)
        world.submit(second)
        #expect(world.dispatcher.assignment(of: "u1") == second.caseID)
        // The offline "resolved, sheltered" for the first case arrives now.
        let late = world.unit("u1", at: 1, 0, status: .available, caseID: first.caseID, resolution: .sheltered)
        #expect(
            late.rejections == [
                "unit u1 reports case \(first.caseID.lowercased) but is assigned \(second.caseID.lowercased)"
            ])
        #expect(world.dispatcher.phase(of: first.caseID)?.unitID == "u2", "the first case stays with u2")
        #expect(world.dispatcher.assignment(of: "u1") == second.caseID, "u1 keeps its new case")
        // Its own case's actions still apply, with the crew's note in the timeline's detail.
        var update = UnitUpdate(
            unitID: "u1", version: 99, status: .available, position: World.point(1, 0), caseID: second.caseID,
            resolution: .deceased, note: "found dead under the bridge; police called")
        update.skills = nil
        let closed = world.record(world.dispatcher.apply(update, at: world.time))
        #expect(closed.contains(.resolution(caseID: second.caseID, resolution: .deceased)))
        #expect(
            closed.contains {
                if case .phaseChanged(_, _, .resolved, let detail) = $0 {
                    detail.contains("police called")
                } else {
                    false
                }
            })
    }

    @Test(
        "a phone's position sent right after its close, with the status from before it, neither moves the unit's next case nor changes the unit's status"
    )
    func positionAfterClose() throws {
        var world = World()
        world.unit("u1", at: 1, 0)
        let first = World.triaged(priority: .p2)
        world.submit(first)
        world.unit("u1", at: 1, 0, status: .enRoute, caseID: first.caseID)
        world.unit("u1", at: 0, 0, status: .onScene, caseID: first.caseID)
        // Another case waits while u1 is on scene.
        let second = World.triaged(at: 2, 0, priority: .p2)
        #expect(world.submit(second).decisions.first?.kind == .queue)
        // The crew closes the first case; u1 is free and gets the second.
        world.unit("u1", at: 0, 0, status: .available, caseID: first.caseID, resolution: .sheltered)
        #expect(world.dispatcher.assignment(of: "u1") == second.caseID)
        #expect(world.dispatcher.phase(of: second.caseID)?.status == .assigned)
        // The phone's next fix, stamped with the status the console had stored before the close.
        let version = (world.versions["u1"] ?? 0) + 1
        world.versions["u1"] = version
        let fix = world.record(
            world.dispatcher.apply(
                UnitUpdate(
                    unitID: "u1", version: version, status: .onScene, position: World.point(0.1, 0),
                    positionOnly: true),
                at: world.time))
        #expect(fix.isEmpty, "\(fix)")
        #expect(world.dispatcher.phase(of: second.caseID)?.status == .assigned, "not on scene without the crew")
        #expect(world.dispatcher.unitStatus("u1") == .available)
        #expect(world.dispatcher.unitVersion("u1") == version, "the position itself is taken")
        // Unacknowledged, the second case still goes to another unit in time.
        world.unit("u2", at: 3, 0)
        let timedOut = world.advance(.seconds(91))
        #expect(timedOut.decisions.first?.kind == .reassign)
        #expect(timedOut.decisions.first?.unitID == "u2")
    }

    @Test("a preferred language can outweigh a short extra distance")
    func preferredSkill() {
        var world = World()
        world.unit("arabic", at: 1, 0)
        world.unit("tamazight", at: 1.5, 0, skills: [.speaksTamazight])
        let actions = world.submit(World.triaged(preferred: [.speaksTamazight]))
        #expect(actions.decisions.first?.unitID == "tamazight")
    }

    @Test("with no free unit the case waits, and gets the first unit that frees up")
    func queueThenAssign() {
        var world = World()
        world.unit("u1", at: 1, 0, status: .onScene)
        let waiting = World.triaged()
        let queued = world.submit(waiting)
        #expect(queued.decisions.first?.kind == .queue)
        #expect(world.dispatcher.waitingCaseIDs == [waiting.caseID])
        let freed = world.unit("u1", at: 1, 0, status: .available)
        #expect(freed.decisions.first?.unitID == "u1")
        #expect(freed.decisions.first?.reason.hasPrefix("a unit became free") == true)
        #expect(world.dispatcher.waitingCaseIDs.isEmpty)
    }

    @Test("a P1 that arrives later is served before an older P3")
    func urgentFirst() {
        var world = World()
        world.unit("u1", at: 0, 0, status: .onScene)
        let older = World.triaged(priority: .p3, receivedAt: World.origin)
        let urgent = World.triaged(priority: .p1, receivedAt: World.origin.addingTimeInterval(60))
        world.submit(older)
        world.submit(urgent)
        #expect(world.dispatcher.waitingCaseIDs == [urgent.caseID, older.caseID])
        let freed = world.unit("u1", status: .available)
        #expect(freed.decisions.first?.caseID == urgent.caseID)
    }

    @Test("when supply is short, waiting cases are matched jointly, not first come first served")
    func joint() {
        var world = World()
        world.unit("west", at: 0, 0, status: .onScene)
        world.unit("east", at: 10, 0, status: .onScene)
        let first = World.triaged(at: 4, 0, receivedAt: World.origin)
        let second = World.triaged(at: -1, 0, receivedAt: World.origin.addingTimeInterval(30))
        world.submit(first)
        world.submit(second)
        // Both units come back in one batch; greedy would give "west" to the first case (4 km)
        // and "east" to the second (11 km): 15 km. Jointly: 6 km + 1 km.
        world.unit("west", at: 0, 0, status: .available, settle: false)
        world.unit("east", at: 10, 0, status: .available, settle: false)
        let actions = world.record(world.dispatcher.settle(at: world.time))
        let byCase = Dictionary(uniqueKeysWithValues: actions.decisions.map { ($0.caseID, $0) })
        #expect(byCase[first.caseID]?.unitID == "east")
        #expect(byCase[second.caseID]?.unitID == "west")
        #expect(byCase[first.caseID]?.joint == true)
    }

    @Test("a unit that does not acknowledge in time loses the case to the next best unit")
    func acknowledgementTimeout() {
        var world = World()
        world.unit("silent", at: 1, 0)
        world.unit("backup", at: 3, 0)
        let report = World.triaged()
        #expect(world.submit(report).decisions.first?.unitID == "silent")
        world.advance(.seconds(60))
        #expect(world.dispatcher.assignment(of: "silent") == report.caseID, "not yet")
        let actions = world.advance(.seconds(31))
        #expect(actions.decisions.first?.kind == .reassign)
        #expect(actions.decisions.first?.unitID == "backup")
        #expect(actions.decisions.first?.reason.contains("did not acknowledge") == true)
        #expect(world.dispatcher.assignment(of: "silent") == nil)
        // The new crew acknowledges: no more timeouts.
        world.unit("backup", at: 3, 0, status: .enRoute, caseID: report.caseID)
        #expect(world.dispatcher.phase(of: report.caseID) == .enRoute(unitID: "backup"))
        #expect(world.advance(.seconds(600)).decisions.isEmpty)
    }

    @Test("a held bed is released when the hold expires")
    func holdExpiry() {
        var world = World(
            configuration: {
                var c = DispatchConfiguration(); c.bedHoldDuration = .seconds(1800); return c
            }())
        world.unit("u1")
        world.shelter("s1", beds: [.men: BedCount(capacity: 1, occupied: 0)])
        let report = World.triaged()
        world.submit(report)
        #expect(world.dispatcher.beds(at: "s1", .men)!.held == 1)
        world.advance(.seconds(1799))
        #expect(world.dispatcher.beds(at: "s1", .men)!.held == 1)
        let expired = world.advance(.seconds(2))
        #expect(expired.releases.map(\.1) == [.holdExpired])
        #expect(world.dispatcher.beds(at: "s1", .men)!.held == 0)
    }

    @Test("a P1 waiting too long is escalated once, with a mutual-aid request to the neighbour zones")
    func escalation() {
        var configuration = DispatchConfiguration()
        configuration.neighbours = ["sale", "skhirat-temara"]
        var world = World(configuration: configuration)
        let report = World.triaged(priority: .p1)
        world.submit(report)
        #expect(world.advance(.seconds(540)).isEmpty)
        let actions = world.advance(.seconds(60))
        #expect(actions.contains(.escalated(caseID: report.caseID, waited: .seconds(600))))
        #expect(actions.contains(.mutualAidRequested(caseID: report.caseID, zones: ["sale", "skhirat-temara"])))
        #expect(!world.advance(.seconds(600)).contains { if case .escalated = $0 { true } else { false } })
    }

    @Test(
        "a zone rebuilt from the database (a takeover, a refused write) keeps its timers: a P1 queued 9 minutes ago escalates in one, an escalated case never again, an assignment made 80 s ago times out in 10 s, a hold made 40 minutes ago runs out in 5"
    )
    func restoredTimers() {
        var world = World()
        world.unit("silent", at: 1, 0, status: .enRoute)
        world.shelter("s1", at: 0.5, 0, beds: [.men: BedCount(capacity: 4, occupied: 0)])
        let now = world.time.wall
        let queued = World.triaged(priority: .p1)
        let escalatedBefore = World.triaged(priority: .p1)
        let assigned = World.triaged(priority: .p2)
        var takeover = ZoneDispatcher(zone: "rabat")
        takeover.restore(
            units: [
                UnitUpdate(unitID: "silent", version: 5, status: .available, position: World.point(1, 0)),
                UnitUpdate(unitID: "busy", version: 5, status: .onScene, position: World.point(2, 0)),
            ],
            shelters: [
                BedUpdate(
                    shelterID: "s1", version: 1, position: World.point(0.5, 0),
                    beds: [.men: BedCount(capacity: 4, occupied: 0)])
            ],
            cases: [
                RestoredCase(
                    triaged: queued, status: .queued, unitID: nil, holds: [], decisions: 1,
                    decidedAt: now.addingTimeInterval(-540)),
                RestoredCase(
                    triaged: escalatedBefore, status: .queued, unitID: nil, holds: [], decisions: 1,
                    decidedAt: now.addingTimeInterval(-900), escalated: true),
                RestoredCase(
                    triaged: assigned, status: .assigned, unitID: "silent",
                    holds: [BedHold(shelterID: "s1", bed: .men, beds: 1)], decisions: 1,
                    decidedAt: now.addingTimeInterval(-80), heldAt: now.addingTimeInterval(-40 * 60)),
            ], at: world.time)
        world.dispatcher = takeover
        #expect(world.dispatcher.beds(at: "s1", .men)?.held == 1)
        let waiting = world.advance(.seconds(9))
        #expect(world.dispatcher.assignment(of: "silent") == assigned.caseID, "\(waiting)")
        let first = world.advance(.seconds(2))
        #expect(world.dispatcher.assignment(of: "silent") != assigned.caseID, "the delay ran out: \(first)")
        let escalations = (waiting + first + world.advance(.seconds(50))).compactMap { action -> UUID? in
            if case .escalated(let caseID, _) = action { caseID } else { nil }
        }
        #expect(escalations == [queued.caseID], "the P1 queued 9 minutes ago, once; not the one escalated before")
        // The hold made 40 minutes before the restore runs out 5 minutes after it, not 45.
        let beforeExpiry = world.advance(.seconds(229))
        #expect(world.dispatcher.beds(at: "s1", .men)?.held == 1, "\(beforeExpiry)")
        let expiry = world.advance(.seconds(20))
        #expect(
            expiry.contains(
                .bedReleased(caseID: assigned.caseID, shelterID: "s1", bedType: .men, beds: 1, release: .holdExpired)))
        let rest = world.advance(.seconds(600))
        #expect((beforeExpiry + expiry + rest).allSatisfy { if case .escalated = $0 { false } else { true } })
    }

    @Test("the crew closes the case: refused help frees the unit and bed and opens a follow-up")
    func resolutionByCrew() {
        var world = World()
        world.unit("u1")
        world.shelter("s1", beds: [.men: BedCount(capacity: 2, occupied: 0)])
        let report = World.triaged()
        world.submit(report)
        world.unit("u1", status: .enRoute, caseID: report.caseID)
        world.unit("u1", status: .onScene, caseID: report.caseID)
        let actions = world.unit("u1", status: .returning, caseID: report.caseID, resolution: .helpRefused)
        #expect(actions.contains(.followUp(caseID: report.caseID, resolution: .helpRefused)))
        #expect(actions.releases.count == 1)
        #expect(world.dispatcher.phase(of: report.caseID) == nil, "terminal cases leave the zone's memory")
        #expect(world.dispatcher.assignment(of: "u1") == nil)
        #expect(world.dispatcher.beds(at: "s1", .men)! == (2, 0, 0))
    }

    @Test("a sheltered person's hold becomes an occupied bed when the shelter reports the admission")
    func admission() {
        var world = World()
        world.unit("u1")
        world.shelter("s1", beds: [.women: BedCount(capacity: 2, occupied: 0)])
        let report = World.triaged(bed: .women)
        world.submit(report)
        world.unit("u1", status: .transporting, caseID: report.caseID)
        world.unit("u1", status: .returning, caseID: report.caseID, resolution: .sheltered)
        #expect(world.dispatcher.beds(at: "s1", .women)! == (2, 0, 1), "held until the shelter confirms")
        let admitted = world.shelter("s1", beds: [.women: BedCount(capacity: 2, occupied: 1)], admitted: report.caseID)
        #expect(admitted.contains(.bedOccupied(caseID: report.caseID, shelterID: "s1", bedType: .women, beds: 1)))
        #expect(world.dispatcher.beds(at: "s1", .women)! == (2, 1, 0))
    }

    @Test("a shelter that fills up keeps its most urgent holds and the displaced case gets a bed elsewhere")
    func shelterFills() {
        var world = World()
        world.unit("u1", at: 0, 0)
        world.unit("u2", at: 0, 1)
        world.shelter("near", at: 0.5, 0, beds: [.men: BedCount(capacity: 2, occupied: 0)])
        world.shelter("far", at: 8, 0, beds: [.men: BedCount(capacity: 5, occupied: 0)])
        let urgent = World.triaged(priority: .p1)
        let routine = World.triaged(priority: .p3)
        world.submit(urgent)
        world.submit(routine)
        #expect(world.dispatcher.beds(at: "near", .men)!.held == 2)
        // Walk-ins fill one bed.
        let actions = world.shelter("near", at: 0.5, 0, beds: [.men: BedCount(capacity: 2, occupied: 1)])
        #expect(actions.releases.map(\.0) == [routine.caseID])
        #expect(actions.holds.map(\.1) == ["far"])
        #expect(world.dispatcher.hold(of: urgent.caseID)?.shelterID == "near")
    }

    @Test("stale and out-of-order reports are rejected with a reason")
    func staleVersions() {
        var world = World()
        world.unit("u1")
        let stale = world.dispatcher.apply(
            UnitUpdate(unitID: "u1", version: 1, status: .offDuty, position: World.centre), at: world.time)
        #expect(stale.rejections.first?.contains("not newer") == true)
        #expect(world.dispatcher.unitStatus("u1") == .available)
    }

    @Test("an operator reassigns to a named unit; a unit with a case of its own is refused")
    func operatorOverride() throws {
        var world = World()
        world.unit("u1", at: 1, 0)
        world.unit("u2", at: 5, 0)
        world.unit("u3", at: 6, 0)
        let first = World.triaged()
        let second = World.triaged()
        world.submit(first)
        world.submit(second)
        #expect(world.dispatcher.assignment(of: "u1") == first.caseID)
        #expect(world.dispatcher.assignment(of: "u2") == second.caseID)
        let refused = world.command(first.caseID, .reassign(unitID: "u2"), reason: "u2 knows the family")
        #expect(refused.rejections.first?.contains("already has a case") == true)
        let actions = world.command(first.caseID, .reassign(unitID: "u3"), reason: "u3 has a female crew member")
        let decision = try #require(actions.decisions.first)
        #expect(decision.kind == .override)
        #expect(decision.unitID == "u3")
        #expect(decision.operatorID == "op-1")
        #expect(decision.operatorReason == "u3 has a female crew member")
        #expect(world.dispatcher.assignment(of: "u1") == nil)
    }

    @Test("a claimed case is its claimant's: another operator's actions, claims and releases are refused")
    func claims() {
        var world = World()
        world.unit("u1", at: 1, 0)
        world.unit("u2", at: 5, 0)
        let report = World.triaged()
        world.submit(report)
        #expect(world.command(report.caseID, .release, by: "amina").rejections == ["case is not claimed"])
        #expect(world.command(report.caseID, .claim, by: "amina").rejections.isEmpty)
        #expect(world.dispatcher.claimant(of: report.caseID) == "amina")
        // Claiming again is harmless for the claimant, refused for anyone else.
        #expect(world.command(report.caseID, .claim, by: "amina").rejections.isEmpty)
        #expect(world.command(report.caseID, .claim, by: "youssef").rejections == ["case is claimed by amina"])
        for action: OperatorCommand.Action in [.cancel, .close(.sheltered), .requestMutualAid, .reassign(unitID: "u2")]
        {
            #expect(world.command(report.caseID, action, by: "youssef").rejections == ["case is claimed by amina"])
        }
        #expect(world.dispatcher.assignment(of: "u1") == report.caseID, "nothing changed")
        // The claimant acts.
        let moved = world.command(report.caseID, .reassign(unitID: "u2"), reason: "closer now", by: "amina")
        #expect(moved.decisions.first?.unitID == "u2")
        // Another operator's release is refused; a supervisor's is applied; then another may act.
        #expect(world.command(report.caseID, .release, by: "youssef").rejections == ["case is claimed by amina"])
        #expect(world.dispatcher.claimant(of: report.caseID) == "amina")
        #expect(world.command(report.caseID, .release, by: "karim", supervisor: true).rejections.isEmpty)
        #expect(world.dispatcher.claimant(of: report.caseID) == nil)
        #expect(world.command(report.caseID, .cancel, by: "youssef").rejections.isEmpty)
    }

    @Test("releases racing a claim never remove another operator's claim")
    func releaseRace() {
        var world = World()
        world.unit("u1", at: 1, 0)
        let report = World.triaged()
        world.submit(report)
        #expect(world.command(report.caseID, .claim, by: "amina").rejections.isEmpty)
        // Amina releases twice (a double click, a retry); between the two, Youssef claims.
        #expect(world.command(report.caseID, .release, by: "amina").rejections.isEmpty)
        #expect(world.command(report.caseID, .claim, by: "youssef").rejections.isEmpty)
        #expect(world.command(report.caseID, .release, by: "amina").rejections == ["case is claimed by youssef"])
        // Two operators release the same claim at once: only the claimant's takes effect.
        #expect(world.command(report.caseID, .release, by: "salma").rejections == ["case is claimed by youssef"])
        #expect(world.dispatcher.claimant(of: report.caseID) == "youssef")
        #expect(world.command(report.caseID, .release, by: "youssef").rejections.isEmpty)
        #expect(world.dispatcher.claimant(of: report.caseID) == nil)
    }

    @Test("claims come back with a rebuilt zone")
    func restoredClaim() {
        var world = World()
        world.unit("u1")
        let report = World.triaged()
        var restored = ZoneDispatcher(zone: "rabat")
        _ = restored.apply(
            UnitUpdate(unitID: "u1", version: 1, status: .available, position: World.centre), at: world.time)
        restored.restore(
            units: [], shelters: [],
            cases: [
                RestoredCase(
                    triaged: report, status: .queued, unitID: nil, holds: [], decisions: 1, claimedBy: "amina")
            ],
            at: world.time)
        #expect(restored.claimant(of: report.caseID) == "amina")
        let refused = restored.apply(
            OperatorCommand(caseID: report.caseID, action: .cancel, operatorID: "youssef", reason: "x"), at: world.time)
        #expect(refused.rejections == ["case is claimed by amina"])
    }

    @Test("cancelling frees the unit and the bed")
    func cancel() {
        var world = World()
        world.unit("u1")
        world.shelter("s1", beds: [.men: BedCount(capacity: 1, occupied: 0)])
        let report = World.triaged()
        world.submit(report)
        let actions = world.command(report.caseID, .cancel, reason: "duplicate call")
        #expect(actions.contains { if case .phaseChanged(_, _, .cancelled, _) = $0 { true } else { false } })
        #expect(world.dispatcher.assignment(of: "u1") == nil)
        #expect(world.dispatcher.beds(at: "s1", .men)!.held == 0)
        #expect(world.command(report.caseID, .cancel).rejections.count == 1)
    }

    @Test("a unit that reports a case it was not given is refused")
    func selfDispatch() {
        var world = World()
        world.unit("u1")
        let actions = world.unit("u1", status: .enRoute, caseID: UUID())
        #expect(actions.rejections.count == 1)
    }
}

@Suite("Dispatch when no crew has every skill")
struct PartialSkillTests {
    @Test("a case no crew of the zone can fully serve gets the unit covering most skills, and mutual aid is asked")
    func partial() {
        var configuration = DispatchConfiguration()
        configuration.neighbours = ["sale"]
        var world = World(configuration: configuration)
        world.unit("female", at: 1, 0, skills: [.femaleStaff])
        world.unit("nurse-far", at: 5, 0, skills: [.nurse, .socialWorker])
        world.unit("nothing", at: 0.5, 0)
        let report = World.triaged(priority: .p1, skills: [.femaleStaff, .nurse])
        let actions = world.submit(report)
        let decision = actions.decisions.first
        #expect(decision?.unitID == "female", "covers one of two skills and is nearer than the other one-skill unit")
        #expect(decision?.reason.contains("missing nurse") == true)
        #expect(actions.contains(.mutualAidRequested(caseID: report.caseID, zones: ["sale"])))
    }

    @Test("a case that some busy crew could serve waits for it rather than taking a partial crew")
    func waitsForTheRightCrew() {
        var world = World()
        world.unit("both", at: 1, 0, skills: [.femaleStaff, .nurse], status: .onScene)
        world.unit("female", at: 1, 0, skills: [.femaleStaff])
        let report = World.triaged(skills: [.femaleStaff, .nurse])
        #expect(world.submit(report).decisions.first?.kind == .queue)
        let freed = world.unit("both", at: 1, 0, status: .available)
        #expect(freed.decisions.first?.unitID == "both")
    }
}
