import CRdKafka

/// A message header: a name and an optional value (librdkafka allows NULL values).
public struct KafkaHeader: Sendable, Equatable, Hashable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }
}

/// A topic and partition, as assigned to a consumer.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (lhs: KafkaTopicPartition, rhs: KafkaTopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A record to produce.
public struct KafkaRecord: Sendable, Equatable {
    public var topic: String
    /// `nil` lets the partitioner choose from the key (librdkafka's consistent_random by default).
    public var partition: Int32?
    public var key: [UInt8]?
    /// `nil` produces a tombstone.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// The record's timestamp (milliseconds since 1970, CreateTime); `nil`: the time it is produced.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }
}

/// Where a produced record was persisted.
public struct KafkaDeliveryReport: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A consumed message, copied out of librdkafka's buffers.
public struct KafkaMessage: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    /// `nil` for a tombstone (NULL payload).
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch, when the broker or producer set one.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// The first header with this name, if any.
    public func header(_ name: String) -> [UInt8]?? {
        headers.first { $0.name == name }.map(\.value)
    }

    /// Copies everything out of a librdkafka message (which the caller still owns and destroys).
    init(copying message: UnsafePointer<rd_kafka_message_t>) {
        let m = unsafe message.pointee
        self.topic = unsafe m.rkt.map { unsafe String(cString: rd_kafka_topic_name($0)) } ?? ""
        self.partition = unsafe m.partition
        self.offset = unsafe m.offset
        self.key = unsafe Self.bytes(m.key, m.key_len)
        self.value = unsafe Self.bytes(m.payload, m.len)
        var headerList: OpaquePointer?
        var headers: [KafkaHeader] = []
        if unsafe rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR,
            let headerList = unsafe headerList
        {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while unsafe rd_kafka_header_get_all(headerList, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR
            {
                let headerName = unsafe name.map { unsafe String(cString: $0) } ?? ""
                headers.append(KafkaHeader(name: headerName, value: unsafe Self.bytes(value, size)))
                index += 1
            }
        }
        self.headers = headers
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = unsafe rd_kafka_message_timestamp(message, &timestampType)
        self.timestampMilliseconds = timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
    }

    static func bytes(_ pointer: UnsafeRawPointer?, _ count: Int) -> [UInt8]? {
        guard let pointer = unsafe pointer else { return nil }
        return unsafe Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    static func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
        unsafe bytes(UnsafeRawPointer(pointer), count)
    }
}
