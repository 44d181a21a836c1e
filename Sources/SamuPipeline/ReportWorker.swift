import Foundation
import Logging
import Metrics
import RdKafka
import SamuModel
import SamuStore
import ServiceLifecycle

/// The worker: consumes reports, validates them, persists each valid one with its case in one
/// transaction keyed by the report id, dead-letters the rest, stores offsets only after both, and
/// publishes `case.received` through the outbox.
///
/// - Important: Graceful shutdown (SIGTERM, SIGINT) ends the loop at a batch boundary: the batch in
///   hand is committed and its offsets stored, queued outcomes are published, then the consumer
///   leaves the group committing the stored offsets.
public final class ReportWorker: Service {
    public let configuration: SamuConfiguration
    public let catalog: TopicCatalog
    public let store: SamuStore
    public let statistics = WorkerStatistics()
    private let logger: Logger
    private let decoder: ReportDecoder
    private let consumed = Counter(label: "samu_events_consumed_total", dimensions: [("topic", "reports")])
    private let opened = Counter(label: "samu_cases_opened_total")
    private let batchTimer = Metrics.Timer(label: "samu_worker_batch_seconds")

    public init(configuration: SamuConfiguration, catalog: TopicCatalog, store: SamuStore, logger: Logger) {
        self.configuration = configuration
        self.catalog = catalog
        self.store = store
        self.logger = logger
        self.decoder = ReportDecoder(definition: catalog.definition(.reports))
    }

    private var actor: String { "worker:\(configuration.workerID)" }

    public func run() async throws {
        try LibrdKafka.requireSupportedVersion()
        try await store.requireMigrated()
        logger.info(
            "worker starting",
            metadata: [
                "worker.id": "\(configuration.workerID)", "kafka.group": "\(configuration.groupID)",
                "kafka.topic": "\(catalog.name(.reports))", "librdkafka.version": "\(LibrdKafka.versionString)",
            ])
        try await KafkaProducer.withProducer(configuration: configuration.producer, logger: logger) { producer in
            let relay = OutboxRelay(store: store, producer: producer, logger: logger, statistics: statistics)
            let deadLetters = DeadLetterWriter(producer: producer, topic: catalog.name(.deadLetters), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await relay.run() }
                do {
                    try await consume(relay: relay, deadLetters: deadLetters)
                } catch {
                    relay.finish()
                    throw error
                }
                relay.finish()
                try await group.waitForAll()
            }
        }
        logger.info("worker stopped", metadata: ["worker.statistics": "\(statistics.snapshot)"])
    }

    private func consume(relay: OutboxRelay, deadLetters: DeadLetterWriter) async throws {
        let consumer = try KafkaConsumer(
            configuration: configuration.consumer, topics: [catalog.name(.reports)], logger: logger)
        do {
            try await withGracefulShutdownHandler {
                while let event = try await consumer.next(maxMessages: configuration.batchSize) {
                    switch event {
                    case .messages(let batch):
                        try await handle(batch, consumer: consumer, relay: relay, deadLetters: deadLetters)
                    case .assigned(let partitions):
                        logger.info("partitions assigned", metadata: ["kafka.partitions": "\(partitions)"])
                    case .revoked(let partitions):
                        // Batches are handled one at a time, so nothing is in flight here: every
                        // handled message is committed and its offset stored.
                        logger.info("partitions revoked", metadata: ["kafka.partitions": "\(partitions)"])
                    case .lost(let partitions):
                        logger.warning("partitions lost", metadata: ["kafka.partitions": "\(partitions)"])
                    }
                }
            } onGracefulShutdown: {
                consumer.stopConsuming()
            }
        } catch is StoppedWhileRetrying {
            logger.info("stopped while the database was unavailable; the unstored batch will be delivered again")
        } catch {
            try? await consumer.close()
            throw error
        }
        try await consumer.close()
    }

    private func handle(
        _ batch: [KafkaMessage], consumer: KafkaConsumer, relay: OutboxRelay, deadLetters: DeadLetterWriter
    ) async throws {
        let started = ContinuousClock.now
        var accepted: [AcceptedReport] = []
        var letters: [DeadLetter] = []
        var bySource: [UUID: KafkaMessage] = [:]
        let now = Date()
        for message in batch {
            switch decoder.decode(value: message.value, key: message.key, checkKey: true) {
            case .success(let report):
                if bySource[report.id] == nil { bySource[report.id] = message }
                accepted.append(
                    AcceptedReport(
                        report: report, sourceTopic: message.topic, sourcePartition: message.partition,
                        sourceOffset: message.offset))
            case .failure(let rejection):
                letters.append(deadLetter(message, rejection, at: now))
            }
        }
        var outbox: [OutboxRecord] = []
        if !accepted.isEmpty {
            outbox = try await persist(accepted) { item, error in
                // Isolated and still refused by the database: park it with the reason.
                let message = bySource[item.report.id]!
                letters.append(
                    deadLetter(
                        message,
                        Rejection(
                            reason: .unprocessable, detail: "database refused the report: \(String(reflecting: error))"),
                        at: now))
            }
        }
        if !letters.isEmpty { try await deadLetters.write(letters) }
        try consumer.storeOffsets(after: batch)
        await relay.enqueue(outbox)

        consumed.increment(by: Int64(batch.count))
        opened.increment(by: Int64(outbox.count))
        let elapsed = (ContinuousClock.now - started).components
        batchTimer.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
        statistics.update { stats in
            stats.batches += 1
            stats.eventsConsumed += batch.count
            stats.reportsAccepted += accepted.count
            stats.casesOpened += outbox.count
            stats.deadLettered += letters.count
            stats.duplicatesIgnored += max(
                0, accepted.count - outbox.count - letters.filter { $0.rejection.reason == .unprocessable }.count)
        }
        logger.debug(
            "batch handled",
            metadata: [
                "batch.size": "\(batch.count)", "batch.cases": "\(outbox.count)",
                "batch.dead_letters": "\(letters.count)",
                "batch.seconds": "\(ContinuousClock.now - started)",
            ])
    }

    /// Writes the batch, retrying while the database is unavailable; a batch the database refuses
    /// for its data is split so that only the offending reports are refused.
    private func persist(
        _ accepted: [AcceptedReport], refuse: (AcceptedReport, any Error) -> Void
    ) async throws -> [OutboxRecord] {
        var backoff = Duration.milliseconds(100)
        var attempts = 0
        while true {
            do {
                return try await store.recordReports(accepted, outcomesTopic: catalog.name(.outcomes), actor: actor)
            } catch {
                switch StoreFailurePolicy.decide(error) {
                case .deadLetter where accepted.count > 1:
                    var outbox: [OutboxRecord] = []
                    for item in accepted {
                        outbox += try await persist([item], refuse: refuse)
                    }
                    return outbox
                case .deadLetter:
                    refuse(accepted[0], error)
                    return []
                case .retry:
                    attempts += 1
                    statistics.update { $0.storeRetries += 1 }
                    let metadata: Logger.Metadata = [
                        "db.attempt": "\(attempts)", "error": "\(String(reflecting: error))",
                    ]
                    if attempts >= 5 {
                        logger.warning("database unavailable; the batch waits (offsets not stored)", metadata: metadata)
                    } else {
                        logger.info("database write failed; retrying", metadata: metadata)
                    }
                    if Task.isShuttingDownGracefully || Task.isCancelled { throw StoppedWhileRetrying() }
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
            }
        }
    }

    private func deadLetter(_ message: KafkaMessage, _ rejection: Rejection, at time: Date) -> DeadLetter {
        DeadLetter(
            rejection: rejection, sourceTopic: message.topic, sourcePartition: message.partition,
            sourceOffset: message.offset, sourceTimestampMilliseconds: message.timestampMilliseconds, key: message.key,
            value: message.value, headers: message.headers.map { DeadLetter.Header(name: $0.name, value: $0.value) },
            rejectedAt: time, rejectedBy: actor)
    }
}

/// The worker was asked to stop while it waited for the database; nothing was stored.
struct StoppedWhileRetrying: Error {}
