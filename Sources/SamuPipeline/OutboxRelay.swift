import Foundation
import Logging
import Metrics
import RdKafka
import SamuStore
import Synchronization

/// Publishes outbox rows: the rows a worker just committed (handed over in memory, published at
/// once) and, by a periodic sweep, rows left unpublished by a crash or a failed delivery.
///
/// Every row keeps its id and bytes, so a row published twice (a crash between the delivery and
/// the "published" mark) is a byte-identical duplicate that consumers dedupe by `event_id`.
///
/// The "published" marks ride on the worker's next batch write (``takeDelivered()``), so they cost
/// no round trip of their own; when no batch comes within ``markInterval``, the relay writes them.
public final class OutboxRelay: Sendable {
    private let store: SamuStore
    private let producer: KafkaProducer
    private let logger: Logger
    private let queue = BoundedQueue<OutboxRecord>(capacity: 20_000)
    /// Published batches awaiting their delivery reports, at most this many at once.
    private let window = DeliveryWindow(limit: 8)
    /// Rows queued or being published, so that the sweep does not queue them a second time.
    private let inFlight = Mutex(Set<UUID>())
    /// Rows delivered to the brokers whose "published" mark is not written yet.
    private let delivered = Mutex([UUID]())
    /// Rows marked published while a query for unpublished rows ran (``unpublished(_:)``): its
    /// answer may predate their marks, and they left the in-flight set meanwhile.
    private let markedDuringQueries = Mutex<(queries: Int, ids: Set<UUID>)>((0, []))
    private let published = Counter(label: "samu_outbox_published_total")
    private let failed = Counter(label: "samu_outbox_publish_failures_total")
    private let parked = Counter(label: "samu_outbox_parked_total")
    let statistics: WorkerStatistics
    /// A database call of the relay that does not answer in this time is abandoned (the rows stay
    /// unpublished and the sweep takes them again): a stuck call must not stop publication.
    static let callDeadline = Duration.seconds(30)
    let sweepInterval: Duration
    let sweepAge: Duration
    /// The longest a delivered row waits for a batch write to carry its "published" mark.
    static let markInterval = Duration.milliseconds(500)

    /// The worker whose zones' rows the sweep republishes (the holder of their leases).
    let owner: String
    let trace: (any StageTrace)?

    init(
        store: SamuStore, producer: KafkaProducer, owner: String, logger: Logger, statistics: WorkerStatistics,
        trace: (any StageTrace)? = nil, sweepInterval: Duration = .seconds(5), sweepAge: Duration = .seconds(5)
    ) {
        self.trace = trace
        self.owner = owner
        self.store = store
        self.producer = producer
        self.logger = logger
        self.statistics = statistics
        self.sweepInterval = sweepInterval
        self.sweepAge = sweepAge
    }

    /// Queues freshly committed rows for publication (waits while the relay is far behind).
    func enqueue(_ records: [OutboxRecord]) async {
        if records.isEmpty { return }
        inFlight.withLock { $0.formUnion(records.map(\.id)) }
        await queue.push(records)
    }

    /// This worker no longer holds these zones (revoked, or fenced by a newer lease): their rows
    /// still queued leave the queue unpublished. The zones' new owner publishes them, in commit
    /// order and before any row of its own (``handOver(_:)``); a row this relay had already handed
    /// to the producer may still be delivered, as a byte-identical duplicate.
    func drop(zones: Set<String>) {
        if zones.isEmpty { return }
        let dropped = queue.removeAll { ($0.area ?? $0.key).map(zones.contains) ?? false }
        if dropped.isEmpty { return }
        inFlight.withLock { $0.subtract(dropped.map(\.id)) }
        logger.info(
            "queued outbox rows of zones this worker lost left to their new owner",
            metadata: ["outbox.count": "\(dropped.count)"])
    }

    /// Rows a previous owner of newly leased zones left unpublished, queued ahead of anything this
    /// worker decides for those zones: a case's outcomes keep their commit order across a takeover.
    func handOver(_ query: () async throws -> [OutboxRecord]) async rethrows {
        let fresh = try await unpublished(query)
        if fresh.isEmpty { return }
        logger.info(
            "publishing outbox rows a previous owner of these zones left unpublished",
            metadata: ["outbox.count": "\(fresh.count)"])
        await queue.push(fresh)
    }

    /// A stop that cannot wait any longer for the brokers: the rows still queued are not handed to
    /// the producer (they stay unpublished in the outbox, for the next start).
    func abandonQueued() {
        let dropped = queue.removeAll { _ in true }
        inFlight.withLock { $0.subtract(dropped.map(\.id)) }
    }

    /// No more rows will be enqueued: ``run()`` publishes what is queued, then returns.
    func finish() {
        queue.finish()
    }

    func run() async {
        await withTaskGroup(of: Void.self) { sweeper in
            sweeper.addTask { await self.sweepUntilCancelled() }
            sweeper.addTask { await self.markUntilCancelled() }
            await publishUntilFinished()
            sweeper.cancelAll()
        }
        await markDelivered()
    }

    /// The delivered rows whose marks the caller's write will carry (give them back if it fails).
    func takeDelivered() -> [UUID] {
        delivered.withLock { rows in
            defer { rows.removeAll(keepingCapacity: true) }
            return rows
        }
    }

    /// A write that carried these marks failed: they go with the next one.
    func giveBack(_ ids: [UUID]) {
        if ids.isEmpty { return }
        delivered.withLock { $0.append(contentsOf: ids) }
    }

    /// A write that carried these marks committed: the rows are done.
    func marked(_ ids: [UUID]) {
        if ids.isEmpty { return }
        markedDuringQueries.withLock { tracking in
            if tracking.queries > 0 { tracking.ids.formUnion(ids) }
        }
        inFlight.withLock { $0.subtract(ids) }
    }

    /// Runs a query for unpublished rows and returns those that are not already queued, in the
    /// producer or marked published since the query began (the database's answer can predate a
    /// mark written meanwhile): each row goes out once. The rows returned are in flight.
    func unpublished(_ query: () async throws -> [OutboxRecord]) async rethrows -> [OutboxRecord] {
        markedDuringQueries.withLock { $0.queries += 1 }
        defer {
            markedDuringQueries.withLock { tracking in
                tracking.queries -= 1
                if tracking.queries == 0 { tracking.ids.removeAll() }
            }
        }
        let rows = try await query()
        let markedMeanwhile = markedDuringQueries.withLock { $0.ids }
        return inFlight.withLock { inFlight in
            let fresh = rows.filter { !inFlight.contains($0.id) && !markedMeanwhile.contains($0.id) }
            inFlight.formUnion(fresh.map(\.id))
            return fresh
        }
    }

    private func markUntilCancelled() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.markInterval)
            await markDelivered()
        }
    }

    /// Writes the marks no batch carried.
    private func markDelivered() async {
        let ids = takeDelivered()
        if ids.isEmpty { return }
        do {
            let store = self.store
            try await withDeadline(Self.callDeadline) { try await store.markPublished(ids) }
            marked(ids)
        } catch {
            giveBack(ids)
            logger.info("could not mark outbox rows published", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    private func sweepUntilCancelled() async {
        while !Task.isCancelled {
            do {
                let store = self.store
                let age = sweepAge
                let owner = self.owner
                let fresh = try await unpublished {
                    try await withDeadline(Self.callDeadline) {
                        try await store.unpublishedOutbox(olderThan: age, limit: 1000, leaseOwner: owner)
                    }
                }
                if !fresh.isEmpty {
                    logger.info(
                        "republishing outbox rows left unpublished", metadata: ["outbox.count": "\(fresh.count)"])
                    await queue.push(fresh)
                }
            } catch is CancellationError {
                return
            } catch {
                logger.info("outbox sweep failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: sweepInterval)
        }
    }

    /// Hands queued rows to the producer in commit order. Each batch's delivery reports are
    /// settled by a handler on the producer's delivery thread (``complete(_:_:)``), with no task
    /// waiting per batch; at most eight batches (``window``) await their reports at once.
    private func publishUntilFinished() async {
        while let records = await queue.pop(limit: 1000) {
            let kafkaRecords = records.map { record in
                var headers = [
                    KafkaHeader(name: "samu-event-id", string: record.id.lowercased),
                    KafkaHeader(name: "content-type", string: "application/json"),
                ]
                if let trace { headers += trace.headers(for: record.id) }
                return KafkaRecord(
                    topic: record.topic, key: record.key.map { Array($0.utf8) }, value: Array(record.payload.utf8),
                    headers: headers,
                    timestampMilliseconds: record.recordTime.map { Int64($0.timeIntervalSince1970 * 1000) })
            }
            await window.acquire()
            // Submitted in order here; the reports are settled as they come.
            let deliveries = await producer.submit(kafkaRecords)
            deliveries.whenComplete { results in self.complete(records, results) }
        }
        await window.drained()
    }

    /// A batch's delivery reports are in: delivered rows wait for their "published" mark, others
    /// are recorded as failed (retried by the sweep) or parked (refused for good). Runs on the
    /// producer's delivery thread: the failures' logging and database call run in a task of their own.
    private func complete(_ records: [OutboxRecord], _ results: KafkaDeliveryBatch.Results) {
        var delivered: [UUID] = []
        var undelivered: [UUID] = []
        var refused: [UUID] = []
        var lastError: KafkaError?
        for (record, result) in zip(records, results) {
            switch result {
            case .success: delivered.append(record.id)
            case .failure(let error) where error.refusesRecord:
                refused.append(record.id)
                lastError = error
            case .failure(let error):
                undelivered.append(record.id)
                lastError = error
            }
        }
        self.delivered.withLock { $0.append(contentsOf: delivered) }
        published.increment(by: Int64(delivered.count))
        statistics.update { $0.outcomesPublished += delivered.count }
        guard let lastError else {
            window.release()
            return
        }
        // Too large (or refused by the topic) for good: parked with an alert rather than swept
        // every few seconds for ever; the rest of the outbox flows on.
        parked.increment(by: Int64(refused.count))
        statistics.update { $0.outboxParked += refused.count }
        failed.increment(by: Int64(undelivered.count))
        let store = self.store
        let logger = self.logger
        let failure = lastError.description
        let (retried, refusedForGood) = (undelivered, refused)
        // The logging and the database call run in a task: a log handler must not hold the
        // producer's delivery thread.
        Task {
            if !refusedForGood.isEmpty {
                logger.error(
                    "outbox rows refused by the broker for good; parked in the outbox (parked_at)",
                    metadata: ["outbox.count": "\(refusedForGood.count)", "kafka.error": "\(failure)"])
            }
            if !retried.isEmpty {
                logger.warning(
                    "outbox rows not delivered; the sweep retries them",
                    metadata: ["outbox.count": "\(retried.count)", "kafka.error": "\(failure)"])
            }
            _ = try? await withDeadline(Self.callDeadline) {
                try await store.markPublishFailed(retried, parked: refusedForGood, error: failure)
            }
            // Undelivered rows leave the in-flight set once their failure is recorded (the sweep
            // takes them again, parked ones never); delivered ones when their mark is written.
            self.inFlight.withLock { $0.subtract(retried + refusedForGood) }
            self.window.release()
        }
    }
}
