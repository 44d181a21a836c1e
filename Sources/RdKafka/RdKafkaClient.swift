import CRdKafka
import Logging
import Synchronization

/// Owns one `rd_kafka_t` handle, the queue samu polls it through, and that queue's waker.
///
/// - Important: librdkafka's handle and queue functions are thread-safe, so this class is
///   `@unchecked Sendable`: it holds only immutable pointers, and every mutable Swift state that
///   goes with it lives behind a `Mutex` in its owners (producer, consumer, admin).
@safe final class RdKafkaClient: @unchecked Sendable {
    enum Role {
        case producer, consumer

        var cType: rd_kafka_type_t { self == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER }
    }

    let handle: OpaquePointer
    /// The queue samu polls: the main queue for producers, the consumer queue (with the main queue
    /// forwarded into it) for consumers.
    let queue: OpaquePointer
    let waker = QueueWaker()
    let logger: Logger
    /// Set when a consumer gave up waiting for its group to answer its close: destroying the
    /// handle must not start (and wait for) the close again.
    let skipConsumerClose = Atomic<Bool>(false)

    /// Creates the handle. The configuration object is destroyed here if any setting fails or if
    /// `rd_kafka_new` fails; on success the handle owns it.
    init(role: Role, properties: [(String, String)], events: Int32, logger: Logger) throws(KafkaError) {
        try LibrdKafka.requireSupportedVersion()
        self.logger = logger
        let conf = unsafe rd_kafka_conf_new()
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = unsafe rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                unsafe rd_kafka_conf_destroy(conf)
                let reason = String(nulTerminated: errorText)
                let shown = name.contains("password") ? "<redacted>" : value
                throw KafkaError(kind: .configuration, message: "\(name)=\(shown): \(reason)")
            }
        }
        unsafe rd_kafka_conf_set_events(conf, events)
        guard let handle = unsafe rd_kafka_new(role.cType, conf, &errorText, errorText.count) else {
            unsafe rd_kafka_conf_destroy(conf)
            throw KafkaError(kind: .configuration, message: String(nulTerminated: errorText))
        }
        unsafe self.handle = unsafe handle
        // Logs go to the main queue (log.queue=true); a consumer forwards the main queue to its
        // consumer queue so that one poll serves messages, rebalances, errors and logs in order.
        unsafe rd_kafka_set_log_queue(handle, nil)
        if role == .consumer {
            unsafe rd_kafka_poll_set_consumer(handle)
            unsafe self.queue = unsafe rd_kafka_queue_get_consumer(handle)!
        } else {
            unsafe self.queue = unsafe rd_kafka_queue_get_main(handle)!
        }
        unsafe rd_kafka_queue_cb_event_enable(
            queue, queueNonEmpty, Unmanaged.passUnretained(waker).toOpaque())
    }

    deinit {
        unsafe rd_kafka_queue_cb_event_enable(queue, nil, nil)
        unsafe rd_kafka_queue_destroy(queue)
        guard skipConsumerClose.load(ordering: .acquiring) else {
            unsafe rd_kafka_destroy(handle)
            return
        }
        // The group did not answer the close: librdkafka's destroy still waits for that answer (up
        // to a request's timeout), so it runs on a blocking thread, not in the releasing caller.
        let handle = unsafe AbandonedHandle(pointer: handle)
        BlockingPool.shared.submit {
            unsafe rd_kafka_destroy_flags(handle.pointer, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        }
    }

    /// A handle whose destroy is left to a blocking thread (nothing else uses it any more).
    @safe private struct AbandonedHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// The name librdkafka gave this client (`rdkafka#producer-1`), for logs.
    var name: String { unsafe String(cString: rd_kafka_name(handle)) }

    /// Polls one event without blocking; the caller must destroy it.
    func pollEvent() -> OpaquePointer? {
        unsafe rd_kafka_queue_poll(queue, 0)
    }

    /// Handles the event types every client sees (logs, errors); returns an error only when
    /// librdkafka says the client is unusable. Unknown event types are logged, never fatal.
    func handleCommonEvent(_ event: OpaquePointer) -> KafkaError? {
        let type = unsafe rd_kafka_event_type(event)
        switch type {
        case RD_KAFKA_EVENT_LOG:
            var facility: UnsafePointer<CChar>?
            var text: UnsafePointer<CChar>?
            var level: Int32 = 0
            unsafe rd_kafka_event_log(event, &facility, &text, &level)
            let message = unsafe text.map { unsafe String(cString: $0) } ?? ""
            let fac = unsafe facility.map { unsafe String(cString: $0) } ?? ""
            logger.log(
                level: Self.logLevel(syslog: level), "\(message)",
                metadata: ["kafka.client": "\(name)", "kafka.facility": "\(fac)"])
            return nil
        case RD_KAFKA_EVENT_ERROR:
            let code = unsafe rd_kafka_event_error(event)
            let text = unsafe String(cString: rd_kafka_event_error_string(event))
            let fatal = unsafe rd_kafka_event_error_is_fatal(event) != 0
            if fatal {
                var buffer = [CChar](repeating: 0, count: 512)
                let original = unsafe rd_kafka_fatal_error(handle, &buffer, buffer.count)
                let reason = String(nulTerminated: buffer)
                logger.critical(
                    "librdkafka fatal error", metadata: ["kafka.client": "\(name)", "kafka.error": "\(reason)"])
                return .rdKafka(original, context: reason, isFatal: true)
            }
            // Transport and broker-down errors are reported here and retried by librdkafka itself.
            logger.info(
                "librdkafka error (retried by librdkafka)",
                metadata: [
                    "kafka.client": "\(name)", "kafka.error": "\(text)",
                    "kafka.code": "\(unsafe String(cString: rd_kafka_err2name(code)))",
                ])
            return nil
        case RD_KAFKA_EVENT_OFFSET_COMMIT:
            let code = unsafe rd_kafka_event_error(event)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR__NO_OFFSET {
                logger.info(
                    "offset commit failed (retried at the next commit)",
                    metadata: ["kafka.error": "\(unsafe String(cString: rd_kafka_err2str(code)))"])
            }
            return nil
        case RD_KAFKA_EVENT_STATS:
            return nil
        default:
            let typeName = unsafe rd_kafka_event_name(event).map { unsafe String(cString: $0) } ?? "\(type)"
            logger.debug("ignoring librdkafka event", metadata: ["kafka.event": "\(typeName)"])
            return nil
        }
    }

    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }
}
