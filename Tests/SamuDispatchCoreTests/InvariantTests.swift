import Foundation
import PropertyBased
import SamuModel
import Testing

@testable import SamuDispatchCore

/// Random nights: sequences of unit reports, shelter reports, cases, operator commands and clock
/// ticks, decoded from generated integers (so that a failure shrinks to a short sequence).
@Suite("Dispatch invariants (property-based)")
struct InvariantTests {
    static let unitIDs = ["u0", "u1", "u2", "u3", "u4"]
    static let shelterIDs = ["s0", "s1", "s2"]
    static let skillPool: [CrewSkill] = [.childProtection, .femaleStaff, .nurse]
    static let profiles: [ShelterProfile] = [
        .undeclared, ShelterProfile(sexes: .women, ageMin: 18, wheelchairAccess: true, confidentialAddress: true),
        ShelterProfile(sexes: .men, ageMin: 18), ShelterProfile(ageMax: 17),
        ShelterProfile(ageMin: 60, wheelchairAccess: true),
    ]

    /// Applies one generated operation to the world.
    static func step(_ code: Int, _ world: inout World, _ submitted: inout [UUID]) {
        var bits = code
        func take(_ count: Int) -> Int {
            defer { bits /= count }
            return bits % count
        }
        switch take(7) {
        case 0, 1:  // a unit reports
            let unit = unitIDs[take(unitIDs.count)]
            let status = UnitStatus.allCases[take(UnitStatus.allCases.count)]
            let skills = Set(skillPool.enumerated().filter { _ in take(2) == 1 }.map(\.element))
            let assigned = world.dispatcher.assignment(of: unit)
            let resolution = take(3) == 0 ? Resolution.allCases[take(Resolution.allCases.count)] : nil
            world.unit(
                unit, at: Double(take(10)), Double(take(10)), skills: skills, status: status,
                caseID: take(4) == 0 ? submitted.last : assigned, resolution: resolution)
        case 2:  // a shelter reports
            let shelter = shelterIDs[take(shelterIDs.count)]
            var beds: [BedType: BedCount] = [:]
            for bed in BedType.allCases { beds[bed] = BedCount(capacity: take(3), occupied: take(3)) }
            let admitted = take(3) == 0 ? submitted.randomElementDeterministic(take(max(1, submitted.count))) : nil
            let declined = take(4) == 0 ? submitted.randomElementDeterministic(take(max(1, submitted.count))) : nil
            world.shelter(
                shelter, at: Double(take(10)), Double(take(10)), beds: beds, admitted: admitted,
                profile: take(2) == 0 ? profiles[take(profiles.count)] : nil, declined: declined)
        case 3, 4:  // a new case
            let id = UUID(v5: "property-case-\(submitted.count)-\(code)")
            submitted.append(id)
            let skills = Set(skillPool.enumerated().filter { _ in take(3) == 0 }.map(\.element))
            world.submit(
                World.triaged(
                    id, at: Double(take(10)), Double(take(10)), priority: Priority.allCases[take(4)], skills: skills,
                    bed: BedType.allCases[take(BedType.allCases.count)],
                    receivedAt: World.origin.addingTimeInterval(Double(submitted.count)),
                    need: ShelterNeed(
                        beds: 1 + take(4), sex: Sex.allCases[take(Sex.allCases.count)],
                        age: take(2) == 0 ? take(90) : nil,
                        minor: take(3) == 0, elderly: take(3) == 0, womenOnly: take(3) == 0, wheelchair: take(3) == 0)))
        case 5:  // an operator
            guard !submitted.isEmpty else { return }
            let caseID = submitted[take(submitted.count)]
            let actions: [OperatorCommand.Action] = [
                .reassign(unitID: nil), .reassign(unitID: unitIDs[take(unitIDs.count)]), .cancel,
                .close(Resolution.allCases[take(Resolution.allCases.count)]), .requestMutualAid, .claim, .release,
            ]
            world.command(caseID, actions[take(actions.count)])
        default:  // time passes
            world.advance(.seconds(Int64(take(900))))
        }
    }

    static func checkInvariants(_ world: World, _ submitted: [UUID]) {
        let dispatcher = world.dispatcher
        // 1. A unit has at most one case, and the case agrees.
        for unit in dispatcher.units {
            if let caseID = unit.assignment {
                #expect(dispatcher.cases[caseID]?.phase.unitID == unit.id, "unit \(unit.id) and its case disagree")
            }
        }
        var owners: [String: UUID] = [:]
        for (caseID, state) in dispatcher.cases {
            if let unitID = state.phase.unitID {
                #expect(owners[unitID] == nil, "unit \(unitID) is on two cases")
                owners[unitID] = caseID
                #expect(dispatcher.assignment(of: unitID) == caseID)
            }
        }
        // 2. Holds plus occupants never exceed beds.
        for shelter in dispatcher.shelters {
            for bed in BedType.allCases {
                let held = shelter.holds.values.filter { $0.bed == bed }.reduce(0) { $0 + $1.beds }
                #expect(held == shelter.held[bed.index])
                #expect(
                    held <= max(0, shelter.capacity[bed.index] - shelter.occupied[bed.index]),
                    "shelter \(shelter.id) \(bed): \(held) held, \(shelter.occupied[bed.index])/\(shelter.capacity[bed.index])"
                )
            }
        }
        // 3. Every case is waiting, active with one unit, or finished exactly once.
        let queued = Set(dispatcher.cases.filter { if case .queued = $0.value.phase { true } else { false } }.keys)
        #expect(Set(dispatcher.waiting) == queued)
        #expect(dispatcher.waiting.count == queued.count)
        // 4. Every active case without a bed is among those the bed search looks at.
        for (caseID, state) in dispatcher.cases
        where state.missingBeds > 0 && state.phase.needsBed && state.triaged.triage.holdsBed {
            #expect(dispatcher.mayNeedBed.contains(caseID), "active case \(caseID) without a bed is not looked at")
        }
        // 6. A bed is held only where the person fits and the shelter did not decline them, and
        //    never more beds than people; the case's holds and the shelters' agree.
        for (caseID, state) in dispatcher.cases {
            #expect(state.missingBeds >= 0, "case \(caseID) holds more beds than people")
            for hold in state.holds {
                guard let index = dispatcher.shelterIndex[hold.shelterID] else {
                    Issue.record("case \(caseID) holds a bed at unknown shelter \(hold.shelterID)")
                    continue
                }
                let shelter = dispatcher.shelters[index]
                #expect(shelter.holds[caseID]?.beds == hold.beds, "case \(caseID) and \(shelter.id) disagree")
                #expect(!state.declinedBy.contains(hold.shelterID), "a declining shelter holds case \(caseID)")
            }
        }
        // 5. The queue is in waiting order (its searches rely on it).
        let keys = dispatcher.waiting.map { dispatcher.queueOrder($0) }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 <= $1 }, "the waiting queue is out of order")
        var terminal: [UUID: Int] = [:]
        for action in world.log {
            if case .phaseChanged(let caseID, _, let to, _) = action, to == .resolved || to == .cancelled {
                terminal[caseID, default: 0] += 1
            }
        }
        #expect(terminal.values.allSatisfy { $0 == 1 }, "a case finished twice")
        for caseID in submitted {
            let active = dispatcher.cases[caseID] != nil
            let finished = terminal[caseID] != nil
            #expect(active != finished, "case \(caseID) is \(active ? "active and finished" : "lost")")
        }
    }

    /// 7. A bed just held fits the person under the shelter's profile in force (it cannot have
    ///    changed since: a profile and the holds it allows come in the same step).
    static func checkNewHolds(_ world: World, since start: Int) {
        let dispatcher = world.dispatcher
        for action in world.log[start...] {
            guard case .bedHeld(let caseID, let shelterID, _, let beds, _) = action,
                let state = dispatcher.cases[caseID], let index = dispatcher.shelterIndex[shelterID]
            else { continue }
            let refusal = dispatcher.shelters[index].profile.refusal(of: state.triage.shelterNeed)
            #expect(
                refusal == nil,
                "case \(caseID) was given a bed at \(shelterID), which refuses: \(refusal?.rawValue ?? "")")
            #expect(beds >= 1 && beds <= state.triage.shelterNeed.beds)
        }
    }

    static let nights = Gen.int(in: 0...Int(Int32.max)).array(of: 1...80)

    @Test("no unit on two cases, no bed over-held, every case waiting, active or finished exactly once")
    func invariants() async {
        await propertyCheck(count: 300, input: Self.nights) { codes in
            var world = World()
            var submitted: [UUID] = []
            for code in codes {
                let start = world.log.count
                Self.step(code, &world, &submitted)
                Self.checkInvariants(world, submitted)
                Self.checkNewHolds(world, since: start)
            }
        }
    }

    /// An action with its wall-clock times blanked: what remains is what was decided.
    static func decided(_ action: DispatchAction) -> String {
        String(describing: action).replacing(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000/, with: "<wall>")
    }

    static let jumps = Gen.int(in: -600...600).array(of: 1...80)

    @Test("F14: wall-clock jumps of up to ±10 min change no decision: no early hold expiry or acknowledgement timeout")
    func clockJumps() async {
        await propertyCheck(count: 150, input: Self.nights, Self.jumps) { codes, jumps in
            var steady = World()
            var jumpy = World()
            var submittedSteady: [UUID] = []
            var submittedJumpy: [UUID] = []
            for (index, code) in codes.enumerated() {
                // The wall clock steps forwards or backwards by up to 10 minutes, at any step.
                jumpy.wallOffset = Double(jumps[index % jumps.count]) * (index % 3 == 0 ? 1 : -1)
                Self.step(code, &steady, &submittedSteady)
                Self.step(code, &jumpy, &submittedJumpy)
            }
            #expect(steady.log.map(Self.decided) == jumpy.log.map(Self.decided))
        }
    }

    @Test("the same inputs give the same decisions")
    func deterministic() async {
        await propertyCheck(count: 100, input: Self.nights) { codes in
            var first = World()
            var second = World()
            var submittedFirst: [UUID] = []
            var submittedSecond: [UUID] = []
            for code in codes {
                Self.step(code, &first, &submittedFirst)
                Self.step(code, &second, &submittedSecond)
            }
            #expect(first.log == second.log)
        }
    }
}

extension Array {
    fileprivate func randomElementDeterministic(_ index: Int) -> Element? {
        isEmpty ? nil : self[index % count]
    }
}
