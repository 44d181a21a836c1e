import Testing

@testable import RdKafka

@Suite("librdkafka configuration")
struct ConfigurationTests {
    @Test("the consumer stores offsets only when told, and commits them in the background")
    func consumerProperties() throws {
        var configuration = KafkaConsumerConfiguration(
            client: KafkaClientConfiguration(bootstrapServers: "b1:9092,b2:9092", clientID: "w1"),
            groupID: "samu-dispatch")
        configuration.groupInstanceID = "w1"
        let properties = Dictionary(try configuration.librdkafkaProperties(), uniquingKeysWith: { _, last in last })
        #expect(properties["bootstrap.servers"] == "b1:9092,b2:9092")
        #expect(properties["group.id"] == "samu-dispatch")
        #expect(properties["enable.auto.offset.store"] == "false")
        #expect(properties["enable.auto.commit"] == "true")
        #expect(properties["fetch.wait.max.ms"] == "10")
        #expect(properties["partition.assignment.strategy"] == "cooperative-sticky")
        #expect(properties["group.instance.id"] == "w1")
        #expect(properties["security.protocol"] == "plaintext")
    }

    @Test("the producer is idempotent with a 5 ms linger")
    func producerProperties() throws {
        let configuration = KafkaProducerConfiguration(client: KafkaClientConfiguration(bootstrapServers: "b:9092"))
        let properties = Dictionary(try configuration.librdkafkaProperties(), uniquingKeysWith: { _, last in last })
        #expect(properties["enable.idempotence"] == "true")
        #expect(properties["acks"] == "all")
        #expect(properties["linger.ms"] == "5")
    }

    @Test("additional properties come last and override samu's choices")
    func additionalOverride() throws {
        var client = KafkaClientConfiguration(bootstrapServers: "b:9092")
        client.additionalProperties = ["linger.ms": "20", "compression.type": "lz4"]
        let properties = try KafkaProducerConfiguration(client: client).librdkafkaProperties()
        #expect(properties.last { $0.0 == "linger.ms" }?.1 == "20")
        #expect(properties.contains { $0 == ("compression.type", "lz4") })
    }

    @Test("SASL/SCRAM over TLS passes every setting through")
    func saslSSL() throws {
        var security = KafkaSecurity()
        security.securityProtocol = .saslSSL
        security.saslMechanism = "SCRAM-SHA-512"
        security.saslUsername = "samu-worker"
        security.saslPassword = "s3cret"
        security.sslCALocation = "/etc/samu/ca.pem"
        let properties = try security.librdkafkaProperties()
        #expect(
            properties.map(\.0) == [
                "security.protocol", "sasl.mechanisms", "sasl.username", "sasl.password", "ssl.ca.location",
            ])
        #expect(properties.map(\.1) == ["sasl_ssl", "SCRAM-SHA-512", "samu-worker", "s3cret", "/etc/samu/ca.pem"])
        #expect(!security.description.contains("s3cret"))
    }

    @Test("mutual TLS needs both the certificate and the key")
    func mutualTLS() throws {
        var security = KafkaSecurity()
        security.securityProtocol = .ssl
        security.sslCALocation = "probe"
        security.sslCertificateLocation = "/etc/samu/client.pem"
        #expect(throws: KafkaError.self) { try security.librdkafkaProperties() }
        security.sslKeyLocation = "/etc/samu/client.key"
        let names = try security.librdkafkaProperties().map(\.0)
        #expect(names == ["security.protocol", "ssl.ca.location", "ssl.certificate.location", "ssl.key.location"])
    }

    @Test(
        "inconsistent security settings are refused with a clear message",
        arguments: [
            (KafkaSecurity.SecurityProtocol.saslSSL, nil, nil, nil, "needs a SASL mechanism"),
            (.saslPlaintext, "SCRAM-SHA-256", "u", nil, "needs a user name and a password"),
            (.saslSSL, "KERBEROS5", "u", "p", "unknown SASL mechanism"),
            (.plaintext, "PLAIN", "u", "p", "does not use SASL"),
            // F15: TLS with no CA named would fail only at the first connection, then for ever.
            (.saslSSL, "SCRAM-SHA-512", "u", "p", "needs a CA to verify the brokers (SAMU_KAFKA_SSL_CA_LOCATION"),
            (.ssl, nil, nil, nil, "needs a CA to verify the brokers"),
        ] as [(KafkaSecurity.SecurityProtocol, String?, String?, String?, String)]
    )
    func refused(
        securityProtocol: KafkaSecurity.SecurityProtocol, mechanism: String?, user: String?, password: String?,
        expected: String
    ) throws {
        var security = KafkaSecurity()
        security.securityProtocol = securityProtocol
        security.saslMechanism = mechanism
        security.saslUsername = user
        security.saslPassword = password
        let error = #expect(throws: KafkaError.self) { try security.librdkafkaProperties() }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains(expected) == true)
    }

    @Test("TLS files without a TLS protocol are refused")
    func tlsWithoutTLS() {
        var security = KafkaSecurity()
        security.sslCALocation = "/ca.pem"
        #expect(throws: KafkaError.self) { try security.librdkafkaProperties() }
    }

    @Test("librdkafka rejects an unknown property, and the error names it without leaking a password")
    func librdkafkaRejects() throws {
        var client = KafkaClientConfiguration(bootstrapServers: "127.0.0.1:1")
        client.additionalProperties = ["no.such.property": "1"]
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(client: client, groupID: "g"), topics: ["t"],
                logger: .init(label: "test"))
        }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains("no.such.property") == true)
    }
}

@Suite("librdkafka version")
struct VersionTests {
    @Test("the loaded librdkafka is at least 2.1 (the test command puts .local/lib first)")
    func loadedVersionIsSupported() throws {
        try LibrdKafka.requireSupportedVersion()
        #expect(LibrdKafka.version >= (2, 1, 0))
    }

    @Test("2.0.2 is refused with a message saying how to fix it")
    func oldVersionRefused() {
        let error = #expect(throws: KafkaError.self) {
            try LibrdKafka.check(version: (2, 0, 2), printed: "2.0.2")
        }
        #expect(error?.kind == .unsupportedLibrary)
        #expect(error?.message.contains("librdkafka 2.0.2") == true)
        #expect(error?.message.contains("ops/setup.sh") == true)
    }

    @Test("2.1.0 and later are accepted")
    func newVersionsAccepted() throws {
        try LibrdKafka.check(version: (2, 1, 0), printed: "2.1.0")
        try LibrdKafka.check(version: (3, 0, 0), printed: "3.0.0")
    }
}
