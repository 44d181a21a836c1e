import Foundation
import Logging
import SamuModel
import SamuTestSupport
import Testing

@testable import RdKafka
@testable import SamuStore

/// Against the real local broker started by ops/ (Tansu), as production runs against Kafka.
@Suite("RdKafka on the real broker (integration)", .timeLimit(.minutes(2)))
struct BrokerTests {
    let logger = TestEnvironment.logger("broker-test")

    @Test("topic creation is idempotent")
    func createTopics() async throws {
        let name = TestEnvironment.uniqueName("rdkafka-admin")
        let spec = KafkaTopicSpecification(name: name, partitions: 4, configs: ["retention.ms": "3600000"])
        let first = try await KafkaAdmin.createTopics([spec], client: TestEnvironment.kafkaClient(), logger: logger)
        #expect(first == [name: .created])
        let second = try await KafkaAdmin.createTopics([spec], client: TestEnvironment.kafkaClient(), logger: logger)
        #expect(second == [name: .alreadyExisted])
    }

    @Test("a consumer group receives what a producer sent, keyed to stable partitions")
    func roundTrip() async throws {
        let topic = TestEnvironment.uniqueName("rdkafka-roundtrip")
        _ = try await KafkaAdmin.createTopics(
            [KafkaTopicSpecification(name: topic, partitions: 3)], client: TestEnvironment.kafkaClient(), logger: logger
        )
        let records = (0..<200).map { index in
            KafkaRecord(
                topic: topic, key: Array("zone-\(index % 10)".utf8), value: Array("\(index)".utf8),
                headers: [KafkaHeader(name: "i", string: "\(index)")])
        }
        let reports = try await KafkaProducer.withProducer(
            configuration: TestEnvironment.producerConfiguration(), logger: logger
        ) { producer in
            await producer.send(records)
        }
        let delivered = try reports.map { try $0.get() }
        #expect(delivered.count == 200)

        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("g")),
            topics: [topic],
            logger: logger)
        let messages = try await collect(from: consumer, count: 200)
        try await consumer.close()
        #expect(messages.count == 200)
        #expect(Set(messages.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }).count == 200)
        // Every key in one partition, in production order.
        for zone in 0..<10 {
            let ofZone = messages.filter { $0.key == Array("zone-\(zone)".utf8) }
            #expect(Set(ofZone.map(\.partition)).count == 1)
            let order = ofZone.compactMap { $0.value.flatMap { Int(String(decoding: $0, as: UTF8.self)) } }
            #expect(order == order.sorted())
        }
    }

    @Test("a send to a topic that does not exist fails with librdkafka's code instead of hanging")
    func unknownTopic() async throws {
        var configuration = TestEnvironment.producerConfiguration()
        configuration.messageTimeoutMilliseconds = 3_000
        configuration.client.additionalProperties["allow.auto.create.topics"] = "false"
        let result = try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            await producer.send([KafkaRecord(topic: TestEnvironment.uniqueName("missing"), key: nil, value: [1])])
        }
        guard case .failure(let error) = result.first else {
            Issue.record("a send to a missing topic succeeded")
            return
        }
        #expect(error.code != nil)
    }
}

@Suite("Kafka partitioner (integration)", .timeLimit(.minutes(1)))
struct PartitionerTests {
    @Test("samu's murmur2 partition for a zone is where librdkafka's producer puts the zone's records")
    func matchesLibrdkafka() async throws {
        let logger = TestEnvironment.logger("partitioner-test")
        let topic = TestEnvironment.uniqueName("partitioner")
        _ = try await KafkaAdmin.createTopics(
            [KafkaTopicSpecification(name: topic, partitions: 12)], client: TestEnvironment.kafkaClient(),
            logger: logger)
        let zones = try ReferenceData.load(seeds: Repository.seeds).zones.map(\.code)
        let reports = try await KafkaProducer.withProducer(
            configuration: TestEnvironment.producerConfiguration(), logger: logger
        ) { producer in
            await producer.send(zones.map { KafkaRecord(topic: topic, key: Array($0.utf8), value: [1]) })
        }
        for (zone, report) in zip(zones, reports) {
            #expect(try report.get().partition == KafkaPartitioner.partition(forZone: zone, partitions: 12), "\(zone)")
        }
    }
}
