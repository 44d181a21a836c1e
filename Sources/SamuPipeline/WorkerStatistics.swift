import Synchronization

/// Running totals of one worker process, for logs, the summary and tests.
public final class WorkerStatistics: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var eventsConsumed = 0
        public var reportsAccepted = 0
        public var casesOpened = 0
        public var decisions = 0
        /// Inputs the dispatcher refused (stale versions, unknown cases, illegal moves).
        public var inputsRejected = 0
        public var duplicatesIgnored = 0
        public var deadLettered = 0
        public var outcomesPublished = 0
        public var storeRetries = 0
        /// Writes refused because another worker had taken the zone over.
        public var fencedWrites = 0
        public var batches = 0
        /// Batches the database refused for their data, split to find the events at fault.
        public var batchesSplit = 0
        /// Events reusing an id already processed for another payload (dead-lettered).
        public var conflictingDuplicates = 0
        /// Dead letters the broker refused, kept in PostgreSQL instead.
        public var deadLettersParked = 0
        /// Outcome rows the broker refused for good, parked in the outbox.
        public var outboxParked = 0
        /// Events keyed by a grouped zone, published again under their dispatch area's key.
        public var eventsForwarded = 0
        /// Set while the worker cannot move on (the database or the dead-letter topic refuses it).
        public var stuck: Stuck?
    }

    /// Why and since when the worker has not been able to finish the batch in hand.
    public struct Stuck: Sendable, Equatable {
        public var since: ContinuousClock.Instant
        public var reason: String
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ change: (inout Snapshot) -> Void) {
        state.withLock { change(&$0) }
    }
}
