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
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ change: (inout Snapshot) -> Void) {
        state.withLock { change(&$0) }
    }
}
