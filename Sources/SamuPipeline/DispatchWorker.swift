import Crypto
import Foundation
import Logging
import Metrics
import RdKafka
import SamuDispatchCore
import SamuModel
import SamuStore
import SamuTriage
import ServiceLifecycle
import Synchronization

/// The worker: consumes reports, unit and bed reports and operator commands; validates each
/// event; triages reports; lets each zone's dispatcher decide; writes everything a batch changed
/// in one transaction with the events' ids (the inbox); dead-letters bad input; stores offsets only
/// after both; publishes outcomes through the outbox.
///
/// - Important: Graceful shutdown (SIGTERM, SIGINT) ends the loop at a batch boundary: the batch in
///   hand is committed and its offsets stored, queued outcomes are published, then the consumer
///   leaves the group committing the stored offsets.
public final class DispatchWorker: Service {
    public let configuration: SamuConfiguration
    public let catalog: TopicCatalog
    public let store: SamuStore
    public let triage: TriageEngine
    public let neighbours: [String: [String]]
    /// The deployment's dispatch areas: the worker owns and decides areas (a zone in no declared
    /// area is its own).
    public let areas: DispatchAreas
    public let partnerFeed: PartnerFeed.Configuration?
    /// The zones events may name (the deployment's provinces and prefectures).
    public let zoneDirectory: ZoneDirectory
    /// A benchmark's stage stamps (none in the product).
    let trace: (any StageTrace)?
    public let statistics = WorkerStatistics()
    let logger: Logger
    let decoder: InboundDecoder
    let storeRetry: StoreRetry
    let consumed = Counter(label: "samu_events_consumed_total")
    let opened = Counter(label: "samu_cases_opened_total")
    let batchTimer = Metrics.Timer(label: "samu_worker_batch_seconds")
    let conflicts = Counter(label: "samu_conflicting_duplicates_total")
    let forwarded = Counter(label: "samu_events_forwarded_total")
    let splits = Counter(label: "samu_batches_split_total")
    let gauges = WorkerGauges()
    let producerBox = Mutex<KafkaProducer?>(nil)
    /// The worker's producer while it runs (readiness checks ask the broker through it).
    public var producer: KafkaProducer? { producerBox.withLock { $0 } }
    let started = ContinuousClock.now
    static let tickInterval = Duration.seconds(1)
    /// How long a stopping worker waits for queued outcomes to be delivered.
    static let publishGrace = Duration.seconds(10)
    /// After the grace period, how often the stop purges what the producer still holds.
    static let purgeInterval = Duration.milliseconds(250)
    /// The longest a single database call may take before it is abandoned and retried.
    static let attemptDeadline = Duration.seconds(30)

    public init(
        configuration: SamuConfiguration, catalog: TopicCatalog, store: SamuStore, triage: TriageEngine,
        zones: ZoneDirectory, neighbours: [String: [String]] = [:], areas: DispatchAreas = .none,
        partnerFeed: PartnerFeed.Configuration? = nil, trace: (any StageTrace)? = nil, logger: Logger
    ) {
        self.areas = areas
        self.zoneDirectory = zones
        self.trace = trace
        self.partnerFeed = partnerFeed
        self.configuration = configuration
        self.catalog = catalog
        self.store = store
        self.triage = triage
        self.neighbours = neighbours
        self.logger = logger
        self.decoder = InboundDecoder(catalog: catalog, zones: zones, areas: areas)
        self.storeRetry = StoreRetry(
            logger: logger, statistics: statistics, unwritable: Gauge(label: "samu_database_unwritable"),
            attemptDeadline: Self.attemptDeadline)
    }

    var actor: String { "worker:\(configuration.workerID)" }

    public func run() async throws {
        try LibrdKafka.requireSupportedVersion()
        _ = MemoryTuning.applied
        // The store's pool starts beside the worker (a service before it in the group).
        await store.waitUntilRunning()
        try await store.checkSettings()
        try await store.requireMigrated()
        logger.info(
            "worker starting",
            metadata: [
                "worker.id": "\(configuration.workerID)", "kafka.group": "\(configuration.groupID)",
                "kafka.topics": "\(TopicRole.inbound.map { catalog.name($0) })",
                "librdkafka.version": "\(LibrdKafka.versionString)", "triage.rules": "\(triage.rules.version)",
            ])
        try await KafkaProducer.withProducer(configuration: configuration.producer, logger: logger) { producer in
            producerBox.withLock { $0 = producer }
            defer { producerBox.withLock { $0 = nil } }
            let relay = OutboxRelay(
                store: store, producer: producer, owner: configuration.workerID, logger: logger,
                statistics: statistics, trace: trace)
            let deadLetters = DeadLetterWriter(
                producer: producer, topic: catalog.name(.deadLetters), store: store, statistics: statistics,
                logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await relay.run() }
                // The partner feed runs beside the consumer and stops before the relay finishes.
                let feed = partnerFeed.map { configuration in
                    let feed = PartnerFeed(
                        store: store, configuration: configuration, topic: { [catalog] in catalog.partnerTopic($0) },
                        logger: logger)
                    return Task { await feed.run(relay: relay) }
                }
                do {
                    try await consume(relay: relay, deadLetters: deadLetters)
                } catch {
                    feed?.cancel()
                    await feed?.value
                    relay.finish()
                    throw error
                }
                feed?.cancel()
                await feed?.value
                relay.finish()
                // Publishing what is queued may wait for the brokers; bound the stop: after the
                // grace period the relay's queue is dropped and undelivered rows are purged; they
                // stay in the outbox for the next start. A batch the relay was handing over when
                // the purge came reaches the producer after it: the purge is repeated until the
                // relay is done, instead of leaving that batch to `message.timeout.ms`.
                let watchdog = Task {
                    try await Task.sleep(for: Self.publishGrace)
                    logger.warning("outcomes still unpublished at shutdown; left in the outbox for the next start")
                    relay.abandonQueued()
                    while true {
                        producer.purgeOutstanding()
                        try await Task.sleep(for: Self.purgeInterval)
                    }
                }
                try await group.waitForAll()
                watchdog.cancel()
            }
        }
        logger.info("worker stopped", metadata: ["worker.statistics": "\(statistics.snapshot)"])
    }

    /// The zones this worker decides for: their dispatchers (memory) and what it owns.
    struct Zones {
        var dispatchers: [String: ZoneDispatcher] = [:]
        /// Leases, zones left to other workers, inbox checks: every ownership decision.
        var machine: WorkerStateMachine
        var lastTick = ContinuousClock.now

        init(partition: @escaping @Sendable (String) -> Int32) {
            machine = WorkerStateMachine(partition: partition)
        }

        /// Forgets a zone's memory but keeps its lease: the zone is reloaded from PostgreSQL under
        /// the same epoch (never taking it from a worker that took it since: that worker's newer
        /// epoch refuses this one's next write).
        mutating func forget(_ zone: String) {
            dispatchers[zone] = nil
            machine.forget(zone)
        }

        /// Drops the memory of every zone the state machine no longer has loaded.
        mutating func sync() {
            for zone in Array(dispatchers.keys) where !machine.holdsMemory(of: zone) { dispatchers[zone] = nil }
        }

        /// Takes a zone's dispatcher out of the dictionary while it is changed, then puts it back:
        /// a dispatcher copied out of the dictionary and changed would copy all of its tables
        /// (copy on write), once per event.
        mutating func taking(_ zone: String) -> ZoneDispatcher? {
            dispatchers.removeValue(forKey: zone)
        }
    }

    /// Takes over the zones of newly assigned partitions: every zone of the deployment that travels
    /// in them (and any other zone with stored units, shelters or open cases) is leased, and its
    /// units, shelters, open cases and queue are rebuilt from PostgreSQL. Leases are taken here and
    /// only here (``WorkerStateMachine``).
    ///
    /// Outcomes the zones' previous owner left unpublished are queued for publication before any
    /// event of these zones is handled: a case's outcomes reach the topic in commit order.
    func rebuild(_ partitions: Set<Int32>, zones: inout Zones, relay: OutboxRelay) async throws {
        let store = self.store
        let known = Set(try await retrying { try await store.knownZones() }).union(zoneDirectory.codes)
        let taking = zones.machine.assigned(partitions, zones: Array(Set(known.map(areas.area(of:)))))
        zones.sync()
        try await load(taking, leasing: true, zones: &zones)
        if !taking.isEmpty {
            // Rows written for these areas, and rows written before areas keyed by their zones.
            let owned = taking + areas.zones(of: taking)
            try await relay.handOver { try await retrying { try await store.unpublishedOutbox(zones: owned) } }
        }
    }

    /// Loads these zones' state from PostgreSQL: under new leases (a new epoch each, so that a
    /// previous owner's writes are refused from now on) after an assignment, or under the leases
    /// this worker holds when it reloads zones it forgot.
    func load(_ taking: [String], leasing: Bool, zones: inout Zones) async throws {
        if taking.isEmpty { return }
        let owner = configuration.workerID
        let store = self.store
        var epochs: [String: Int64] = [:]
        if leasing {
            epochs = try await retrying { try await store.takeLeases(taking, owner: owner) }
        } else {
            for zone in taking { epochs[zone] = zones.machine.epoch(of: zone) }
        }
        let areas = self.areas
        let states = try await retrying { try await store.zoneStates(areas.zones(of: taking)) }
        let exchanges = try await retrying { try await store.openAidExchanges(areas: taking) }
        let now = instant()
        var restoredCases = 0
        for zoneID in taking {
            var zone = dispatcher(zoneID, in: &zones)
            // An area's state: its zones' units, shelters and open cases together.
            var state = SamuStore.ZoneState()
            for member in areas.zones(of: zoneID) {
                guard let part = states[member] else { continue }
                state.units += part.units
                state.shelters += part.shelters
                state.cases += part.cases
            }
            zone.restore(
                units: state.units, shelters: state.shelters,
                cases: state.cases.map {
                    RestoredCase(
                        triaged: $0.triaged, status: $0.status, unitID: $0.unitID, holds: $0.holds,
                        decisions: $0.decisions, claimedBy: $0.claimedBy, referralPending: $0.referralPending,
                        crewResolution: $0.crewResolution, referralDue: $0.referralDue, decidedAt: $0.decidedAt,
                        heldAt: $0.heldAt, escalated: $0.escalated)
                }, exchanges: exchanges[zoneID] ?? [], at: now)
            restoredCases += state.cases.count
            zones.dispatchers[zoneID] = zone
        }
        zones.machine.loaded(epochs)
        if restoredCases > 0 || !states.isEmpty {
            logger.info(
                "zones rebuilt from the database",
                metadata: ["zone.count": "\(taking.count)", "case.count": "\(restoredCases)"])
        }
    }

    func consume(relay: OutboxRelay, deadLetters: DeadLetterWriter) async throws {
        let consumer = try KafkaConsumer(
            configuration: configuration.consumer, topics: TopicRole.inbound.map { catalog.name($0) }, logger: logger)
        let partitions = catalog.definition(.reports).partitions
        var zones = Zones { KafkaPartitioner.partition(forZone: $0, partitions: partitions) }
        // One batch's write runs while the next batch is decided (two batches in hand at most):
        // the database and the worker's own work overlap instead of taking turns.
        var inFlight: InFlight?
        func drain() async throws {
            guard let flight = inFlight else { return }
            inFlight = nil
            _ = try await complete(
                flight, next: nil, zones: &zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
        }
        do {
            try await withGracefulShutdownHandler {
                while let event = try await consumer.next(
                    maxMessages: configuration.batchSize, timeout: inFlight == nil ? Self.tickInterval : .zero)
                {
                    if case .messages(let batch) = event {
                        if batch.isEmpty {
                            // Nothing new: the write in flight is the only work left.
                            try await drain()
                        } else {
                            var next: PendingBatch? = try await prepare(batch, zones: &zones)
                            if let flight = inFlight {
                                inFlight = nil
                                next = try await complete(
                                    flight, next: next, zones: &zones, consumer: consumer, relay: relay,
                                    deadLetters: deadLetters)
                            }
                            if let next { inFlight = start(next, relay: relay) }
                        }
                    } else {
                        // A rebalance acts on everything decided so far: it must be written first.
                        try await drain()
                    }
                    switch event {
                    case .messages: break
                    case .assigned(let partitions):
                        // The assignment takes effect at the next `next()`: the zones are rebuilt
                        // from PostgreSQL before any of their events is consumed.
                        logger.info("partitions assigned", metadata: ["kafka.partitions": "\(partitions)"])
                        try await rebuild(Set(partitions.map(\.partition)), zones: &zones, relay: relay)
                    case .revoked(let partitions), .lost(let partitions):
                        // The write in flight was finished above, so everything handled is committed
                        // and stored. The zones of those partitions now belong to another worker.
                        let leaving = zones.machine.revoked(Set(partitions.map(\.partition)))
                        zones.sync()
                        relay.drop(zones: Set(leaving + areas.zones(of: leaving)))
                        logger.info("partitions revoked", metadata: ["kafka.partitions": "\(partitions)"])
                    }
                    if ContinuousClock.now - zones.lastTick >= Self.tickInterval {
                        // A producer librdkafka declared dead (a fatal idempotence error) publishes
                        // nothing any more: deciding on would commit cases whose outcomes never
                        // leave the outbox. The worker stops with the error, to be restarted.
                        if let fatal = producer?.fatalError { throw fatal }
                        try await drain()
                        try await tick(zones: &zones, relay: relay)
                        gauges.update(zones: zones.dispatchers, lag: consumer.lag())
                    }
                }
                try await drain()
            } onGracefulShutdown: {
                self.logger.info("stopping: finishing the batch in hand")
                consumer.stopConsuming()
            }
        } catch is StoppedWhileRetrying {
            await abandon(inFlight, relay: relay)
            logger.info("stopped while the database was unavailable; the unstored batch will be delivered again")
        } catch {
            await abandon(inFlight, relay: relay)
            try? await consumer.close()
            throw error
        }
        logger.info("stopping: committing offsets and leaving the group")
        try await consumer.close()
        logger.info("stopping: left the group")
    }

    /// Publishes events that came keyed by a grouped zone again under their area's key, and
    /// returns once the broker has them all (retrying while it is unreachable; a stopping worker
    /// stops retrying and stores nothing, so the batch comes again). Applied once: the area's
    /// worker checks the inbox by event id.
    func forward(_ records: [KafkaRecord]) async throws {
        var pending = records
        var backoff = Duration.milliseconds(100)
        while true {
            guard let producer else { throw StoppedWhileRetrying() }
            let results = await producer.send(pending)
            var retry: [KafkaRecord] = []
            for (record, result) in zip(pending, results) {
                guard case .failure(let error) = result else { continue }
                if error.isFatal || error.refusesRecord { throw error }
                retry.append(record)
            }
            forwarded.increment(by: Int64(pending.count - retry.count))
            statistics.update { $0.eventsForwarded += pending.count - retry.count }
            if retry.isEmpty { return }
            logger.warning("forwarded events not delivered; retrying", metadata: ["event.count": "\(retry.count)"])
            if Task.isShuttingDownGracefully || Task.isCancelled { throw StoppedWhileRetrying() }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
            pending = retry
        }
    }

    /// A write left in flight by an error: cancelled (its retries stop) and awaited; its batch's
    /// offsets were not stored, so its events come again.
    func abandon(_ flight: InFlight?, relay: OutboxRelay) async {
        guard let flight else { return }
        flight.task.cancel()
        _ = await flight.task.value
        // Marking a row twice is harmless; a mark lost would republish the row at the next start.
        relay.giveBack(flight.marks)
    }

    func instant() -> DispatchInstant {
        DispatchInstant(wall: Date(), monotonic: ContinuousClock.now - started)
    }

    func dispatcher(_ zone: String, in zones: inout Zones) -> ZoneDispatcher {
        if let existing = zones.dispatchers[zone] { return existing }
        var settings = DispatchConfiguration()
        settings.neighbours = neighbours[zone] ?? []
        settings.areaZones = areas.zonesOfArea.compactMapValues(\.first)
        settings.escalationAfter = [
            .p1: .seconds(configuration.escalateP1Seconds), .p2: .seconds(configuration.escalateP2Seconds),
        ]
        settings.aidTimeout = .seconds(configuration.aidTimeoutSeconds)
        return ZoneDispatcher(zone: zone, configuration: settings)
    }

    /// A batch's write, running while the next batch is decided.
    struct InFlight {
        var pending: PendingBatch
        var marks: [UUID]
        var task: Task<Swift.Result<[OutboxRecord], any Error>, Never>
    }

    /// What became of a batch's write.
    enum Resolution {
        /// Committed: publish these outcome rows.
        case written([OutboxRecord])
        /// Refused for its data: its events were added to the batch's dead letters.
        case deadLettered
        /// Refused for its data, with more than one event: split in halves and written again, until
        /// only the events at fault are dead-lettered.
        case split
        /// Nothing was written (fenced, or an event processed before): handle the batch again.
        case refused
    }

    /// Starts a batch's write (with the relay's pending "published" marks) in a task of its own.
    func start(_ pending: PendingBatch, relay: OutboxRelay) -> InFlight {
        let marks = relay.takeDelivered()
        let encoded = pending.encoded ?? SamuStore.encode(pending.recorder.write)
        let (events, outcomes) = (pending.recorder.write.processed.count, encoded.outbox.count)
        let store = self.store
        let logger = self.logger
        let task = Task { () -> Swift.Result<[OutboxRecord], any Error> in
            let started = ContinuousClock.now
            let result: Swift.Result<[OutboxRecord], any Error>
            do {
                result = .success(try await self.retrying { try await store.write(encoded, published: marks) })
            } catch {
                result = .failure(error)
            }
            let took = (ContinuousClock.now - started).components
            logger.debug(
                "batch written",
                metadata: [
                    "batch.events": "\(events)", "outbox.count": "\(outcomes)",
                    "db.microseconds": "\(took.seconds * 1_000_000 + took.attoseconds / 1_000_000_000_000)",
                ])
            return result
        }
        return InFlight(pending: pending, marks: marks, task: task)
    }

    /// Waits for a batch's write and settles the zones' memory with its result.
    func resolve(
        _ flight: InFlight, zones: inout Zones, relay: OutboxRelay
    ) async throws -> (PendingBatch, Resolution) {
        var pending = flight.pending
        // The write runs in a task of its own: a cancellation of this one must reach it (its
        // retries end with StoppedWhileRetrying instead of waiting for a database that is gone).
        let result = await withTaskCancellationHandler {
            await flight.task.value
        } onCancel: {
            flight.task.cancel()
        }
        switch result {
        case .success(let written):
            relay.marked(flight.marks)
            if let trace { trace.stamp(written.lazy.map(\.id), [trace.now()]) }
            return (pending, .written(written))
        case .failure(let error):
            relay.giveBack(flight.marks)
            switch error {
            case let failure as ZoneFenced:
                // Another worker took these zones (its lease epoch is newer): they are dropped and
                // their events left to it; the other zones this batch touched are reloaded, since
                // memory ran ahead of the refused write.
                logger.warning(
                    "zones taken over by another worker: write refused (fenced), zones dropped",
                    metadata: ["zone.ids": "\(failure.zones)"])
                statistics.update { $0.fencedWrites += 1 }
                let recovery = zones.machine.writeFailed(
                    .fenced(zones: Set(failure.zones)), touched: pending.touched, events: pending.batch.count)
                zones.sync()
                if case .decideAgain(let lost) = recovery { relay.drop(zones: Set(lost).union(areas.zones(of: lost))) }
                return (pending, .refused)
            case is AlreadyProcessed:
                logger.info(
                    "an event was processed before (a redelivery); the batch is handled again, checked against the inbox",
                    metadata: ["zone.ids": "\(pending.touched.sorted())"])
                _ = zones.machine.writeFailed(.alreadyProcessed, touched: pending.touched, events: pending.batch.count)
                zones.sync()
                return (pending, .refused)
            case let failure as DeterministicStoreFailure:
                // The database refused the batch for its data: the zones' memory no longer matches
                // it (forgotten, reloaded under the same leases).
                let recovery = zones.machine.writeFailed(
                    .refusedData, touched: pending.touched, events: pending.batch.count)
                zones.sync()
                if recovery == .split {
                    // Split in halves, each written on its own, down to the events at fault.
                    logger.warning(
                        "batch refused by the database for its data; splitting it to find the events at fault",
                        metadata: ["batch.events": "\(pending.batch.count)", "error": "\(failure)"])
                    splits.increment()
                    statistics.update { $0.batchesSplit += 1 }
                    return (pending, .split)
                }
                // One event the database refuses for its data: park it with the reason; the rest
                // of the stream goes on.
                logger.error(
                    "event refused by the database; dead-lettered", metadata: ["error": "\(failure)"])
                let processed = Set(pending.recorder.write.processed.map(\.eventID))
                for (message, event) in pending.decoded where processed.contains(event.eventID) {
                    pending.letters.append(
                        deadLetter(
                            message,
                            Rejection(reason: .unprocessable, detail: "database refused the event: \(failure)"),
                            at: pending.wall))
                }
                // Nothing of it was written: no case, decision or report to count.
                pending.recorder.write.newCases = []
                pending.recorder.write.decisions = []
                pending.reports = 0
                return (pending, .deadLettered)
            default:
                throw error
            }
        }
    }

    /// After a batch is written (or dead-lettered): its outcomes, its forwards and dead letters,
    /// its offsets. The outcomes are committed: they go to the relay first, so that they do not
    /// wait for the broker to acknowledge the batch's forwarded events and dead letters (which
    /// the offsets do wait for).
    func finish(
        _ pending: PendingBatch, outbox: [OutboxRecord], zones: Zones, consumer: KafkaConsumer, relay: OutboxRelay,
        deadLetters: DeadLetterWriter
    ) async throws {
        let batch = pending.batch
        await relay.enqueue(outbox)
        if !pending.forwards.isEmpty { try await forward(pending.forwards) }
        if !pending.letters.isEmpty {
            try await deadLetters.write(pending.letters)
            let conflicting = pending.letters.count { $0.rejection.reason == .conflictingDuplicate }
            for letter in pending.letters where letter.rejection.reason == .conflictingDuplicate {
                // Logged once it is written: a batch decided again may flag an event differently.
                logger.error(
                    "event id reused with a different payload; the first one stands, this one is dead-lettered",
                    metadata: [
                        "kafka.topic": "\(letter.sourceTopic)", "kafka.partition": "\(letter.sourcePartition)",
                        "kafka.offset": "\(letter.sourceOffset)",
                    ])
            }
            if conflicting > 0 {
                conflicts.increment(by: Int64(conflicting))
                statistics.update { $0.conflictingDuplicates += conflicting }
            }
        }
        // A fenced zone's partition belongs to another worker now: store nothing for it.
        let lostPartitions = zones.machine.lostPartitions
        try consumer.storeOffsets(after: batch.filter { !lostPartitions.contains($0.partition) })

        let write = pending.recorder.write
        consumed.increment(by: Int64(batch.count))
        opened.increment(by: Int64(write.newCases.count))
        let elapsed = (ContinuousClock.now - pending.begin).components
        let nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
        batchTimer.recordNanoseconds(nanoseconds)
        gauges.recordDecisions(write.decisions, latencyNanoseconds: nanoseconds)
        statistics.update { stats in
            stats.batches += 1
            stats.eventsConsumed += batch.count
            stats.reportsAccepted += pending.reports
            stats.casesOpened += write.newCases.count
            stats.decisions += write.decisions.count
            stats.duplicatesIgnored += pending.decoded.count - write.processed.count
            stats.deadLettered += pending.letters.count
            stats.inputsRejected += pending.rejected
        }
    }

    /// Waits for the write in flight and finishes its batch. `next` was decided on memory that
    /// assumed that write: when it was refused, `next` is decided again (its zones rebuilt) and
    /// returned in its place.
    func complete(
        _ flight: InFlight, next: PendingBatch?, zones: inout Zones, consumer: KafkaConsumer, relay: OutboxRelay,
        deadLetters: DeadLetterWriter
    ) async throws -> PendingBatch? {
        let (pending, resolution) = try await resolve(flight, zones: &zones, relay: relay)
        switch resolution {
        case .written(let outbox):
            try await finish(
                pending, outbox: outbox, zones: zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            return next
        case .deadLettered, .refused, .split:
            if let next { for zone in next.touched { zones.forget(zone) } }
            switch resolution {
            case .deadLettered:
                try await finish(
                    pending, outbox: [], zones: zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            case .split:
                try await split(
                    pending.batch, zones: &zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            default:
                try await handle(
                    pending.batch, zones: &zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            }
            guard let next else { return nil }
            return try await prepare(next.batch, zones: &zones)
        }
    }

    /// Handles a batch on its own: decides it, writes it, finishes it (again while refused).
    func handle(
        _ batch: [KafkaMessage], zones: inout Zones, consumer: KafkaConsumer, relay: OutboxRelay,
        deadLetters: DeadLetterWriter
    ) async throws {
        var pending = try await prepare(batch, zones: &zones)
        while true {
            let (settled, resolution) = try await resolve(start(pending, relay: relay), zones: &zones, relay: relay)
            switch resolution {
            case .written(let outbox):
                return try await finish(
                    settled, outbox: outbox, zones: zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            case .deadLettered:
                return try await finish(
                    settled, outbox: [], zones: zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            case .split:
                return try await split(
                    batch, zones: &zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
            case .refused:
                pending = try await prepare(batch, zones: &zones)
            }
        }
    }

    /// Handles the two halves of a batch the database refused for its data, in offset order (so
    /// that offsets are stored in order): a half refused again is split again, and a single event
    /// refused alone is dead-lettered. One poison event among n costs about 2·log₂(n) writes.
    func split(
        _ batch: [KafkaMessage], zones: inout Zones, consumer: KafkaConsumer, relay: OutboxRelay,
        deadLetters: DeadLetterWriter
    ) async throws {
        let middle = batch.count / 2
        for half in [Array(batch[..<middle]), Array(batch[middle...])] where !half.isEmpty {
            try await handle(half, zones: &zones, consumer: consumer, relay: relay, deadLetters: deadLetters)
        }
    }

    /// Runs every zone's timers (acknowledgement timeouts, hold expiry, escalation).
    func tick(zones: inout Zones, relay: OutboxRelay) async throws {
        zones.lastTick = ContinuousClock.now
        // Zones forgotten after a refused write come back here even when no event of theirs
        // arrives: their open cases have timers.
        try await load(zones.machine.forgotten, leasing: false, zones: &zones)
        let now = instant()
        var recorder = DispatchRecorder(
            outcomesTopic: catalog.name(.outcomes), aidTopic: catalog.name(.aid), actor: actor)
        for zoneID in zones.dispatchers.keys.sorted() {
            guard var zone = zones.taking(zoneID) else { continue }
            let actions = zone.tick(at: now)
            if !actions.isEmpty {
                recorder.record(
                    actions, zone: zoneID, source: "tick/\(configuration.workerID)/\(zoneID)/\(now.monotonic)",
                    at: now.wall, dispatcher: zone)
            }
            zones.dispatchers[zoneID] = zone
        }
        guard !recorder.write.isEmpty else { return }
        // The tick's rows carry no stage stamps: nothing for a trace to forget.
        recorder.coalesceOutcomes()
        let decisions = recorder.write.decisions.count
        guard
            let outbox = try await persist(
                &recorder, touched: Set(zones.dispatchers.keys), zones: &zones, relay: relay, at: now.wall)
        else { return }
        statistics.update { $0.decisions += decisions }
        await relay.enqueue(outbox)
    }

    /// Writes what the recorder holds, checking the leases of the zones it touched, with the
    /// relay's pending "published" marks. Returns the outbox rows to publish, or nil when nothing was
    /// written: another worker had taken one of those zones (the zones are dropped and the fenced
    /// ones left to their new owner), or one of the events was processed before (the touched zones
    /// are dropped, to be rebuilt, and batches are checked against the inbox until one has no such event).
    func persist(
        _ recorder: inout DispatchRecorder, touched: Set<String>, zones: inout Zones, relay: OutboxRelay, at time: Date
    ) async throws -> [OutboxRecord]? {
        refreshShelters(&recorder, zones: zones, at: time)
        for zone in touched { recorder.write.leases[zone] = zones.machine.epoch(of: zone) ?? 0 }
        let pending = PendingBatch(
            batch: [], decoded: [], recorder: recorder, touched: touched, letters: [], reports: 0, rejected: 0,
            begin: .now, wall: time)
        switch try await resolve(start(pending, relay: relay), zones: &zones, relay: relay).1 {
        case .written(let outbox): return outbox
        case .refused: return nil
        case .deadLettered, .split: return []
        }
    }

    /// Runs a database operation with the worker's retry policy (``StoreRetry``).
    func retrying<Result: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await storeRetry.run(operation)
    }

}
