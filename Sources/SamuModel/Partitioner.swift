/// Kafka's default partitioner for keyed records (the Java client's, and librdkafka's
/// `murmur2_random` for non-empty keys): murmur2 of the key, made positive, modulo the partition
/// count. The worker uses it to know which zones a partition holds.
public enum KafkaPartitioner {
    public static func partition(forKey key: [UInt8], partitions: Int) -> Int32 {
        Int32((murmur2(key) & 0x7fff_ffff) % UInt32(partitions))
    }

    public static func partition(forZone zone: String, partitions: Int) -> Int32 {
        partition(forKey: Array(zone.utf8), partitions: partitions)
    }

    /// MurmurHash2 (32-bit) with Kafka's seed, as in `org.apache.kafka.common.utils.Utils.murmur2`.
    public static func murmur2(_ data: [UInt8]) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: data.count)
        let blocks = data.count / 4
        for index in 0..<blocks {
            let i = index * 4
            var k = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch data.count % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 1:
            h ^= UInt32(data[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return h
    }
}
