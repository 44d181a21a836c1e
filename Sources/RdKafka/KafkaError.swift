import CRdKafka

/// An error from librdkafka or from samu's use of it.
///
/// Carries librdkafka's numeric error code where there is one, and librdkafka's own verdict on
/// whether the error is fatal (the client instance is unusable and must be recreated) or retriable
/// (the same call may succeed later).
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is, independent of librdkafka's numbering.
    public enum Kind: String, Sendable, Equatable {
        /// A configuration property was rejected (name or value).
        case configuration
        /// The librdkafka found at run time is too old.
        case unsupportedLibrary
        /// librdkafka reported an error (see `code`).
        case librdkafka
        /// The operation did not complete in time.
        case timeout
        /// The client was used after it was closed.
        case closed
    }

    public var kind: Kind
    /// librdkafka's `rd_kafka_resp_err_t`, when librdkafka produced the error.
    public var code: Int32?
    public var message: String
    public var isFatal: Bool
    public var isRetriable: Bool
    public var file: String
    public var line: Int

    public init(
        kind: Kind, code: Int32? = nil, message: String, isFatal: Bool = false, isRetriable: Bool = false,
        file: String = #fileID, line: Int = #line
    ) {
        self.kind = kind
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    /// librdkafka's symbolic name for `code`, such as `_TIMED_OUT` or `UNKNOWN_TOPIC_OR_PART`.
    public var codeName: String? {
        guard let code else { return nil }
        return unsafe String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(code)))
    }

    public var description: String {
        var text = "KafkaError.\(kind.rawValue)"
        if let code, let name = codeName { text += "(\(name) \(code))" }
        text += ": \(message)"
        if isFatal { text += " [fatal]" }
        if isRetriable { text += " [retriable]" }
        return text
    }

    /// Errors compare equal when they describe the same failure, wherever they were made.
    public static func == (lhs: KafkaError, rhs: KafkaError) -> Bool {
        lhs.kind == rhs.kind && lhs.code == rhs.code && lhs.message == rhs.message && lhs.isFatal == rhs.isFatal
            && lhs.isRetriable == rhs.isRetriable
    }

    /// An error for a librdkafka response code, with its text and retriability.
    static func rdKafka(
        _ err: rd_kafka_resp_err_t, context: String? = nil, isFatal: Bool = false,
        file: String = #fileID, line: Int = #line
    ) -> KafkaError {
        let text = unsafe String(cString: rd_kafka_err2str(err))
        return KafkaError(
            kind: err == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timeout : .librdkafka,
            code: err.rawValue,
            message: context.map { "\($0): \(text)" } ?? text,
            isFatal: isFatal || err == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: Self.retriableCodes.contains(err.rawValue),
            file: file, line: line
        )
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    static func consuming(
        _ error: OpaquePointer, context: String? = nil, file: String = #fileID, line: Int = #line
    ) -> KafkaError {
        defer { unsafe rd_kafka_error_destroy(error) }
        let code = unsafe rd_kafka_error_code(error)
        let text = unsafe String(cString: rd_kafka_error_string(error))
        return KafkaError(
            kind: code == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timeout : .librdkafka,
            code: code.rawValue,
            message: context.map { "\($0): \(text)" } ?? text,
            isFatal: unsafe rd_kafka_error_is_fatal(error) != 0,
            isRetriable: unsafe rd_kafka_error_is_retriable(error) != 0 || Self.retriableCodes.contains(code.rawValue),
            file: file, line: line
        )
    }

    /// The broker (or librdkafka's own checks) refuses this record for good: sending it again
    /// cannot succeed (too large, invalid, or the topic refuses this client).
    public var refusesRecord: Bool {
        guard let code, !isRetriable else { return false }
        return Self.recordRefusalCodes.contains(code)
    }

    static let recordRefusalCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue, RD_KAFKA_RESP_ERR_INVALID_MSG.rawValue,
        RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE.rawValue, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue,
        RD_KAFKA_RESP_ERR_INVALID_RECORD.rawValue, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.rawValue,
        RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
    ]

    /// Response codes that are transient by nature (the broker or network will come back).
    static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT.rawValue, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue,
        RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue,
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue, RD_KAFKA_RESP_ERR__WAIT_COORD.rawValue,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue,
    ]
}
