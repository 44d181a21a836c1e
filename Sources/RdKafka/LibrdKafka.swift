import CRdKafka

/// The librdkafka library loaded at run time.
public enum LibrdKafka {
    /// The oldest librdkafka samu runs with. 2.0.x mis-parses the tagged fields that current brokers
    /// send in ApiVersion v3 responses ("Read underflow").
    public static let minimumVersion = (major: 2, minor: 1)

    /// The run-time version as `major.minor.patch` numbers (from `rd_kafka_version()`).
    public static var version: (major: Int, minor: Int, patch: Int) {
        let raw = Int(rd_kafka_version())
        return ((raw >> 24) & 0xFF, (raw >> 16) & 0xFF, (raw >> 8) & 0xFF)
    }

    /// The run-time version as librdkafka prints it, such as `2.16.0`.
    public static var versionString: String {
        unsafe String(cString: rd_kafka_version_str())
    }

    /// Throws a clear error when the librdkafka found at run time is older than ``minimumVersion``.
    public static func requireSupportedVersion() throws(KafkaError) {
        try check(version: version, printed: versionString)
    }

    /// The version rule on its own, so that it can be tested without loading an old library.
    public static func check(version: (major: Int, minor: Int, patch: Int), printed: String) throws(KafkaError) {
        if (version.major, version.minor) >= (minimumVersion.major, minimumVersion.minor) { return }
        throw KafkaError(
            kind: .unsupportedLibrary,
            message: """
                librdkafka \(printed) was loaded, but samu needs librdkafka >= \
                \(minimumVersion.major).\(minimumVersion.minor) (older versions mis-parse current brokers' \
                ApiVersion responses). Run ops/setup.sh, then `source ops/env.sh` so that LD_LIBRARY_PATH \
                puts .local/lib (librdkafka from the confluent-kafka wheel) first, or install librdkafka >= 2.1.
                """
        )
    }
}
