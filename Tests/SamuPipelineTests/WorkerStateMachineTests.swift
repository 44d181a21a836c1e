import SamuModel
import Testing

@testable import SamuPipeline

/// The worker's ownership decisions, with no broker and no database.
@Suite("Worker state machine")
struct WorkerStateMachineTests {
    /// Four partitions; a zone's partition is fixed by its name, as the real partitioner does.
    static let partitions = 4
    static func partition(_ zone: String) -> Int32 { KafkaPartitioner.partition(forZone: zone, partitions: partitions) }

    let zones = ["rabat", "sale", "casablanca-anfa", "marrakech", "fes", "tanger-assilah", "oujda-angad", "meknes"]

    func machine() -> WorkerStateMachine { WorkerStateMachine(partition: Self.partition) }

    /// The zones of these partitions, leased at epoch `epoch` and loaded.
    func assign(_ machine: inout WorkerStateMachine, _ partitions: Set<Int32>, epoch: Int64 = 1) -> [String] {
        let taking = machine.assigned(partitions, zones: zones)
        machine.loaded(Dictionary(uniqueKeysWithValues: taking.map { ($0, epoch) }))
        return taking
    }

    func zones(in partitions: Set<Int32>) -> [String] {
        zones.filter { partitions.contains(Self.partition($0)) }.sorted()
    }

    @Test("an assignment leases every zone of its partitions, and only those")
    func assignment() {
        var machine = machine()
        let taking = machine.assigned([0, 1], zones: zones)
        #expect(taking == zones(in: [0, 1]))
        #expect(!taking.isEmpty)
        machine.loaded(Dictionary(uniqueKeysWithValues: taking.map { ($0, 7) }))
        #expect(machine.loaded == taking)
        for zone in taking { #expect(machine.epoch(of: zone) == 7) }
        // Assigned again (an incremental assignment): zones in memory are kept, not leased again.
        #expect(machine.assigned([0, 1], zones: zones).isEmpty)
    }

    @Test("a batch never leases a zone: events of a zone with no lease are left to its owner (a resumed zombie)")
    func noLeaseOutsideAssignment() {
        var machine = machine()
        let mine = assign(&machine, [0])
        let others = Set(zones(in: [1, 2, 3]))
        #expect(!others.isEmpty)
        let plan = machine.batch(zones: Set(mine).union(others))
        #expect(plan.reload.isEmpty)
        #expect(plan.leftToOwner == others)
        #expect(Set(plan.newlyLeft) == others)
        for zone in others { #expect(machine.epoch(of: zone) == nil) }
        // Met again: still left alone, no second log line.
        let again = machine.batch(zones: others)
        #expect(again.leftToOwner == others)
        #expect(again.newlyLeft.isEmpty)
        #expect(machine.lostPartitions == Set(others.map(Self.partition)))
    }

    @Test(
        "a fenced write drops the lost zones, leaves their events to the new owner and reloads the rest under the same lease"
    )
    func fencing() {
        var machine = machine()
        let mine = assign(&machine, [0, 1, 2, 3], epoch: 3)
        let lost = mine[0]
        let touched = Set(mine.prefix(3))
        let recovery = machine.writeFailed(.fenced(zones: [lost]), touched: touched, events: 50)
        #expect(recovery == .decideAgain(lost: [lost]))
        #expect(machine.epoch(of: lost) == nil)
        #expect(!machine.holdsMemory(of: lost))
        // The other touched zones keep their lease (no new epoch) and are reloaded before use.
        for zone in touched.subtracting([lost]) {
            #expect(machine.epoch(of: zone) == 3)
            #expect(!machine.holdsMemory(of: zone))
        }
        #expect(machine.forgotten == touched.subtracting([lost]).sorted())
        // The batch decided again: the lost zone's events are skipped, the others reloaded.
        let plan = machine.batch(zones: touched)
        #expect(plan.leftToOwner == [lost])
        #expect(plan.reload == touched.subtracting([lost]).sorted())
        #expect(machine.lostPartitions.contains(Self.partition(lost)))
        machine.loaded(Dictionary(uniqueKeysWithValues: plan.reload.map { ($0, machine.epoch(of: $0)!) }))
        for zone in touched.subtracting([lost]) { #expect(machine.epoch(of: zone) == 3) }
        // Untouched zones were never disturbed.
        for zone in mine.dropFirst(3) { #expect(machine.holdsMemory(of: zone)) }
    }

    @Test(
        "after a takeover the previous owner's redelivered events are checked against the inbox until a batch has none")
    func redeliveryAfterTakeover() {
        var machine = machine()
        let mine = assign(&machine, [0, 1, 2, 3])
        #expect(!machine.checksInbox)
        let touched = Set(mine.prefix(2))
        #expect(machine.writeFailed(.alreadyProcessed, touched: touched, events: 100) == .decideAgain(lost: []))
        #expect(machine.checksInbox)
        for zone in touched { #expect(!machine.holdsMemory(of: zone)) }
        // Batches stay checked while they hold events processed before.
        machine.inboxChecked(foundProcessed: true)
        #expect(machine.checksInbox)
        machine.inboxChecked(foundProcessed: false)
        #expect(!machine.checksInbox)
        // No lease changed hands.
        for zone in mine { #expect(machine.epoch(of: zone) == 1) }
    }

    @Test("a write refused for its data splits the batch down to one event, which is dead-lettered; leases are kept")
    func refusedWrite() {
        var machine = machine()
        let mine = assign(&machine, [0, 1, 2, 3])
        let touched = Set(mine.prefix(2))
        #expect(machine.writeFailed(.refusedData, touched: touched, events: 300) == .split)
        #expect(machine.writeFailed(.refusedData, touched: touched, events: 2) == .split)
        #expect(machine.writeFailed(.refusedData, touched: touched, events: 1) == .deadLetter)
        // A timer-only write (no event) cannot be split either.
        #expect(machine.writeFailed(.refusedData, touched: touched, events: 0) == .deadLetter)
        for zone in touched {
            #expect(machine.epoch(of: zone) == 1)
            #expect(!machine.holdsMemory(of: zone))
        }
        #expect(machine.lostPartitions.isEmpty)
    }

    @Test("a revocation drops the zones of its partitions, forgotten ones included; a new assignment gives them back")
    func revocation() {
        var machine = machine()
        let mine = assign(&machine, [0, 1, 2, 3])
        let gone = Set(zones(in: [1]))
        // One of the revoked zones was forgotten after a refused write: it goes too.
        if let forgotten = gone.first { machine.forget(forgotten) }
        #expect(machine.revoked([1]) == gone)
        for zone in gone { #expect(machine.epoch(of: zone) == nil) }
        for zone in Set(mine).subtracting(gone) { #expect(machine.holdsMemory(of: zone)) }
        // Events of the revoked partition still in hand are left to the new owner.
        #expect(machine.batch(zones: gone).leftToOwner == gone)
        #expect(machine.forgotten.isEmpty)
        // The partition comes back: a new lease for each of its zones, and they are ours again.
        let back = machine.assigned([1], zones: zones)
        #expect(Set(back) == gone)
        machine.loaded(Dictionary(uniqueKeysWithValues: back.map { ($0, 2) }))
        #expect(machine.batch(zones: gone).leftToOwner.isEmpty)
        #expect(machine.lostPartitions.isEmpty)
    }

    @Test(
        "over random histories: a lease is only ever asked for by an assignment, and only memory under a lease decides")
    func randomHistories() {
        var random = SplitMix64(seed: 0x5A_4D_55)
        for _ in 0..<200 {
            var machine = machine()
            var assigned = Set<Int32>()
            var epochs: [String: Int64] = [:]
            for _ in 0..<60 {
                switch random.next() % 6 {
                case 0:
                    let partitions = Set((0..<Int32(Self.partitions)).filter { _ in random.next() % 2 == 0 })
                    let taking = machine.assigned(partitions, zones: zones)
                    // Leases only for the partitions assigned now.
                    #expect(taking.allSatisfy { partitions.contains(Self.partition($0)) })
                    for zone in taking { epochs[zone, default: 0] += 1 }
                    machine.loaded(Dictionary(uniqueKeysWithValues: taking.map { ($0, epochs[$0]!) }))
                    assigned.formUnion(partitions)
                case 1:
                    let partitions = Set((0..<Int32(Self.partitions)).filter { _ in random.next() % 3 == 0 })
                    _ = machine.revoked(partitions)
                    assigned.subtract(partitions)
                case 2, 3:
                    let batch = Set(zones.filter { _ in random.next() % 3 == 0 })
                    let before = zones.map { machine.epoch(of: $0) }
                    let plan = machine.batch(zones: batch)
                    // A batch changes no lease, and reloads only zones under a lease.
                    #expect(zones.map { machine.epoch(of: $0) } == before)
                    #expect(plan.reload.allSatisfy { machine.epoch(of: $0) != nil })
                    machine.loaded(Dictionary(uniqueKeysWithValues: plan.reload.map { ($0, machine.epoch(of: $0)!) }))
                    // Every zone decided here is in memory under this worker's current epoch.
                    for zone in batch.subtracting(plan.leftToOwner) {
                        #expect(machine.holdsMemory(of: zone))
                        #expect(machine.epoch(of: zone) == epochs[zone])
                        #expect(assigned.contains(Self.partition(zone)))
                    }
                case 4:
                    let touched = Set(machine.loaded.filter { _ in random.next() % 2 == 0 })
                    let lost = Set(touched.filter { _ in random.next() % 3 == 0 })
                    _ = machine.writeFailed(.fenced(zones: lost), touched: touched, events: 10)
                    for zone in lost { #expect(machine.epoch(of: zone) == nil) }
                default:
                    let touched = Set(machine.loaded.filter { _ in random.next() % 2 == 0 })
                    let failure: WorkerStateMachine.WriteFailure =
                        random.next() % 2 == 0 ? .alreadyProcessed : .refusedData
                    let before = zones.map { machine.epoch(of: $0) }
                    _ = machine.writeFailed(failure, touched: touched, events: 10)
                    #expect(zones.map { machine.epoch(of: $0) } == before)
                }
            }
        }
    }
}
