/// What a worker owns, and what it does next, decided without a broker or a database.
///
/// The worker is the single writer of the zones whose lease it holds. This state machine keeps,
/// for each zone, whether the worker holds its lease and has its memory, and turns each thing that
/// happens (an assignment, a revocation, a batch, a write's failure) into what the worker must do:
/// lease zones, reload them, drop them, leave their events to another worker, write a batch again,
/// split it, dead-letter it. ``DispatchWorker`` executes those actions; the decisions are tested on
/// their own (`WorkerStateMachineTests`).
///
/// The rules it keeps:
/// - Leases are taken on assignment and only there: a worker paused past its session that wakes
///   with a batch in hand never leases a zone of its own accord (``batch(zones:)`` never asks for
///   a lease).
/// - A write refused because another worker holds a newer lease (fenced) drops those zones: their
///   events are left to that worker until an assignment gives them back.
/// - Memory that ran ahead of a refused write is forgotten and reloaded from PostgreSQL under the
///   lease the worker still holds, never a new one.
/// - After a write refused for an event processed before (a redelivery after a takeover, a
///   producer's retry), batches are checked against the inbox until one holds no such event.
struct WorkerStateMachine: Sendable {
    /// A zone this worker holds a lease on, with its memory or without it.
    enum Ownership: Sendable, Equatable {
        /// Leased and in memory: its events are decided here.
        case loaded(epoch: Int64)
        /// Leased, memory forgotten (after a refused write): reloaded under the same epoch.
        case forgotten(epoch: Int64)
    }

    /// How a write failed, as far as ownership goes.
    enum WriteFailure: Sendable, Equatable {
        /// Another worker holds a newer lease on these zones.
        case fenced(zones: Set<String>)
        /// An event of the batch was processed before.
        case alreadyProcessed
        /// The database refused the batch for its data.
        case refusedData
    }

    /// What to do with a batch whose write failed.
    enum Recovery: Sendable, Equatable {
        /// Decide the batch again (its zones reloaded) and write it again. `lost` zones belong to
        /// another worker now: their queued outcomes leave this worker's relay.
        case decideAgain(lost: Set<String>)
        /// Split the batch in halves and handle each on its own.
        case split
        /// Dead-letter the batch's one event and move on.
        case deadLetter
    }

    /// What a batch's zones need before it is decided.
    struct BatchPlan: Sendable, Equatable {
        /// Zones to reload from PostgreSQL under the lease already held (no new lease).
        var reload: [String]
        /// Zones of the batch this worker holds no lease on: their events are skipped, left to
        /// the worker that owns them.
        var leftToOwner: Set<String>
        /// Among ``leftToOwner``, the zones met for the first time since they stopped being this
        /// worker's (worth a log line).
        var newlyLeft: [String]
    }

    private(set) var ownership: [String: Ownership] = [:]
    /// Zones met in a batch without a lease: left to their owner until an assignment.
    private(set) var notOurs: Set<String> = []
    /// Batches are checked against the inbox before they are decided.
    private(set) var checksInbox = false
    private let partition: @Sendable (String) -> Int32

    init(partition: @escaping @Sendable (String) -> Int32) {
        self.partition = partition
    }

    /// The lease epoch this worker holds for a zone (the fencing token of its writes).
    func epoch(of zone: String) -> Int64? {
        switch ownership[zone] {
        case .loaded(let epoch)?, .forgotten(let epoch)?: return epoch
        case nil: return nil
        }
    }

    /// Zones this worker holds a lease on but whose memory it forgot.
    var forgotten: [String] {
        ownership.compactMap { zone, state in
            if case .forgotten = state { return zone }
            return nil
        }.sorted()
    }

    /// Zones in memory.
    var loaded: [String] {
        ownership.compactMap { zone, state in
            if case .loaded = state { return zone }
            return nil
        }.sorted()
    }

    /// Partitions of zones another worker took: no offset of theirs may be stored here.
    var lostPartitions: Set<Int32> { Set(notOurs.map(partition)) }

    // MARK: Assignment and revocation

    /// Partitions were assigned. `zones` are the zones known to travel in them. Returns the zones
    /// to lease (a new epoch each, even for a zone whose lease this worker kept) and rebuild; the
    /// zones already in memory are kept as they are.
    mutating func assigned(_ partitions: Set<Int32>, zones: [String]) -> [String] {
        notOurs = notOurs.filter { !partitions.contains(partition($0)) }
        let taking = zones.filter { partitions.contains(partition($0)) && !holdsMemory(of: $0) }.sorted()
        for zone in taking { ownership[zone] = nil }
        return taking
    }

    /// The leases were taken (or kept) and the zones rebuilt from PostgreSQL.
    mutating func loaded(_ epochs: [String: Int64]) {
        for (zone, epoch) in epochs {
            ownership[zone] = .loaded(epoch: epoch)
            notOurs.remove(zone)
        }
    }

    /// Partitions were revoked (or lost): returns the zones to drop, memory and lease.
    mutating func revoked(_ partitions: Set<Int32>) -> Set<String> {
        let leaving = Set(ownership.keys.filter { partitions.contains(partition($0)) })
        for zone in leaving { ownership[zone] = nil }
        return leaving
    }

    // MARK: Batches

    /// A batch holds events of these zones: which to reload first and which to leave alone.
    mutating func batch(zones: Set<String>) -> BatchPlan {
        var plan = BatchPlan(reload: [], leftToOwner: [], newlyLeft: [])
        for zone in zones.sorted() {
            switch ownership[zone] {
            case .loaded?: continue
            case .forgotten?: plan.reload.append(zone)
            case nil:
                plan.leftToOwner.insert(zone)
                if notOurs.insert(zone).inserted { plan.newlyLeft.append(zone) }
            }
        }
        return plan
    }

    /// The inbox was checked for a batch: checking stops with the first batch that held no event
    /// processed before.
    mutating func inboxChecked(foundProcessed: Bool) {
        if !foundProcessed { checksInbox = false }
    }

    /// A batch's write (touching these zones) failed.
    mutating func writeFailed(_ failure: WriteFailure, touched: Set<String>, events: Int) -> Recovery {
        switch failure {
        case .fenced(let lost):
            for zone in touched where !lost.contains(zone) { forget(zone) }
            for zone in lost {
                ownership[zone] = nil
                notOurs.insert(zone)
            }
            return .decideAgain(lost: lost)
        case .alreadyProcessed:
            for zone in touched { forget(zone) }
            checksInbox = true
            return .decideAgain(lost: [])
        case .refusedData:
            for zone in touched { forget(zone) }
            return events > 1 ? .split : .deadLetter
        }
    }

    /// Memory decided ahead of a write that failed: these zones are reloaded under their lease.
    mutating func forget(_ zone: String) {
        if case .loaded(let epoch)? = ownership[zone] { ownership[zone] = .forgotten(epoch: epoch) }
    }

    /// Whether this worker holds the zone's lease and its memory.
    func holdsMemory(of zone: String) -> Bool {
        if case .loaded? = ownership[zone] { return true }
        return false
    }
}
