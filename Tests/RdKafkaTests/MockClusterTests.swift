import Logging
import SamuTestSupport
import Testing

@testable import RdKafka

/// Component tests against librdkafka's in-process mock cluster: no broker needed.
@Suite("RdKafka on librdkafka's mock cluster", .timeLimit(.minutes(2)))
struct MockClusterTests {
    let logger = TestEnvironment.logger("mock-cluster-test")

    /// A one-broker mock cluster with a topic holding one record (key `k`, value `v`).
    func clusterWithOneRecord(topic: String, partitions: Int) async throws -> KafkaMockCluster {
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic(topic, partitions: partitions)
        try await KafkaProducer.withProducer(
            configuration: TestEnvironment.producerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: logger
        ) { producer in
            _ = try await producer.send(KafkaRecord(topic: topic, key: Array("k".utf8), value: Array("v".utf8)))
        }
        return cluster
    }

    @Test("records keep their key, value, headers and tombstones through a round trip")
    func roundTrip() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("round-trip", partitions: 3)
        let records = (0..<50).map { index in
            KafkaRecord(
                topic: "round-trip", key: Array("zone-\(index % 5)".utf8),
                value: index == 7 ? nil : Array("payload-\(index)".utf8),
                headers: [KafkaHeader(name: "n", string: "\(index)"), KafkaHeader(name: "empty", value: nil)])
        }
        let reports = try await KafkaProducer.withProducer(
            configuration: TestEnvironment.producerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: logger
        ) { producer in
            await producer.send(records)
        }
        #expect(reports.allSatisfy { (try? $0.get()) != nil })

        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(
                group: "g1", bootstrapServers: cluster.bootstrapServers),
            topics: ["round-trip"], logger: logger)
        let messages = try await collect(from: consumer, count: 50)
        try await consumer.close()

        #expect(messages.count == 50)
        let byIndex = Dictionary(
            uniqueKeysWithValues: messages.map { message in
                (String(decoding: (message.header("n") ?? nil) ?? [], as: UTF8.self), message)
            })
        #expect(byIndex["7"]?.value == nil)
        #expect(byIndex["8"]?.value == Array("payload-8".utf8))
        #expect(byIndex["8"]?.key == Array("zone-3".utf8))
        #expect(byIndex["8"]?.headers.last == KafkaHeader(name: "empty", value: nil))
        // One key, one partition: a zone's events stay in order.
        let zone3 = messages.filter { $0.key == Array("zone-3".utf8) }
        #expect(Set(zone3.map(\.partition)).count == 1)
        #expect(zone3.map(\.offset) == zone3.map(\.offset).sorted())
    }

    @Test(
        "a producer whose delivery-report loop was cancelled refuses a later record at once instead of leaving it unanswered"
    )
    func cancelledReportLoop() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("cancelled", partitions: 1)
        let producer = try KafkaProducer(
            configuration: TestEnvironment.producerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: logger)
        let reports = Task { try await producer.serveDeliveryReports() }
        let record = KafkaRecord(topic: "cancelled", key: nil, value: Array("before".utf8))
        #expect((try? await producer.send(record)) != nil)
        reports.cancel()
        try await reports.value
        await #expect(throws: KafkaError.self) {
            _ = try await producer.send(KafkaRecord(topic: "cancelled", key: nil, value: Array("after".utf8)))
        }
        #expect(producer.outstandingCount == 0)
    }

    @Test("a consumer whose group does not answer its close returns after its timeout and is destroyed at once")
    func closeWithoutAnswer() async throws {
        let cluster = try await clusterWithOneRecord(topic: "silent", partitions: 1)
        var started = ContinuousClock.now
        var closed = ContinuousClock.now
        do {
            let consumer = try KafkaConsumer(
                configuration: TestEnvironment.consumerConfiguration(
                    group: "g", bootstrapServers: cluster.bootstrapServers),
                topics: ["silent"], logger: logger)
            #expect(try await collect(from: consumer, count: 1).count == 1)
            // Every answer now comes after a minute: the commit and the group's leave go unanswered.
            try cluster.setRoundTrip(broker: 1, milliseconds: 60_000)
            started = .now
            try await consumer.close(timeout: .seconds(2))
            closed = .now
        }
        // The consumer is released here: destroying it must not start the close again.
        let destroyed = ContinuousClock.now
        #expect(closed - started >= .seconds(2) && closed - started < .seconds(10), "close took \(closed - started)")
        #expect(destroyed - closed < .seconds(10), "destroying the consumer took \(destroyed - closed)")
    }

    @Test(
        "a consumer closed with a revoke still to acknowledge commits within its close's allowance, not ten seconds more"
    )
    func closeWithPendingRevoke() async throws {
        let cluster = try await clusterWithOneRecord(topic: "handover", partitions: 2)
        let configuration = TestEnvironment.consumerConfiguration(
            group: "g", bootstrapServers: cluster.bootstrapServers)
        var started = ContinuousClock.now
        var closed = ContinuousClock.now
        var revoked = false
        do {
            let first = try KafkaConsumer(configuration: configuration, topics: ["handover"], logger: logger)
            #expect(try await collect(from: first, count: 1).count == 1)
            // A second member joins: the first is told to give its partitions back, and stops there.
            let second = try KafkaConsumer(configuration: configuration, topics: ["handover"], logger: logger)
            let deadline = ContinuousClock.now + .seconds(60)
            while !revoked, ContinuousClock.now < deadline {
                if case .revoked = try await first.next(timeout: .milliseconds(200)) { revoked = true }
            }
            // The group goes silent before the revoke is acknowledged: its commit is never answered.
            try cluster.setRoundTrip(broker: 1, milliseconds: 60_000)
            started = .now
            try await first.close(timeout: .seconds(3))
            closed = .now
            try? await second.close(timeout: .seconds(1))
        }
        #expect(revoked)
        #expect(closed - started < .seconds(8), "close took \(closed - started)")
    }

    @Test("a new member of the group resumes after the last stored offset, not after the last fetched one")
    func resumesFromStoredOffsets() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("resume", partitions: 1)
        let producer = TestEnvironment.producerConfiguration(bootstrapServers: cluster.bootstrapServers)
        try await KafkaProducer.withProducer(configuration: producer, logger: logger) { producer in
            for index in 0..<10 {
                _ = try await producer.send(KafkaRecord(topic: "resume", key: nil, value: Array("\(index)".utf8)))
            }
        }
        let configuration = TestEnvironment.consumerConfiguration(
            group: "g", bootstrapServers: cluster.bootstrapServers)
        let first = try KafkaConsumer(configuration: configuration, topics: ["resume"], logger: logger)
        let fetched = try await collect(from: first, count: 10, storeOffsets: false)
        #expect(fetched.count == 10)
        // Only the first four are "done".
        try first.storeOffsets(after: Array(fetched.prefix(4)))
        try await first.close()

        let second = try KafkaConsumer(configuration: configuration, topics: ["resume"], logger: logger)
        let again = try await collect(from: second, count: 6)
        try await second.close()
        #expect(again.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["4", "5", "6", "7", "8", "9"])
    }

    @Test("the consumer surfaces its assignment before any message")
    func assignmentFirst() async throws {
        let cluster = try await clusterWithOneRecord(topic: "assign", partitions: 2)
        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(
                group: "g", bootstrapServers: cluster.bootstrapServers),
            topics: ["assign"], logger: logger)
        let event = try await consumer.next()
        #expect(
            event
                == .assigned([
                    KafkaTopicPartition(topic: "assign", partition: 0),
                    KafkaTopicPartition(topic: "assign", partition: 1),
                ]))
        // The assignment takes effect when the application asks for more.
        let messages = try await collect(from: consumer, count: 1)
        #expect(messages.count == 1)
        #expect(consumer.assignment.count == 2)
        try await consumer.close()
    }
}
