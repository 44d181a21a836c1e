import CRdKafka
import Logging

/// A topic to create: name, partition count, replication factor and topic-level configuration.
public struct KafkaTopicSpecification: Sendable, Equatable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// Topic administration through librdkafka's admin API.
public enum KafkaAdmin {
    public enum CreationOutcome: String, Sendable, Equatable {
        case created
        case alreadyExisted
    }

    /// Creates the topics that do not exist yet; existing topics are left as they are (idempotent).
    public static func createTopics(
        _ topics: [KafkaTopicSpecification], client configuration: KafkaClientConfiguration, logger: Logger,
        timeout: Duration = .seconds(30)
    ) async throws(KafkaError) -> [String: CreationOutcome] {
        if topics.isEmpty { return [:] }
        let producerConfiguration = KafkaProducerConfiguration(client: configuration)
        let client = try RdKafkaClient(
            role: .producer, properties: producerConfiguration.librdkafkaProperties(),
            events: RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_ERROR, logger: logger)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
        return try await runBlocking { () -> Result<[String: CreationOutcome], KafkaError> in
            Result { () throws(KafkaError) in
                try createTopicsBlocking(topics, client: client, timeoutMilliseconds: milliseconds)
            }
        }.get()
    }

    private static func createTopicsBlocking(
        _ topics: [KafkaTopicSpecification], client: RdKafkaClient, timeoutMilliseconds: Int32
    ) throws(KafkaError) -> [String: CreationOutcome] {
        var newTopics: [OpaquePointer?] = unsafe []
        defer { unsafe newTopics.forEach { unsafe rd_kafka_NewTopic_destroy($0) } }
        var errorText = [CChar](repeating: 0, count: 512)
        for spec in topics {
            guard
                let newTopic = unsafe rd_kafka_NewTopic_new(
                    spec.name, Int32(spec.partitions), Int32(spec.replicationFactor), &errorText, errorText.count)
            else {
                throw KafkaError(
                    kind: .configuration, message: "topic \(spec.name): \(String(nulTerminated: errorText))")
            }
            unsafe newTopics.append(newTopic)
            for (name, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                let code = unsafe rd_kafka_NewTopic_set_config(newTopic, name, value)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "topic \(spec.name) \(name)") }
            }
        }
        let resultQueue = unsafe rd_kafka_queue_new(client.handle)!
        defer { unsafe rd_kafka_queue_destroy(resultQueue) }
        let options = unsafe rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { unsafe rd_kafka_AdminOptions_destroy(options) }
        _ = unsafe rd_kafka_AdminOptions_set_operation_timeout(
            options, timeoutMilliseconds, &errorText, errorText.count)
        _ = unsafe rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errorText, errorText.count)
        unsafe newTopics.withUnsafeMutableBufferPointer { buffer in
            unsafe rd_kafka_CreateTopics(client.handle, buffer.baseAddress, buffer.count, options, resultQueue)
        }
        // Serve logs and errors on the main queue while waiting for the result.
        var waited: Int32 = 0
        while true {
            while let event = unsafe client.pollEvent() {
                _ = unsafe client.handleCommonEvent(event)
                unsafe rd_kafka_event_destroy(event)
            }
            guard let event = unsafe rd_kafka_queue_poll(resultQueue, 100) else {
                waited += 100
                if waited > timeoutMilliseconds + 5_000 {
                    throw KafkaError(
                        kind: .timeout, message: "no answer to CreateTopics within \(timeoutMilliseconds) ms")
                }
                continue
            }
            defer { unsafe rd_kafka_event_destroy(event) }
            let code = unsafe rd_kafka_event_error(event)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw .rdKafka(
                    code, context: "create topics: \(unsafe String(cString: rd_kafka_event_error_string(event)))")
            }
            guard let result = unsafe rd_kafka_event_CreateTopics_result(event) else { continue }
            var count = 0
            guard let results = unsafe rd_kafka_CreateTopics_result_topics(result, &count) else { return [:] }
            var outcomes: [String: CreationOutcome] = [:]
            for index in 0..<count {
                let topicResult = unsafe results[index]
                let name = unsafe String(cString: rd_kafka_topic_result_name(topicResult))
                let topicCode = unsafe rd_kafka_topic_result_error(topicResult)
                switch topicCode {
                case RD_KAFKA_RESP_ERR_NO_ERROR:
                    outcomes[name] = .created
                case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                    outcomes[name] = .alreadyExisted
                default:
                    let text =
                        unsafe rd_kafka_topic_result_error_string(topicResult).map { unsafe String(cString: $0) } ?? ""
                    throw .rdKafka(topicCode, context: "create topic \(name): \(text)")
                }
            }
            return outcomes
        }
    }
}

/// librdkafka's in-process mock cluster, for component tests that need no broker.
@safe public final class KafkaMockCluster: @unchecked Sendable {
    // @unchecked Sendable: immutable pointers; librdkafka's mock cluster API is thread-safe.
    private let client: RdKafkaClient
    private let cluster: OpaquePointer
    public let bootstrapServers: String

    public init(brokers: Int = 1, logger: Logger) throws(KafkaError) {
        client = try RdKafkaClient(
            role: .producer, properties: [("log.queue", "true")], events: RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_ERROR,
            logger: logger)
        guard let cluster = unsafe rd_kafka_mock_cluster_new(client.handle, Int32(brokers)) else {
            throw KafkaError(kind: .librdkafka, message: "could not start librdkafka's mock cluster")
        }
        unsafe self.cluster = unsafe cluster
        bootstrapServers = unsafe String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// Creates a topic directly in the mock cluster.
    public func createTopic(_ name: String, partitions: Int) throws(KafkaError) {
        let code = unsafe rd_kafka_mock_topic_create(cluster, name, Int32(partitions), 1)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "mock topic \(name)") }
    }

    /// Delays every answer of a broker (1-based id) by this much: a broker that is slow, or, with a
    /// delay past the clients' timeouts, one that no longer answers.
    public func setRoundTrip(broker: Int, milliseconds: Int) throws(KafkaError) {
        let code = unsafe rd_kafka_mock_broker_set_rtt(cluster, Int32(broker), Int32(milliseconds))
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "mock broker \(broker) round trip") }
    }

    deinit {
        unsafe rd_kafka_mock_cluster_destroy(cluster)
    }
}
