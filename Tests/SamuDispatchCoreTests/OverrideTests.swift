import Foundation
import SamuModel
import Testing

@testable import SamuDispatchCore

@Suite("Priority overrides and calls linked to a case")
struct OverrideTests {
    /// Three waiting cases (no unit free): P2 received first, then P3, then P4.
    static func queuedWorld() -> (World, TriagedCase, TriagedCase, TriagedCase) {
        var world = World()
        let first = World.triaged(priority: .p2, receivedAt: World.origin)
        let second = World.triaged(priority: .p3, receivedAt: World.origin.addingTimeInterval(60))
        let third = World.triaged(priority: .p4, receivedAt: World.origin.addingTimeInterval(120))
        for triaged in [first, second, third] { world.submit(triaged) }
        return (world, first, second, third)
    }

    @Test("an operator's override moves a waiting case to its new place in the queue, recorded as an override decision")
    func overrideRequeues() throws {
        var (world, first, second, third) = Self.queuedWorld()
        #expect(world.dispatcher.waitingCaseIDs == [first.caseID, second.caseID, third.caseID])
        let raised = world.command(third.caseID, .setPriority(.p1), reason: "second call: the man is injured")
        #expect(world.dispatcher.waitingCaseIDs == [third.caseID, first.caseID, second.caseID])
        guard case .priorityChanged(let record, let from, let report)? = raised.first else {
            Issue.record("no priority change: \(raised)")
            return
        }
        #expect(from == .p4)
        #expect(report == nil)
        #expect(record.kind == .override)
        #expect(record.priority == .p1)
        #expect(record.operatorID == "op-1")
        #expect(record.operatorReason == "second call: the man is injured")
        #expect(record.reason.hasPrefix("priority P4 → P1 by op-1"))
        #expect(record.unitID == nil)
        // Lowered, it goes behind the others of its new priority that came before it.
        world.command(third.caseID, .setPriority(.p3), reason: "the crew on the phone: not injured")
        #expect(world.dispatcher.waitingCaseIDs == [first.caseID, second.caseID, third.caseID])
        // The same priority again: refused, nothing moves.
        let same = world.command(third.caseID, .setPriority(.p3))
        #expect(same.rejections == ["the case is already P3"])
        // The first free unit goes to the most urgent case.
        world.command(second.caseID, .setPriority(.p1), reason: "child seen with him")
        world.unit("u1", at: 1, 0)
        #expect(world.dispatcher.assignment(of: "u1") == second.caseID)
    }

    @Test("an override's decision ids follow the case's decisions: the same input replayed gives the same ids")
    func overrideIDsAreStable() throws {
        var (one, _, _, third) = Self.queuedWorld()
        var two = one
        let a = one.command(third.caseID, .setPriority(.p1))
        let b = two.command(third.caseID, .setPriority(.p1))
        #expect(a == b)
        guard case .priorityChanged(let record, _, _)? = a.first else {
            Issue.record("no priority change")
            return
        }
        #expect(record.decisionID == ZoneDispatcher.decisionID(third.caseID, 2), "the queue decision was the first")
    }

    @Test("a call linked to an open case sends no second unit; a more urgent call raises the case's priority")
    func linkedCall() throws {
        var world = World()
        world.unit("u1", at: 1, 0)
        world.unit("u2", at: 2, 0)
        let open = World.triaged(priority: .p3)
        world.submit(open)
        #expect(world.dispatcher.assignment(of: "u1") == open.caseID)
        let report = UUID()
        // As urgent or less: linked, nothing changes.
        let time = world.time
        let calmLink = world.dispatcher.link(report: report, priority: .p4, to: open.caseID, at: time)
        let calm = try #require(calmLink)
        #expect(calm.isEmpty)
        // More urgent: the case takes the call's priority; its unit stays, and u2 stays free.
        let urgentLink = world.dispatcher.link(report: report, priority: .p1, to: open.caseID, at: time)
        let urgent = try #require(urgentLink)
        guard case .priorityChanged(let record, let from, let linked)? = urgent.first else {
            Issue.record("no priority change: \(urgent)")
            return
        }
        #expect(from == .p3 && record.priority == .p1 && linked == report && record.operatorID == nil)
        #expect(world.dispatcher.triagedCase(open.caseID)?.triage.priority == .p1)
        #expect(world.dispatcher.assignment(of: "u1") == open.caseID)
        #expect(world.dispatcher.assignment(of: "u2") == nil)
        // An unknown case, or one closed: the call is not linked (it opens a case of its own).
        let unknown = world.dispatcher.link(report: report, priority: .p1, to: UUID(), at: time)
        #expect(unknown == nil)
        world.command(open.caseID, .cancel)
        let closed = world.dispatcher.link(report: report, priority: .p1, to: open.caseID, at: time)
        #expect(closed == nil)
    }

    @Test("a claimed case's priority is changed by its claimant only")
    func claimedOverride() {
        var (world, first, _, _) = Self.queuedWorld()
        world.command(first.caseID, .claim, by: "op-a")
        #expect(world.command(first.caseID, .setPriority(.p1), by: "op-b").rejections == ["case is claimed by op-a"])
        #expect(world.command(first.caseID, .setPriority(.p1), by: "op-a").rejections.isEmpty)
    }

    @Test(
        "an operator's bed choice gives the held beds back and holds them again as chosen; what cannot be held is refused with its reason"
    )
    func chooseBed() throws {
        var world = World()
        world.unit("u1", at: 1, 0)
        world.shelter("men-near", at: 0.2, 0, beds: [.men: BedCount(capacity: 5, occupied: 0)])
        world.shelter(
            "family-far", at: 3, 0,
            beds: [.womenWithChildren: BedCount(capacity: 3, occupied: 0), .men: BedCount(capacity: 2, occupied: 0)])
        world.shelter("full", at: 0.5, 0, beds: [.womenWithChildren: BedCount(capacity: 2, occupied: 2)])
        let person = World.triaged(priority: .p2)
        world.submit(person)
        #expect(world.dispatcher.holds(of: person.caseID).map(\.shelterID) == ["men-near"])
        // She is a mother with her children: the operator chooses the family shelter.
        let chosen = world.command(
            person.caseID, .chooseBed(.womenWithChildren, shelterID: "family-far"), reason: "with her two children")
        guard case .bedChosen(let record, let from)? = chosen.first else {
            Issue.record("no bed choice: \(chosen)")
            return
        }
        #expect(from == .men && record.bedType == .womenWithChildren && record.shelterID == "family-far")
        #expect(record.kind == .override && record.operatorReason == "with her two children")
        #expect(chosen.releases.map(\.1) == [.operatorChoice])
        #expect(chosen.holds.map(\.1) == ["family-far"])
        #expect(world.dispatcher.beds(at: "men-near", .men)! == (5, 0, 0))
        #expect(world.dispatcher.beds(at: "family-far", .womenWithChildren)! == (3, 0, 1))
        #expect(world.dispatcher.triagedCase(person.caseID)?.triage.bedType == .womenWithChildren)
        // Refused: a shelter unknown here, one with no free bed of the type, the type it already has.
        #expect(
            world.command(person.caseID, .chooseBed(.womenWithChildren, shelterID: "nowhere")).rejections == [
                "shelter nowhere is unknown in rabat"
            ])
        #expect(
            world.command(person.caseID, .chooseBed(.womenWithChildren, shelterID: "full")).rejections == [
                "shelter full has no free women_with_children bed"
            ])
        #expect(
            world.command(person.caseID, .chooseBed(.womenWithChildren, shelterID: nil)).rejections == [
                "the case's bed type is already women_with_children"
            ])
        // Choosing its own shelter again is allowed (its own held bed counts as free for it).
        #expect(
            world.command(person.caseID, .chooseBed(.womenWithChildren, shelterID: "family-far")).rejections.isEmpty)
        #expect(world.dispatcher.beds(at: "family-far", .womenWithChildren)! == (3, 0, 1))
        // A waiting case gets no shelter yet, but may change its bed type: held as chosen later.
        var queue = World()
        queue.shelter("men-near", at: 0.2, 0, beds: [.men: BedCount(capacity: 5, occupied: 0)])
        queue.shelter("elderly", at: 2, 0, beds: [.elderly: BedCount(capacity: 2, occupied: 0)])
        let waiting = World.triaged(priority: .p3)
        queue.submit(waiting)
        #expect(
            queue.command(waiting.caseID, .chooseBed(.elderly, shelterID: "elderly")).rejections == [
                "the case has no crew on its way: its shelter is chosen once one goes"
            ])
        #expect(queue.command(waiting.caseID, .chooseBed(.elderly, shelterID: nil)).rejections.isEmpty)
        queue.unit("u1", at: 1, 0)
        #expect(queue.dispatcher.holds(of: waiting.caseID).map(\.shelterID) == ["elderly"])
    }
}
