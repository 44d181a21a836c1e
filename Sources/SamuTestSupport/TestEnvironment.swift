import Foundation
import Logging
import RdKafka

/// Where the integration tests find the real broker and PostgreSQL started by `ops/`.
///
/// There is no "skip when absent": an integration test that cannot reach its server fails, so a
/// run in which the servers were not started cannot pass quietly.
public enum TestEnvironment {
    public static var bootstrapServers: String {
        ProcessInfo.processInfo.environment["SAMU_KAFKA_BOOTSTRAP_SERVERS"] ?? "127.0.0.1:19092"
    }

    public static var databaseURL: String {
        ProcessInfo.processInfo.environment["SAMU_DATABASE_URL"]
            ?? "postgres://samu:samu-local@127.0.0.1:15432/samu"
    }

    /// A name no other test (or earlier run against the same broker) uses.
    public static func uniqueName(_ prefix: String) -> String {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        return "\(prefix)-\(suffix)"
    }

    /// Client settings for the local broker, tuned as samu's tests run it (fast group joins).
    public static func kafkaClient(clientID: String = "samu-test") -> KafkaClientConfiguration {
        KafkaClientConfiguration(bootstrapServers: bootstrapServers, clientID: clientID)
    }

    public static func consumerConfiguration(
        group: String, bootstrapServers: String? = nil
    ) -> KafkaConsumerConfiguration {
        var client = kafkaClient()
        if let bootstrapServers { client.bootstrapServers = bootstrapServers }
        var configuration = KafkaConsumerConfiguration(client: client, groupID: group)
        configuration.sessionTimeoutMilliseconds = 6_000
        configuration.heartbeatIntervalMilliseconds = 1_000
        return configuration
    }

    public static func producerConfiguration(bootstrapServers: String? = nil) -> KafkaProducerConfiguration {
        var client = kafkaClient()
        if let bootstrapServers { client.bootstrapServers = bootstrapServers }
        return KafkaProducerConfiguration(client: client)
    }

    /// A logger that stays quiet unless SAMU_TEST_LOG_LEVEL asks for more.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel =
            ProcessInfo.processInfo.environment["SAMU_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .error
        return logger
    }
}

/// Reads messages until `count` have arrived or `timeout` passes, acknowledging rebalances.
public func collect(
    from consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30), storeOffsets: Bool = true
) async throws -> [KafkaMessage] {
    var messages: [KafkaMessage] = []
    let deadline = ContinuousClock.now + timeout
    while messages.count < count, ContinuousClock.now < deadline {
        let event = try await withThrowingTaskGroup(of: KafkaConsumerEvent?.self) { group in
            group.addTask { try await consumer.next() }
            group.addTask {
                try? await Task.sleep(until: deadline)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if case .messages(let batch) = event {
            messages += batch
            if storeOffsets { try consumer.storeOffsets(after: batch) }
        }
    }
    return messages
}
