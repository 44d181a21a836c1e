import Foundation
import SamuTestSupport
import Synchronization
import Testing

@testable import RdKafka

@Suite("Consumer-group rebalances on the real broker (integration)", .timeLimit(.minutes(2)))
struct RebalanceTests {
    let logger = TestEnvironment.logger("rebalance-test")

    /// Drives a consumer, recording its rebalance events, until `stop` is set.
    final class Member: Sendable {
        let consumer: KafkaConsumer
        let events = Mutex<[KafkaConsumerEvent]>([])

        init(_ consumer: KafkaConsumer) { self.consumer = consumer }

        func drive(until deadline: ContinuousClock.Instant) async throws {
            while ContinuousClock.now < deadline, let event = try await consumer.next() {
                if case .messages = event { continue }
                events.withLock { $0.append(event) }
            }
        }

        var rebalances: [KafkaConsumerEvent] { events.withLock { $0 } }
    }

    @Test("a second member takes some partitions: the first sees them revoked, the second assigned")
    func secondMemberJoins() async throws {
        let topic = TestEnvironment.uniqueName("rebalance")
        _ = try await KafkaAdmin.createTopics(
            [KafkaTopicSpecification(name: topic, partitions: 4)], client: TestEnvironment.kafkaClient(), logger: logger
        )
        let group = TestEnvironment.uniqueName("group")
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let first = Member(
            try KafkaConsumer(
                configuration: TestEnvironment.consumerConfiguration(group: group), topics: [topic], logger: logger))
        let deadline = ContinuousClock.now + .seconds(45)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await first.drive(until: deadline) }
            // Wait for the first member to own everything before the second joins.
            while first.consumer.assignment != all, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(first.consumer.assignment == all)
            let second = Member(
                try KafkaConsumer(
                    configuration: TestEnvironment.consumerConfiguration(group: group), topics: [topic], logger: logger)
            )
            tasks.addTask { try await second.drive(until: deadline) }
            while ContinuousClock.now < deadline {
                let a = first.consumer.assignment
                let b = second.consumer.assignment
                if !a.isEmpty, !b.isEmpty, a.union(b) == all, a.isDisjoint(with: b) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let a = first.consumer.assignment
            let b = second.consumer.assignment
            #expect(!a.isEmpty && !b.isEmpty, "first: \(first.rebalances), second: \(second.rebalances)")
            #expect(a.union(b) == all)
            #expect(a.isDisjoint(with: b))
            #expect(first.rebalances.contains { if case .revoked = $0 { true } else { false } })
            #expect(second.rebalances.contains { if case .assigned = $0 { true } else { false } })
            first.consumer.stopConsuming()
            second.consumer.stopConsuming()
            try await tasks.waitForAll()
            try await second.consumer.close()
            try await first.consumer.close()
        }
    }
}
