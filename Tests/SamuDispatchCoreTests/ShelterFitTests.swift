import Foundation
import SamuModel
import Testing

@testable import SamuDispatchCore

/// Shelters that fit the person: who a shelter takes in, one bed per person, families together or
/// split with a reason, a shelter declining and the next bed held.
@Suite("Shelters that fit the person")
struct ShelterFitTests {
    static let womenOnly = ShelterProfile(
        facilityType: "mfi_women", sexes: .women, ageMin: 18, wheelchairAccess: false, confidentialAddress: true)

    @Test("a woman victim of violence goes to the women-only house, not to the nearer mixed shelter")
    func womanVictimGoesToWomenOnly() throws {
        var world = World()
        world.unit("u1")
        world.shelter("mixed", at: 0.5, 0, beds: [.women: BedCount(capacity: 4, occupied: 0)])
        world.shelter("house", at: 6, 0, beds: [.women: BedCount(capacity: 4, occupied: 0)], profile: Self.womenOnly)
        let report = World.triaged(bed: .women, need: ShelterNeed(sex: .female, age: 30, womenOnly: true))
        let actions = world.submit(report)
        #expect(actions.holds.map(\.1) == ["house"])
        let decision = try #require(actions.decisions.first)
        #expect(decision.shelterCandidates.map(\.id) == ["house"], "the mixed shelter is never proposed")
        // Without the women-only house, she gets no bed rather than the mixed one, and the record says why.
        var alone = World()
        alone.unit("u1")
        alone.shelter("mixed", at: 0.5, 0, beds: [.women: BedCount(capacity: 4, occupied: 0)])
        let refused = alone.submit(World.triaged(bed: .women, need: ShelterNeed(sex: .female, womenOnly: true)))
        #expect(refused.holds.isEmpty)
        let reason = try #require(refused.decisions.first?.reason)
        #expect(reason.contains("no fitting free women bed"), "\(reason)")
        #expect(reason.contains("1 not a women-only shelter"), "\(reason)")
    }

    @Test("age ranges, sex and wheelchair access decide, with and without a reported age")
    func eligibility() {
        let minorsOnly = ShelterProfile(ageMax: 17)
        let elderlyOnly = ShelterProfile(ageMin: 60, wheelchairAccess: true)
        let menOnly = ShelterProfile(sexes: .men, ageMin: 18)
        #expect(minorsOnly.refusal(of: ShelterNeed(age: 15, minor: true)) == nil)
        #expect(minorsOnly.refusal(of: ShelterNeed(age: 19)) == .age)
        #expect(minorsOnly.refusal(of: ShelterNeed(minor: true)) == nil, "a minor without an age fits")
        #expect(minorsOnly.refusal(of: ShelterNeed()) == .age, "an adult without an age does not")
        #expect(elderlyOnly.refusal(of: ShelterNeed(age: 59)) == .age)
        #expect(elderlyOnly.refusal(of: ShelterNeed(elderly: true, wheelchair: true)) == nil)
        #expect(elderlyOnly.refusal(of: ShelterNeed(minor: true)) == .age)
        #expect(menOnly.refusal(of: ShelterNeed(sex: .male, age: 40)) == nil)
        #expect(menOnly.refusal(of: ShelterNeed(sex: .female, age: 40)) == .sex)
        #expect(
            menOnly.refusal(of: ShelterNeed(sex: .unknown, age: 40)) == .sex,
            "an unknown sex only where any sex is taken")
        #expect(Self.womenOnly.refusal(of: ShelterNeed(sex: .female, age: 30)) == nil)
        #expect(Self.womenOnly.refusal(of: ShelterNeed(sex: .male, age: 30)) == .sex)
        #expect(ShelterProfile.undeclared.refusal(of: ShelterNeed(sex: .female, womenOnly: true)) == .notWomenOnly)
        #expect(ShelterProfile.undeclared.refusal(of: ShelterNeed(wheelchair: true)) == .noWheelchairAccess)
        #expect(ShelterProfile.undeclared.refusal(of: ShelterNeed(sex: .unknown)) == nil)
    }

    @Test("a family of three holds three beds at the one shelter that has them all, though another is nearer")
    func familyTogether() throws {
        var world = World()
        world.unit("u1")
        world.shelter("near", at: 0.5, 0, beds: [.womenWithChildren: BedCount(capacity: 4, occupied: 2)])
        world.shelter("far", at: 7, 0, beds: [.womenWithChildren: BedCount(capacity: 6, occupied: 0)])
        let family = World.triaged(bed: .womenWithChildren, need: ShelterNeed(beds: 3, sex: .female))
        let actions = world.submit(family)
        #expect(actions.holds.map(\.1) == ["far"])
        #expect(
            world.dispatcher.holds(of: family.caseID) == [BedHold(shelterID: "far", bed: .womenWithChildren, beds: 3)])
        #expect(world.dispatcher.beds(at: "far", .womenWithChildren)! == (6, 0, 3))
        #expect(world.dispatcher.beds(at: "near", .womenWithChildren)! == (4, 2, 0))
        let reason = try #require(actions.decisions.first?.reason)
        #expect(!reason.contains("split"), "\(reason)")
        // The case ends elsewhere: all three beds go back at once.
        let ended = world.command(family.caseID, .close(.referredFamily))
        #expect(ended.contains { if case .bedReleased(_, "far", _, 3, _) = $0 { true } else { false } })
        #expect(world.dispatcher.beds(at: "far", .womenWithChildren)! == (6, 0, 0))
    }

    @Test("no shelter has the whole family's beds: split between the nearest, with the reason recorded")
    func familySplit() throws {
        var world = World()
        world.unit("u1")
        world.shelter("a", at: 0.5, 0, beds: [.womenWithChildren: BedCount(capacity: 2, occupied: 0)])
        world.shelter("b", at: 3, 0, beds: [.womenWithChildren: BedCount(capacity: 1, occupied: 0)])
        world.shelter("c", at: 9, 0, beds: [.womenWithChildren: BedCount(capacity: 5, occupied: 4)])
        let family = World.triaged(bed: .womenWithChildren, need: ShelterNeed(beds: 4, sex: .female))
        let actions = world.submit(family)
        #expect(
            world.dispatcher.holds(of: family.caseID) == [
                BedHold(shelterID: "a", bed: .womenWithChildren, beds: 2),
                BedHold(shelterID: "b", bed: .womenWithChildren, beds: 1),
                BedHold(shelterID: "c", bed: .womenWithChildren, beds: 1),
            ])
        let reason = try #require(actions.decisions.first?.reason)
        #expect(reason.contains("4 people split"), "\(reason)")
        #expect(reason.contains("2 at a, 1 at b, 1 at c"), "\(reason)")
        // Not enough beds anywhere: what there is is held, and the rest is said.
        var short = World()
        short.unit("u1")
        short.shelter("a", beds: [.minors: BedCount(capacity: 1, occupied: 0)])
        let siblings = World.triaged(bed: .minors, need: ShelterNeed(beds: 3, minor: true))
        let partial = try #require(short.submit(siblings).decisions.first?.reason)
        #expect(partial.contains("2 without a bed yet"), "\(partial)")
        // A bed frees up later: the missing beds are looked for while the crew is on its way.
        let more = short.shelter("d", at: 2, 0, beds: [.minors: BedCount(capacity: 4, occupied: 0)])
        #expect(more.holds.map(\.1) == ["d"])
        #expect(short.dispatcher.holds(of: siblings.caseID).map(\.beds) == [1, 2])
    }

    @Test(
        "a shelter declines: its beds go back with the reason, the next fitting bed is held, it is never proposed again"
    )
    func declineAndRedispatch() throws {
        var world = World()
        world.unit("u1")
        world.shelter("near", at: 0.5, 0, beds: [.men: BedCount(capacity: 3, occupied: 0)])
        world.shelter("next", at: 4, 0, beds: [.men: BedCount(capacity: 3, occupied: 0)])
        let report = World.triaged()
        world.submit(report)
        world.unit("u1", status: .transporting, caseID: report.caseID)
        #expect(world.dispatcher.hold(of: report.caseID)?.shelterID == "near")
        let actions = world.shelter(
            "near", at: 0.5, 0, beds: [.men: BedCount(capacity: 3, occupied: 0)], declined: report.caseID,
            because: "aggressive behaviour last week")
        #expect(actions.releases.map(\.1) == [.declined("aggressive behaviour last week")])
        #expect(actions.holds.map(\.1) == ["next"], "re-dispatched at once, even while transporting")
        #expect(world.dispatcher.beds(at: "near", .men)!.held == 0)
        // Its hold at the next shelter expires: samu looks again, never at the declining shelter.
        world.unit("u1", status: .onScene, caseID: report.caseID)
        world.shelter("next", at: 4, 0, beds: [.men: BedCount(capacity: 3, occupied: 3)])
        #expect(world.dispatcher.holds(of: report.caseID).isEmpty)
        #expect(world.dispatcher.beds(at: "near", .men)!.held == 0, "the declining shelter is not proposed again")
        // A decline about a case the shelter holds nothing for changes nothing and says so.
        let stray = world.shelter(
            "near", at: 0.5, 0, beds: [.men: BedCount(capacity: 3, occupied: 0)], declined: UUID())
        #expect(stray.rejections.count == 1)
    }

    @Test(
        "a decline after the crew closed the case as sheltered gives the bed back, and the person is to be found again tonight"
    )
    func declineAfterClose() {
        var world = World()
        world.unit("u1")
        world.shelter("s1", beds: [.men: BedCount(capacity: 2, occupied: 0)])
        let report = World.triaged()
        world.submit(report)
        world.unit("u1", status: .returning, caseID: report.caseID, resolution: .sheltered)
        #expect(world.dispatcher.beds(at: "s1", .men)!.held == 1)
        let actions = world.shelter("s1", beds: [.men: BedCount(capacity: 2, occupied: 0)], declined: report.caseID)
        #expect(actions.releases.count == 1)
        #expect(actions.rejections.isEmpty)
        #expect(actions.contains(.turnedAway(caseID: report.caseID, shelterID: "s1", reason: "no room tonight")))
        #expect(world.dispatcher.beds(at: "s1", .men)!.held == 0)
    }

    @Test("a restored zone keeps a family's beds at each shelter")
    func restoreFamily() {
        var world = World()
        world.unit("u1")
        world.shelter("a", beds: [.womenWithChildren: BedCount(capacity: 2, occupied: 0)])
        world.shelter("b", at: 2, 0, beds: [.womenWithChildren: BedCount(capacity: 2, occupied: 0)])
        let family = World.triaged(bed: .womenWithChildren, need: ShelterNeed(beds: 3, sex: .female))
        var restored = ZoneDispatcher(zone: "rabat")
        restored.restore(
            units: [UnitUpdate(unitID: "u1", version: 1, status: .available, position: World.point(0, 0))],
            shelters: [
                BedUpdate(
                    shelterID: "a", version: 1, position: World.point(0, 0),
                    beds: [.womenWithChildren: BedCount(capacity: 2, occupied: 0)]),
                BedUpdate(
                    shelterID: "b", version: 1, position: World.point(2, 0),
                    beds: [.womenWithChildren: BedCount(capacity: 2, occupied: 0)], profile: Self.womenOnly),
            ],
            cases: [
                RestoredCase(
                    triaged: family, status: .assigned, unitID: "u1",
                    holds: [
                        BedHold(shelterID: "a", bed: .womenWithChildren, beds: 2),
                        BedHold(shelterID: "b", bed: .womenWithChildren, beds: 1),
                    ], decisions: 1)
            ], at: world.time)
        #expect(restored.beds(at: "a", .womenWithChildren)! == (2, 0, 2))
        #expect(restored.beds(at: "b", .womenWithChildren)! == (2, 0, 1))
        #expect(restored.profile(of: "b") == Self.womenOnly)
        #expect(restored.holds(of: family.caseID).map(\.beds) == [2, 1])
    }
}
