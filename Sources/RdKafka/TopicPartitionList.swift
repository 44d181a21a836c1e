import CRdKafka

/// An owned `rd_kafka_topic_partition_list_t`: created with its elements, destroyed in `deinit`.
/// The one way this package builds a partition list for librdkafka (subscriptions, assignments,
/// stored offsets, watermark and position queries).
///
/// `@safe`: the pointer is created and destroyed here only, and never escapes a call's duration.
@safe final class RdKafkaTopicPartitionList {
    /// The list; valid while `self` lives (never store it beyond the call it is passed to).
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// An empty list with room for `capacity` elements (librdkafka grows it as needed).
    init(capacity: Int) {
        // Only fails when out of memory, which librdkafka itself treats as fatal.
        unsafe pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(capacity, 1)))!
    }

    /// A list of these partitions.
    convenience init(_ partitions: some Collection<KafkaTopicPartition>) {
        self.init(capacity: partitions.count)
        for partition in partitions { add(topic: partition.topic, partition: partition.partition) }
    }

    /// A subscription: each topic with an unassigned partition.
    convenience init(subscribingTo topics: [String]) {
        self.init(capacity: topics.count)
        for topic in topics { add(topic: topic, partition: RD_KAFKA_PARTITION_UA) }
    }

    deinit {
        unsafe rd_kafka_topic_partition_list_destroy(pointer)
    }

    /// Adds an element, with `offset` when given (a stored offset, a starting position).
    func add(topic: String, partition: Int32, offset: Int64? = nil) {
        let element = unsafe rd_kafka_topic_partition_list_add(pointer, topic, partition)!
        if let offset { unsafe element.pointee.offset = offset }
    }

    /// The elements as librdkafka filled them in (offsets, per-element errors).
    var elements: [(partition: KafkaTopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        unsafe Self.elements(of: pointer)
    }

    /// The elements of a list librdkafka owns (a rebalance event's), copied out.
    static func elements(
        of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) -> [(partition: KafkaTopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        guard let list = unsafe list else { return [] }
        let buffer = unsafe UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
        return unsafe buffer.map { element in
            unsafe (
                KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition),
                element.offset, element.err
            )
        }
    }
}
