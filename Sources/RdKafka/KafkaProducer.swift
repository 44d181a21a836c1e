import CRdKafka
import Logging
import Synchronization

/// A librdkafka producer whose `send` completes when the broker has persisted the record.
///
/// Use it inside ``withProducer(configuration:logger:_:)``, which runs the delivery-report loop
/// beside the body and flushes on the way out.
public final class KafkaProducer: Sendable {
    typealias Completion = @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void

    private struct State {
        var nextID: UInt = 1
        var pending: [UInt: Completion] = [:]
        var stopping = false
        var failure: KafkaError?
    }

    let client: RdKafkaClient
    private let state = Mutex(State())
    private let logger: Logger

    init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        self.logger = logger
        self.client = try RdKafkaClient(
            role: .producer, properties: configuration.librdkafkaProperties(),
            events: RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_ERROR, logger: logger)
    }

    /// Creates a producer, runs `body` with it while serving delivery reports, then flushes
    /// (waiting up to `flushTimeout` for outstanding records) and closes it.
    ///
    /// - Important: If librdkafka reports a fatal error, outstanding sends fail with it and the whole
    ///   call throws: create a new producer to continue (records kept in the outbox are retried).
    public static func withProducer<Result: Sendable>(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        flushTimeout: Duration = .seconds(30),
        _ body: (KafkaProducer) async throws -> Result
    ) async throws -> Result {
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.serveDeliveryReports() }
            do {
                let result = try await body(producer)
                try await producer.flush(timeout: flushTimeout)
                producer.stop()
                try await group.waitForAll()
                return result
            } catch {
                producer.stop()
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Produces one record and returns when the broker has persisted it.
    public func send(_ record: KafkaRecord) async throws(KafkaError) -> KafkaDeliveryReport {
        try await submit([record]).results()[0].get()
    }

    /// Produces several records in the order given (librdkafka batches them by `linger.ms`) and
    /// returns each one's delivery result, in the same order.
    public func send(_ records: [KafkaRecord]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await submit(records).results()
    }

    /// Hands records to librdkafka in the order given and returns at once (waiting only while
    /// librdkafka's queue is full); the returned batch completes when every delivery report is in.
    /// Successive calls from one task keep their order, so a caller can pipeline batches.
    public func submit(_ records: [KafkaRecord]) async -> KafkaDeliveryBatch {
        let collector = KafkaDeliveryBatch(count: records.count)
        for (index, record) in records.enumerated() {
            await submit(record, index: index, to: collector)
        }
        return collector
    }

    private func submit(_ record: KafkaRecord, index: Int, to collector: KafkaDeliveryBatch) async {
        let registered = state.withLock { state -> Result<UInt, KafkaError> in
            if let failure = state.failure { return .failure(failure) }
            if state.stopping { return .failure(KafkaError(kind: .closed, message: "the producer is closed")) }
            let id = state.nextID
            state.nextID += 1
            state.pending[id] = { collector.complete(index, with: $0) }
            return .success(id)
        }
        switch registered {
        case .failure(let error):
            collector.complete(index, with: .failure(error))
        case .success(let id):
            do throws(KafkaError) {
                try await produceRetryingWhenFull(record, id: id)
            } catch {
                if let completion = state.withLock({ $0.pending.removeValue(forKey: id) }) {
                    completion(.failure(error))
                }
            }
        }
    }

    /// Waits until every outstanding record has a delivery report, or `timeout` passes.
    public func flush(timeout: Duration) async throws(KafkaError) {
        let client = self.client
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
        let code = await runBlocking { unsafe rd_kafka_flush(client.handle, milliseconds) }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw .rdKafka(code, context: "flush did not finish within \(timeout)")
        }
    }

    /// Gives up on every record not yet delivered: each gets a failed delivery report at once
    /// (`_PURGE_QUEUE` or `_PURGE_INFLIGHT`). For a bounded shutdown when the brokers are away;
    /// whoever keeps records elsewhere (the outbox) sends them again later.
    public func purgeOutstanding() {
        let client = self.client
        let code = unsafe rd_kafka_purge(client.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("purge failed", metadata: ["kafka.error": "\(KafkaError.rdKafka(code, context: "purge"))"])
        }
    }

    /// Records waiting for their delivery report.
    public var outstandingCount: Int { state.withLock { $0.pending.count } }

    /// Hands the record to librdkafka; when its queue is full, waits for deliveries to drain it.
    private func produceRetryingWhenFull(_ record: KafkaRecord, id: UInt) async throws(KafkaError) {
        var backoff = Duration.milliseconds(1)
        while true {
            do throws(KafkaError) {
                return try produce(record, id: id)
            } catch  where error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .milliseconds(100))
            }
        }
    }

    private func produce(_ record: KafkaRecord, id: UInt) throws(KafkaError) {
        let headers: OpaquePointer? = record.headers.isEmpty ? nil : unsafe rd_kafka_headers_new(record.headers.count)
        for header in record.headers {
            if let value = header.value {
                _ = unsafe value.withUnsafeBytes { bytes in
                    unsafe rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = unsafe rd_kafka_header_add(headers, header.name, -1, nil, 0)
            }
        }
        let error: OpaquePointer? = unsafe record.topic.withCString { topic in
            unsafe withOptionalBytes(record.key) { key in
                unsafe withOptionalBytes(record.value) { value in
                    var args = unsafe [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 8)
                    unsafe args[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    unsafe args[0].u.cstr = topic
                    unsafe args[1].vtype = RD_KAFKA_VTYPE_PARTITION
                    unsafe args[1].u.i32 = record.partition ?? RD_KAFKA_PARTITION_UA
                    unsafe args[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    unsafe args[2].u.i = RD_KAFKA_MSG_F_COPY
                    unsafe args[3].vtype = RD_KAFKA_VTYPE_KEY
                    unsafe args[3].u.mem.ptr = UnsafeMutableRawPointer(mutating: key?.baseAddress)
                    unsafe args[3].u.mem.size = key?.count ?? 0
                    unsafe args[4].vtype = RD_KAFKA_VTYPE_VALUE
                    unsafe args[4].u.mem.ptr = UnsafeMutableRawPointer(mutating: value?.baseAddress)
                    unsafe args[4].u.mem.size = value?.count ?? 0
                    unsafe args[5].vtype = RD_KAFKA_VTYPE_OPAQUE
                    unsafe args[5].u.ptr = UnsafeMutableRawPointer(bitPattern: id)
                    var count = 6
                    if let headers = unsafe headers {
                        unsafe args[count].vtype = RD_KAFKA_VTYPE_HEADERS
                        unsafe args[count].u.headers = headers
                        count += 1
                    }
                    if let timestamp = record.timestampMilliseconds {
                        unsafe args[count].vtype = RD_KAFKA_VTYPE_TIMESTAMP
                        unsafe args[count].u.i64 = timestamp
                        count += 1
                    }
                    return unsafe rd_kafka_produceva(client.handle, &args, count)
                }
            }
        }
        if let error = unsafe error {
            // On failure the headers were not taken over by librdkafka.
            if let headers = unsafe headers { unsafe rd_kafka_headers_destroy(headers) }
            throw unsafe KafkaError.consuming(error, context: "produce to \(record.topic)")
        }
    }

    /// Serves delivery reports, logs and errors until ``stop()``; throws on a fatal error.
    func serveDeliveryReports() async throws(KafkaError) {
        while true {
            while let event = unsafe client.pollEvent() {
                defer { unsafe rd_kafka_event_destroy(event) }
                if unsafe rd_kafka_event_type(event) == RD_KAFKA_EVENT_DR {
                    unsafe deliver(event)
                } else if let fatal = unsafe client.handleCommonEvent(event) {
                    fail(with: fatal)
                    throw fatal
                }
            }
            // Cancelled, the loop ends as if stopped: a record submitted afterwards is refused at
            // once instead of waiting for a report nobody serves.
            if Task.isCancelled { state.withLock { $0.stopping = true } }
            if state.withLock({ $0.stopping }) {
                fail(with: KafkaError(kind: .closed, message: "the producer closed before delivery"))
                return
            }
            await client.waker.wait(atMost: .milliseconds(250))
        }
    }

    private func deliver(_ event: OpaquePointer) {
        while let message = unsafe rd_kafka_event_message_next(event) {
            let id = unsafe UInt(bitPattern: message.pointee._private)
            let err = unsafe message.pointee.err
            let status = unsafe rd_kafka_message_status(message)
            let result: Result<KafkaDeliveryReport, KafkaError>
            if err == RD_KAFKA_RESP_ERR_NO_ERROR && status == RD_KAFKA_MSG_STATUS_PERSISTED {
                let topic = unsafe String(cString: rd_kafka_topic_name(message.pointee.rkt))
                result = unsafe .success(
                    KafkaDeliveryReport(
                        topic: topic, partition: message.pointee.partition, offset: message.pointee.offset))
            } else if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                result = .failure(
                    KafkaError(
                        kind: .librdkafka, message: "delivery not confirmed as persisted (status \(status.rawValue))",
                        isRetriable: true))
            } else {
                result = .failure(.rdKafka(err, context: "delivery failed"))
            }
            if let completion = state.withLock({ $0.pending.removeValue(forKey: id) }) {
                completion(result)
            }
        }
    }

    func stop() {
        state.withLock { $0.stopping = true }
        client.waker.signal()
    }

    /// The fatal error librdkafka reported, if any: this producer sends nothing any more (every
    /// send fails with it) and must be replaced.
    public var fatalError: KafkaError? { state.withLock { $0.failure } }

    /// Makes librdkafka raise a fatal error on this producer, as a broker that lost the idempotent
    /// producer's sequence would (librdkafka's own test hook, `rd_kafka_test_fatal_error`): for
    /// fault tests of what uses the producer.
    public func raiseFatalErrorForTesting() {
        _ = unsafe rd_kafka_test_fatal_error(
            client.handle, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "raised by a fault test")
    }

    private func fail(with error: KafkaError) {
        let failed = state.withLock { state -> [Completion] in
            if error.isFatal { state.failure = error }
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for completion in failed { completion(.failure(error)) }
    }
}

/// The delivery results of records submitted together, available when the last one arrives:
/// awaited (``results()``) or handed to a handler (``whenComplete(_:)``).
public final class KafkaDeliveryBatch: Sendable {
    public typealias Results = [Result<KafkaDeliveryReport, KafkaError>]

    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        var continuation: CheckedContinuation<Results, Never>?
        var handler: (@Sendable (Results) -> Void)?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    /// Waits for every result (returns at once when they are all in), in submission order.
    public func results() async -> Results {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Results? in
                if state.remaining == 0 { return state.results.map { $0! } }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Calls `handler` once with every result, in submission order, when the last one is in (at
    /// once, here, when they all are): on the thread that delivered the last report, so no task
    /// waits for the batch. The handler must not block.
    public func whenComplete(_ handler: @escaping @Sendable (Results) -> Void) {
        let ready = state.withLock { state -> Results? in
            precondition(state.handler == nil, "a delivery batch takes one handler")
            if state.remaining == 0 { return state.results.map { $0! } }
            state.handler = handler
            return nil
        }
        if let ready { handler(ready) }
    }

    func complete(_ index: Int, with result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished = state.withLock {
            state -> (CheckedContinuation<Results, Never>?, (@Sendable (Results) -> Void)?, Results)? in
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, state.continuation != nil || state.handler != nil else { return nil }
            defer {
                state.continuation = nil
                state.handler = nil
            }
            return (state.continuation, state.handler, state.results.map { $0! })
        }
        guard let (continuation, handler, results) = finished else { return }
        continuation?.resume(returning: results)
        handler?(results)
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return unsafe bytes.withUnsafeBytes { unsafe body($0) }
}
