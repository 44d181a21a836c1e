import CRdKafka
import Foundation
import Logging

/// Reads a whole topic from its beginning, without joining a consumer group (for summaries, checks
/// and tests).
///
/// The read ends when every partition has reached the high watermark it had when the read started
/// *and* no message has arrived for `idle`. The second condition is there because some
/// Kafka-protocol brokers (Tansu 0.x, measured) under-report high watermarks when a batch holds
/// several records; on Apache Kafka it only adds `idle` to the read.
public enum KafkaTopicReader {
    public static func readAll(
        topic: String, client configuration: KafkaClientConfiguration, logger: Logger, timeout: Duration = .seconds(30),
        idle: Duration = .milliseconds(750)
    ) async throws(KafkaError) -> [KafkaMessage] {
        var consumer = KafkaConsumerConfiguration(client: configuration, groupID: "samu-reader-\(UUID().uuidString)")
        consumer.autoOffsetReset = "earliest"
        var properties = try consumer.librdkafkaProperties()
        properties.append(("enable.auto.commit", "false"))
        let client = try RdKafkaClient(
            role: .consumer, properties: properties,
            events: RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_ERROR, logger: logger)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
        return try await runBlocking { () -> Result<[KafkaMessage], KafkaError> in
            Result { () throws(KafkaError) in
                try read(topic: topic, client: client, timeoutMilliseconds: milliseconds, idle: idle)
            }
        }.get()
    }

    private static func read(
        topic: String, client: RdKafkaClient, timeoutMilliseconds: Int32, idle: Duration
    )
        throws(KafkaError) -> [KafkaMessage]
    {
        let partitions = try partitionCount(topic: topic, client: client, timeoutMilliseconds: timeoutMilliseconds)
        var remaining: [Int32: Int64] = [:]  // partition -> high watermark still to reach
        for partition in 0..<partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let code = unsafe rd_kafka_query_watermark_offsets(
                client.handle, topic, partition, &low, &high, timeoutMilliseconds)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw .rdKafka(code, context: "watermarks of \(topic)[\(partition)]")
            }
            if high > low { remaining[partition] = high }
        }
        let list = RdKafkaTopicPartitionList(capacity: Int(partitions))
        for partition in 0..<partitions {
            list.add(topic: topic, partition: partition, offset: Int64(RD_KAFKA_OFFSET_BEGINNING))
        }
        let code = unsafe rd_kafka_assign(client.handle, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "assign \(topic)") }
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMilliseconds))
        var lastMessage = ContinuousClock.now
        while !remaining.isEmpty || ContinuousClock.now - lastMessage < idle {
            if ContinuousClock.now > deadline {
                throw KafkaError(
                    kind: .timeout,
                    message: "reading \(topic): partitions \(remaining.keys.sorted()) not read to their end")
            }
            guard let event = unsafe rd_kafka_queue_poll(client.queue, 100) else { continue }
            defer { unsafe rd_kafka_event_destroy(event) }
            guard unsafe rd_kafka_event_type(event) == RD_KAFKA_EVENT_FETCH else {
                if let fatal = unsafe client.handleCommonEvent(event) { throw fatal }
                continue
            }
            while let message = unsafe rd_kafka_event_message_next(event) {
                guard unsafe message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
                let copied = unsafe KafkaMessage(copying: message)
                messages.append(copied)
                lastMessage = ContinuousClock.now
                if let high = remaining[copied.partition], copied.offset + 1 >= high {
                    remaining[copied.partition] = nil
                }
            }
        }
        _ = unsafe rd_kafka_assign(client.handle, nil)
        return messages
    }

    private static func partitionCount(
        topic: String, client: RdKafkaClient, timeoutMilliseconds: Int32
    ) throws(KafkaError)
        -> Int32
    {
        guard let topicHandle = unsafe rd_kafka_topic_new(client.handle, topic, nil) else {
            throw KafkaError(kind: .librdkafka, message: "cannot create a handle for topic \(topic)")
        }
        defer { unsafe rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let code = unsafe rd_kafka_metadata(client.handle, 0, topicHandle, &metadata, timeoutMilliseconds)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "metadata of \(topic)") }
        defer { unsafe rd_kafka_metadata_destroy(metadata) }
        guard let metadata = unsafe metadata, unsafe metadata.pointee.topic_cnt == 1 else {
            throw KafkaError(kind: .librdkafka, message: "no metadata for topic \(topic)")
        }
        let topicMetadata = unsafe metadata.pointee.topics[0]
        if unsafe topicMetadata.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw unsafe .rdKafka(topicMetadata.err, context: "topic \(topic)")
        }
        return unsafe topicMetadata.partition_cnt
    }
}
