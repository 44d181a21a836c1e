import Foundation
import RdKafka
import SamuModel
import SamuStore

/// samu's settings, read from environment variables whose defaults point at the embedded default
/// (the broker and PostgreSQL that `ops/` starts on loopback).
public struct SamuConfiguration: Sendable {
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var variable: String
        public var message: String
        public var description: String { "\(variable): \(message)" }
    }

    /// One row of the README's configuration table.
    public struct Variable: Sendable {
        public var name: String
        public var defaultValue: String
        public var meaning: String
    }

    public static let variables: [Variable] = [
        .init(
            name: "SAMU_KAFKA_BOOTSTRAP_SERVERS", defaultValue: "127.0.0.1:19092",
            meaning: "Kafka brokers (host:port, comma-separated)"),
        .init(
            name: "SAMU_KAFKA_SECURITY_PROTOCOL", defaultValue: "plaintext",
            meaning: "plaintext, ssl, sasl_plaintext or sasl_ssl"),
        .init(
            name: "SAMU_KAFKA_SASL_MECHANISM", defaultValue: "",
            meaning: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or OAUTHBEARER"),
        .init(name: "SAMU_KAFKA_SASL_USERNAME", defaultValue: "", meaning: "SASL user name"),
        .init(
            name: "SAMU_KAFKA_SASL_PASSWORD", defaultValue: "",
            meaning: "SASL password (or SAMU_KAFKA_SASL_PASSWORD_FILE: a file holding it)"),
        .init(
            name: "SAMU_KAFKA_SSL_CA_LOCATION", defaultValue: "", meaning: "CA certificate file to verify the brokers"),
        .init(
            name: "SAMU_KAFKA_SSL_CERTIFICATE_LOCATION", defaultValue: "", meaning: "client certificate (mutual TLS)"),
        .init(name: "SAMU_KAFKA_SSL_KEY_LOCATION", defaultValue: "", meaning: "client private key (mutual TLS)"),
        .init(name: "SAMU_KAFKA_SSL_KEY_PASSWORD", defaultValue: "", meaning: "password of the client key"),
        .init(
            name: "SAMU_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", defaultValue: "https",
            meaning: "https (verify the broker host name) or none"),
        .init(name: "SAMU_KAFKA_GROUP_ID", defaultValue: "samu-dispatch", meaning: "consumer group of the workers"),
        .init(
            name: "SAMU_KAFKA_SESSION_TIMEOUT_MS", defaultValue: "45000",
            meaning: "group session timeout; ops/env.sh sets 6000 for the local broker"),
        .init(
            name: "SAMU_KAFKA_PROPERTIES", defaultValue: "",
            meaning: "extra librdkafka properties, `name=value;name=value`, applied last"),
        .init(name: "SAMU_TOPIC_PREFIX", defaultValue: "", meaning: "prefix for every topic name (tenants, tests)"),
        .init(
            name: "SAMU_TOPICS_DIR", defaultValue: "./topics",
            meaning: "the topic catalog (found upward from the working directory if unset)"),
        .init(
            name: "SAMU_DATABASE_URL", defaultValue: "postgres://samu:samu-local@127.0.0.1:15432/samu",
            meaning: "PostgreSQL URL; `?sslmode=verify-full&sslrootcert=FILE` in production"),
        .init(name: "SAMU_DATABASE_SCHEMA", defaultValue: "samu", meaning: "PostgreSQL schema of samu's tables"),
        .init(
            name: "SAMU_WORKER_ID", defaultValue: "HOST-PID",
            meaning: "this worker's name in logs, timelines and client ids"),
        .init(
            name: "SAMU_WORKER_BATCH_SIZE", defaultValue: "500",
            meaning: "most events handled in one database transaction"),
        .init(
            name: "SAMU_PARTNERS", defaultValue: "",
            meaning: "partners file (seeds/demo/partners.json in the embedded default); unset: no partner feed"),
        .init(
            name: "SAMU_PARTNER_KEYS", defaultValue: "",
            meaning: "pseudonym key file, outside the database (required with SAMU_PARTNERS; `samu partners keys`)"),
        .init(
            name: "SAMU_ZONES", defaultValue: "seeds/provinces.json",
            meaning: "the provinces and prefectures events may name; any other zone is refused (`unknown_zone`)"),
        .init(
            name: "SAMU_COMMUNES", defaultValue: "seeds/hcp/communes.json",
            meaning: "communes used to coarsen positions for partners"),
        .init(
            name: "SAMU_PARTNER_INTERVAL_MS", defaultValue: "10000",
            meaning: "how often the partner feed looks for finished cases"),
        .init(
            name: "SAMU_PARTNER_DAY_GRACE_HOURS", defaultValue: "6",
            meaning: "hours after a UTC day's end before its protected-group counts are published"),
        .init(
            name: "SAMU_LOG_LEVEL", defaultValue: "info",
            meaning: "trace, debug, info, notice, warning, error, critical"),
        .init(
            name: "SAMU_LOG_FORMAT", defaultValue: "text",
            meaning: "text, or json: one JSON object per line (time, level, label, message, metadata)"),
        .init(
            name: "SAMU_CONSOLE_ADDRESS", defaultValue: "127.0.0.1:8080",
            meaning: "where `samu console` listens (console and HTTP intake)"),
        .init(
            name: "SAMU_CONSOLE_OPS_ADDRESS", defaultValue: "127.0.0.1:9090",
            meaning: "where `samu console` serves /metrics and /health/* (keep it off the public door); `off`: nowhere"),
        .init(
            name: "SAMU_CONSOLE_SECURE_COOKIES", defaultValue: "1",
            meaning:
                "1: session cookies carry Secure (browsers keep them over HTTPS and on localhost); 0 only behind a plain-HTTP test proxy"
        ),
        .init(
            name: "SAMU_CONSOLE_CONNECTIONS_PER_CLIENT", defaultValue: "256",
            meaning:
                "connections one client (IPv4 address, IPv6 /64) may hold open at the console; 0: no limit (behind a reverse proxy, limit there)"
        ),
        .init(
            name: "SAMU_WORKER_HTTP_ADDRESS", defaultValue: "",
            meaning: "where a worker serves /metrics and /health/* (host:port); unset: no HTTP listener"),
    ]

    public var kafka: KafkaClientConfiguration
    public var groupID: String
    public var sessionTimeoutMilliseconds: Int
    public var topicPrefix: String
    public var topicsDirectory: String?
    public var database: DatabaseConfiguration
    public var workerID: String
    public var batchSize: Int
    public var logLevel: String
    /// Logs as JSON lines (`SAMU_LOG_FORMAT=json`).
    public var jsonLogs: Bool
    public var consoleAddress: String
    public var consoleSecureCookies: Bool
    /// Connections one client may hold open at the console (0: no limit).
    public var consoleConnectionsPerClient: Int
    public var workerHTTPAddress: String?
    public var consoleOpsAddress: String?
    public var triageRulesPath: String?
    public var deploymentPath: String?
    public var partnersPath: String?
    public var partnerKeysPath: String?
    public var communesPath: String?
    public var zonesPath: String?
    public var partnerIntervalMilliseconds: Int
    public var partnerDayGraceHours: Int
    /// A P1 (P2) case waiting this long is escalated and asks a neighbour area for a unit.
    public var escalateP1Seconds: Int
    public var escalateP2Seconds: Int
    /// How long a mutual-aid request waits for an offer, and a lender holds an offered unit.
    public var aidTimeoutSeconds: Int

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(Invalid) {
        func value(_ name: String) -> String? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        func integer(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws(Invalid) -> Int {
            guard let text = value(name) else { return defaultValue }
            guard let number = Int(text), range.contains(number) else {
                throw Invalid(
                    variable: name, message: "'\(text)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        let host = ProcessInfo.processInfo.hostName
        workerID = value("SAMU_WORKER_ID") ?? "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
        var kafka = KafkaClientConfiguration(
            bootstrapServers: value("SAMU_KAFKA_BOOTSTRAP_SERVERS") ?? "127.0.0.1:19092", clientID: "samu-\(workerID)")
        var security = KafkaSecurity()
        if let text = value("SAMU_KAFKA_SECURITY_PROTOCOL") {
            guard let parsed = KafkaSecurity.SecurityProtocol(rawValue: text.lowercased()) else {
                throw Invalid(
                    variable: "SAMU_KAFKA_SECURITY_PROTOCOL",
                    message:
                        "'\(text)' is not one of \(KafkaSecurity.SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            security.securityProtocol = parsed
        }
        security.saslMechanism = value("SAMU_KAFKA_SASL_MECHANISM")
        security.saslUsername = value("SAMU_KAFKA_SASL_USERNAME")
        security.saslPassword = value("SAMU_KAFKA_SASL_PASSWORD")
        if let file = value("SAMU_KAFKA_SASL_PASSWORD_FILE") {
            guard let secret = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw Invalid(variable: "SAMU_KAFKA_SASL_PASSWORD_FILE", message: "cannot read \(file)")
            }
            security.saslPassword = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        security.sslCALocation = value("SAMU_KAFKA_SSL_CA_LOCATION")
        security.sslCertificateLocation = value("SAMU_KAFKA_SSL_CERTIFICATE_LOCATION")
        security.sslKeyLocation = value("SAMU_KAFKA_SSL_KEY_LOCATION")
        security.sslKeyPassword = value("SAMU_KAFKA_SSL_KEY_PASSWORD")
        security.sslEndpointIdentificationAlgorithm = value("SAMU_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM")
        do {
            _ = try security.librdkafkaProperties()
        } catch {
            throw Invalid(variable: "SAMU_KAFKA_SECURITY_PROTOCOL", message: error.message)
        }
        kafka.security = security
        if let text = value("SAMU_KAFKA_PROPERTIES") {
            for pair in text.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw Invalid(variable: "SAMU_KAFKA_PROPERTIES", message: "'\(pair)' is not name=value")
                }
                kafka.additionalProperties[parts[0]] = parts[1]
            }
        }
        // Notice recreated or repartitioned topics within seconds (librdkafka's default is 5 min):
        // consumers and producers both, after a broker lost its log and topics were created again.
        if kafka.additionalProperties["topic.metadata.refresh.interval.ms"] == nil {
            kafka.additionalProperties["topic.metadata.refresh.interval.ms"] = "10000"
        }
        self.kafka = kafka
        groupID = value("SAMU_KAFKA_GROUP_ID") ?? "samu-dispatch"
        sessionTimeoutMilliseconds = try integer(
            "SAMU_KAFKA_SESSION_TIMEOUT_MS", default: 45_000, range: 1_000...300_000)
        topicPrefix = value("SAMU_TOPIC_PREFIX") ?? ""
        topicsDirectory = value("SAMU_TOPICS_DIR")
        do {
            database = try DatabaseConfiguration(
                url: value("SAMU_DATABASE_URL") ?? "postgres://samu:samu-local@127.0.0.1:15432/samu",
                schema: value("SAMU_DATABASE_SCHEMA") ?? "samu")
        } catch {
            throw Invalid(variable: "SAMU_DATABASE_URL", message: error.message)
        }
        batchSize = try integer("SAMU_WORKER_BATCH_SIZE", default: 500, range: 1...10_000)
        logLevel = value("SAMU_LOG_LEVEL") ?? "info"
        switch value("SAMU_LOG_FORMAT")?.lowercased() ?? "text" {
        case "text": jsonLogs = false
        case "json": jsonLogs = true
        case let other: throw Invalid(variable: "SAMU_LOG_FORMAT", message: "'\(other)' is not text or json")
        }
        consoleAddress = value("SAMU_CONSOLE_ADDRESS") ?? "127.0.0.1:8080"
        consoleSecureCookies = try integer("SAMU_CONSOLE_SECURE_COOKIES", default: 1, range: 0...1) == 1
        consoleConnectionsPerClient = try integer(
            "SAMU_CONSOLE_CONNECTIONS_PER_CLIENT", default: 256, range: 0...1_000_000)
        workerHTTPAddress = value("SAMU_WORKER_HTTP_ADDRESS")
        let ops = value("SAMU_CONSOLE_OPS_ADDRESS") ?? "127.0.0.1:9090"
        consoleOpsAddress = ops.lowercased() == "off" ? nil : ops
        for (name, address) in [
            ("SAMU_CONSOLE_ADDRESS", consoleAddress), ("SAMU_WORKER_HTTP_ADDRESS", workerHTTPAddress),
            ("SAMU_CONSOLE_OPS_ADDRESS", consoleOpsAddress),
        ] {
            guard let address else { continue }
            guard Self.hostAndPort(address) != nil else {
                throw Invalid(variable: name, message: "'\(address)' is not host:port")
            }
        }
        triageRulesPath = value("SAMU_TRIAGE_RULES")
        deploymentPath = value("SAMU_DEPLOYMENT")
        partnersPath = value("SAMU_PARTNERS")
        partnerKeysPath = value("SAMU_PARTNER_KEYS")
        communesPath = value("SAMU_COMMUNES")
        zonesPath = value("SAMU_ZONES")
        partnerIntervalMilliseconds = try integer("SAMU_PARTNER_INTERVAL_MS", default: 10_000, range: 100...3_600_000)
        partnerDayGraceHours = try integer("SAMU_PARTNER_DAY_GRACE_HOURS", default: 6, range: 0...240)
        escalateP1Seconds = try integer("SAMU_ESCALATE_P1_SECONDS", default: 600, range: 1...86_400)
        escalateP2Seconds = try integer("SAMU_ESCALATE_P2_SECONDS", default: 1_800, range: 1...86_400)
        aidTimeoutSeconds = try integer("SAMU_AID_TIMEOUT_SECONDS", default: 30, range: 1...3_600)
    }

    /// `host:port` split, or `nil` when it is not one.
    public static func hostAndPort(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port), colon > address.startIndex
        else { return nil }
        return (String(address[..<colon]), port)
    }

    /// The zones events may name: `SAMU_ZONES`, or the repository's `seeds/provinces.json`.
    public func zoneDirectory() throws(Invalid) -> ZoneDirectory {
        do {
            if let zonesPath { return try ZoneDirectory.load(URL(fileURLWithPath: zonesPath)) }
            return try ZoneDirectory.locateDefault()
        } catch {
            throw Invalid(variable: "SAMU_ZONES", message: error.description)
        }
    }

    /// The partners of `SAMU_PARTNERS` (none when it is unset): each has a topic of its own.
    public func partnerIDs() throws(Invalid) -> [String] {
        guard let partnersPath else { return [] }
        do {
            return try PartnerDirectory.load(URL(fileURLWithPath: partnersPath)).partners.map(\.id)
        } catch {
            throw Invalid(variable: "SAMU_PARTNERS", message: error.description)
        }
    }

    /// The partner feed's settings, or `nil` when no partners file is configured. Fails when a
    /// file cannot be read or a partner has no pseudonym key.
    public func partnerFeed() throws(Invalid) -> PartnerFeed.Configuration? {
        guard let partnersPath else { return nil }
        do {
            let partners = try PartnerDirectory.load(URL(fileURLWithPath: partnersPath))
            guard let partnerKeysPath else {
                throw Invalid(
                    variable: "SAMU_PARTNER_KEYS",
                    message: "SAMU_PARTNERS is set but no pseudonym key file is; create one with `samu partners keys`")
            }
            let keyring = try PseudonymKeyring.load(URL(fileURLWithPath: partnerKeysPath))
            guard
                let communesURL = communesPath.map({ URL(fileURLWithPath: $0) })
                    ?? RepositoryFiles.locate("seeds/hcp/communes.json")
            else { throw Invalid(variable: "SAMU_COMMUNES", message: "no communes file found") }
            let feed = PartnerFeed.Configuration(
                partners: partners, communes: try CommuneDirectory.load(communesURL), keyring: keyring,
                interval: .milliseconds(partnerIntervalMilliseconds), dayGrace: .seconds(partnerDayGraceHours * 3600))
            try feed.validate()
            return feed
        } catch let error as ReferenceFileError {
            throw Invalid(variable: "SAMU_PARTNERS", message: error.description)
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(variable: "SAMU_PARTNERS", message: "\(error)")
        }
    }

    /// The worker's consumer settings.
    public var consumer: KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(client: kafka, groupID: groupID)
        // A zone's reports, units, beds and commands must reach the same worker: `range` gives
        // partition i of every inbound topic (all with the same partition count) to one member;
        // cooperative-sticky does not promise that.
        configuration.partitionAssignmentStrategy = "range"
        configuration.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        configuration.heartbeatIntervalMilliseconds = min(3_000, sessionTimeoutMilliseconds / 3)
        return configuration
    }

    /// The producers' settings (outbox relay, dead letters, intake).
    public var producer: KafkaProducerConfiguration {
        var client = kafka
        // Topics come from the catalog (`samu topics create`), never from a producer's first send:
        // an auto-created topic would get the broker's default partition count, not the catalog's.
        if client.additionalProperties["allow.auto.create.topics"] == nil {
            client.additionalProperties["allow.auto.create.topics"] = "false"
        }
        return KafkaProducerConfiguration(client: client)
    }
}
