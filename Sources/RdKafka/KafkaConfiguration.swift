/// Security settings passed through to librdkafka (`security.protocol`, SASL, TLS files).
///
/// Secrets (`saslPassword`, `sslKeyPassword`) never appear in descriptions or error messages.
public struct KafkaSecurity: Sendable, Equatable, CustomStringConvertible {
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        case plaintext
        case ssl
        case saslPlaintext = "sasl_plaintext"
        case saslSSL = "sasl_ssl"

        var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
        var usesTLS: Bool { self == .ssl || self == .saslSSL }
    }

    public var securityProtocol: SecurityProtocol = .plaintext
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `GSSAPI` or `OAUTHBEARER`.
    public var saslMechanism: String?
    public var saslUsername: String?
    public var saslPassword: String?
    public var sslCALocation: String?
    public var sslCertificateLocation: String?
    public var sslKeyLocation: String?
    public var sslKeyPassword: String?
    /// `https` (librdkafka's default: verify the broker's host name) or `none`.
    public var sslEndpointIdentificationAlgorithm: String?

    public init() {}

    static let saslMechanisms: Set<String> = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"]

    /// The librdkafka properties for these settings, after checking that they make sense together.
    public func librdkafkaProperties() throws(KafkaError) -> [(String, String)] {
        var properties: [(String, String)] = [("security.protocol", securityProtocol.rawValue)]
        if securityProtocol.usesSASL {
            guard let mechanism = saslMechanism else {
                throw KafkaError(
                    kind: .configuration,
                    message:
                        "security.protocol=\(securityProtocol.rawValue) needs a SASL mechanism (SAMU_KAFKA_SASL_MECHANISM)"
                )
            }
            guard Self.saslMechanisms.contains(mechanism) else {
                throw KafkaError(
                    kind: .configuration,
                    message:
                        "unknown SASL mechanism '\(mechanism)'; expected one of \(Self.saslMechanisms.sorted().joined(separator: ", "))"
                )
            }
            properties.append(("sasl.mechanisms", mechanism))
            if mechanism == "PLAIN" || mechanism.hasPrefix("SCRAM-") {
                guard let username = saslUsername, let password = saslPassword else {
                    throw KafkaError(
                        kind: .configuration,
                        message:
                            "SASL \(mechanism) needs a user name and a password (SAMU_KAFKA_SASL_USERNAME, SAMU_KAFKA_SASL_PASSWORD)"
                    )
                }
                properties.append(("sasl.username", username))
                properties.append(("sasl.password", password))
            }
        } else if saslMechanism != nil || saslUsername != nil || saslPassword != nil {
            throw KafkaError(
                kind: .configuration,
                message:
                    "SASL settings are given but security.protocol=\(securityProtocol.rawValue) does not use SASL; use sasl_ssl or sasl_plaintext"
            )
        }
        let tlsFiles: [(String, String?)] = [
            ("ssl.ca.location", sslCALocation), ("ssl.certificate.location", sslCertificateLocation),
            ("ssl.key.location", sslKeyLocation), ("ssl.key.password", sslKeyPassword),
            ("ssl.endpoint.identification.algorithm", sslEndpointIdentificationAlgorithm),
        ]
        let givenTLS = tlsFiles.compactMap { name, value in value.map { (name, $0) } }
        if !givenTLS.isEmpty && !securityProtocol.usesTLS {
            throw KafkaError(
                kind: .configuration,
                message:
                    "TLS settings (\(givenTLS.map(\.0).joined(separator: ", "))) are given but security.protocol=\(securityProtocol.rawValue) does not use TLS; use ssl or sasl_ssl"
            )
        }
        // TLS without a CA to verify the brokers would fail only at the first connection, and then
        // for ever: name the CA file (or `probe`, the system's store) or refuse to start.
        if securityProtocol.usesTLS {
            // (A CA file that cannot be read is refused by librdkafka when the client is made.)
            if sslCALocation == nil {
                throw KafkaError(
                    kind: .configuration,
                    message:
                        "security.protocol=\(securityProtocol.rawValue) needs a CA to verify the brokers (SAMU_KAFKA_SSL_CA_LOCATION: a PEM file, or `probe` for the system's store)"
                )
            }
        }
        if (sslCertificateLocation == nil) != (sslKeyLocation == nil) {
            throw KafkaError(
                kind: .configuration, message: "mutual TLS needs both ssl.certificate.location and ssl.key.location")
        }
        properties += givenTLS
        return properties
    }

    public var description: String {
        var parts = ["protocol=\(securityProtocol.rawValue)"]
        if let saslMechanism { parts.append("sasl=\(saslMechanism)") }
        if let saslUsername { parts.append("user=\(saslUsername)") }
        if saslPassword != nil { parts.append("password=<redacted>") }
        if let sslCALocation { parts.append("ca=\(sslCALocation)") }
        return "KafkaSecurity(\(parts.joined(separator: " ")))"
    }
}

/// Settings every client shares: where the brokers are, who the client is, how it authenticates.
public struct KafkaClientConfiguration: Sendable {
    public var bootstrapServers: String
    public var clientID: String
    public var security = KafkaSecurity()
    /// librdkafka's `debug` contexts (for example `broker,protocol`), off by default.
    public var debug: String?
    /// Further librdkafka properties, applied last (they override samu's choices). For operators who
    /// know librdkafka's CONFIGURATION.md; samu does not validate them beyond librdkafka's own checks.
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: String, clientID: String = "samu") {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
    }

    func commonProperties() throws(KafkaError) -> [(String, String)] {
        var properties: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            // Logs arrive as events on the client's queue and go to swift-log (never to stderr).
            ("log.queue", "true"),
        ]
        properties += try security.librdkafkaProperties()
        if let debug { properties.append(("debug", debug)) }
        return properties
    }

    func withAdditional(_ properties: [(String, String)]) -> [(String, String)] {
        properties + additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// A producer's settings: the outbox relay, the dead-letter writer and `samu intake` use these.
public struct KafkaProducerConfiguration: Sendable {
    public var client: KafkaClientConfiguration
    /// Idempotent producer: no duplicates or reordering from librdkafka's own retries (librdkafka's
    /// default is off; measured: 0 against 200 duplicates under a broker pause).
    public var enableIdempotence = true
    /// Small batching window: 5 ms keeps one hop's p99 near 13 ms on the local broker, where 0 ms
    /// saturates it at 1,000 messages/s.
    public var lingerMilliseconds = 5
    /// How long librdkafka keeps retrying a message before its delivery fails.
    public var messageTimeoutMilliseconds = 300_000

    public init(client: KafkaClientConfiguration) {
        self.client = client
    }

    /// The exact librdkafka properties this configuration sets, in order.
    public func librdkafkaProperties() throws(KafkaError) -> [(String, String)] {
        var properties = try client.commonProperties()
        properties += [
            // The Java client's partitioner: a zone's key lands in the same partition whichever
            // client (librdkafka, Java, Kafka Streams) produced it.
            ("partitioner", "murmur2_random"),
            ("enable.idempotence", enableIdempotence ? "true" : "false"),
            ("acks", "all"),
            ("linger.ms", String(lingerMilliseconds)),
            ("message.timeout.ms", String(messageTimeoutMilliseconds)),
        ]
        return client.withAdditional(properties)
    }
}

/// A consumer's settings: the worker's group consumer.
public struct KafkaConsumerConfiguration: Sendable {
    public var client: KafkaClientConfiguration
    public var groupID: String
    /// How long the group waits for a silent member before giving its partitions away. 45 s is
    /// Kafka's default; tests and the local broker use 6 s (a join then takes ~3 s instead of ~23 s).
    public var sessionTimeoutMilliseconds = 45_000
    public var heartbeatIntervalMilliseconds = 3_000
    /// How long a fetch waits at the broker for data: 10 ms instead of librdkafka's 500 ms, whose
    /// p99 is 0.25–0.5 s on a quiet topic.
    public var fetchWaitMaxMilliseconds = 10
    /// Where a new group starts: `earliest` never skips a report written before the group existed.
    public var autoOffsetReset = "earliest"
    /// `cooperative-sticky` moves only the partitions that must move on a rebalance.
    public var partitionAssignmentStrategy = "cooperative-sticky"
    /// How often stored offsets are committed in the background; a crash redelivers at most this much.
    public var autoCommitIntervalMilliseconds = 1_000
    /// Bounds the prefetched messages librdkafka holds per partition while the worker is busy.
    public var queuedMaxMessagesKilobytes = 16_384
    public var maxPollIntervalMilliseconds = 300_000
    /// Static membership (`group.instance.id`): a restart within the session timeout keeps the
    /// partitions without a rebalance.
    public var groupInstanceID: String?

    public init(client: KafkaClientConfiguration, groupID: String) {
        self.client = client
        self.groupID = groupID
    }

    /// The exact librdkafka properties this configuration sets, in order.
    public func librdkafkaProperties() throws(KafkaError) -> [(String, String)] {
        var properties = try client.commonProperties()
        properties += [
            ("group.id", groupID),
            // Offsets are stored by the application after its database commit, then committed in
            // the background and on close: at-least-once, made effectively-once by the inbox.
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("auto.commit.interval.ms", String(autoCommitIntervalMilliseconds)),
            ("auto.offset.reset", autoOffsetReset),
            ("partition.assignment.strategy", partitionAssignmentStrategy),
            ("session.timeout.ms", String(sessionTimeoutMilliseconds)),
            ("heartbeat.interval.ms", String(heartbeatIntervalMilliseconds)),
            ("max.poll.interval.ms", String(maxPollIntervalMilliseconds)),
            ("fetch.wait.max.ms", String(fetchWaitMaxMilliseconds)),
            ("queued.max.messages.kbytes", String(queuedMaxMessagesKilobytes)),
            ("enable.partition.eof", "false"),
            ("check.crcs", "true"),
        ]
        if let groupInstanceID { properties.append(("group.instance.id", groupInstanceID)) }
        return client.withAdditional(properties)
    }
}
