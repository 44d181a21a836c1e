import CRdKafka

extension RdKafkaClient {
    /// Asks a broker for cluster metadata (no topics); throws when none answers within `timeout`.
    /// librdkafka's call blocks, so it runs on ``BlockingPool``, not on the cooperative pool.
    func requestMetadata(timeout: Duration) async throws(KafkaError) {
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let code: rd_kafka_resp_err_t = await runBlocking {
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let code = unsafe rd_kafka_metadata(self.handle, 0, nil, &metadata, milliseconds)
            if let metadata = unsafe metadata { unsafe rd_kafka_metadata_destroy(metadata) }
            return code
        }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rdKafka(code, context: "metadata request") }
    }
}

extension KafkaProducer {
    /// Whether a broker answers a metadata request within `timeout` (readiness checks).
    public func checkBroker(timeout: Duration = .seconds(2)) async throws(KafkaError) {
        try await client.requestMetadata(timeout: timeout)
    }
}

/// How far a consumer is behind one partition's end.
public struct KafkaPartitionLag: Sendable, Equatable {
    public var partition: KafkaTopicPartition
    /// The next offset the consumer will read (`nil` before its first fetch).
    public var position: Int64?
    /// The partition's end as of the last fetch (`nil` before it).
    public var highWatermark: Int64?
    /// Messages behind, or `nil` while the position or the end is unknown (before the first fetch).
    public var lag: Int64? {
        guard let position, let highWatermark else { return nil }
        return max(0, highWatermark - position)
    }
}

extension KafkaConsumer {
    /// Lag of every assigned partition, from librdkafka's cached watermarks and positions (no
    /// broker round trip).
    public func lag() -> [KafkaPartitionLag] {
        let partitions = assignment.sorted()
        guard !partitions.isEmpty else { return [] }
        let list = RdKafkaTopicPartitionList(partitions)
        unsafe rd_kafka_position(client.handle, list.pointer)
        var result: [KafkaPartitionLag] = []
        for element in list.elements {
            let (topic, partition, offset) = (element.partition.topic, element.partition.partition, element.offset)
            var low: Int64 = -1
            var high: Int64 = -1
            let code = unsafe rd_kafka_get_watermark_offsets(client.handle, topic, partition, &low, &high)
            result.append(
                KafkaPartitionLag(
                    partition: KafkaTopicPartition(topic: topic, partition: partition),
                    position: offset >= 0 ? offset : nil,
                    highWatermark: code == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil))
        }
        return result
    }
}
