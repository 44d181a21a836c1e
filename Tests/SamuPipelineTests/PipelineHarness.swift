import Foundation
import Logging
import PostgresNIO
import RdKafka
import SamuModel
import SamuPipeline
import SamuTestSupport
import SamuTriage
import ServiceLifecycle
import Testing

@testable import SamuStore

/// A private corner of the embedded default for one test: its own topics (by prefix), consumer
/// group and database schema, on the real broker and PostgreSQL.
struct PipelineHarness {
    let id: String
    var environment: [String: String]
    var configuration: SamuConfiguration
    let catalog: TopicCatalog
    let logger: Logger
    /// The demo deployment's dispatch areas, as the `samu` binary finds them: events are keyed by
    /// their zone's area and the harness's workers decide areas.
    let areas: DispatchAreas = Self.demoAreas
    static let demoAreas: DispatchAreas = {
        (try? Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json")))?.areas ?? .none
    }()

    init(batchSize: Int = 500, bootstrapServers: String? = nil, databaseURL: String? = nil) throws {
        _ = ProcessMetrics.recorder  // before any worker makes its metrics
        id = UUID().uuidString.prefix(8).lowercased()
        environment = [
            "SAMU_KAFKA_BOOTSTRAP_SERVERS": bootstrapServers ?? TestEnvironment.bootstrapServers,
            "SAMU_DATABASE_URL": databaseURL ?? TestEnvironment.databaseURL,
            "SAMU_TOPIC_PREFIX": "t-\(id).",
            "SAMU_DATABASE_SCHEMA": "t_\(id)",
            "SAMU_KAFKA_GROUP_ID": "samu-test-\(id)",
            "SAMU_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "SAMU_WORKER_ID": "test-\(id)",
            "SAMU_WORKER_BATCH_SIZE": "\(batchSize)",
            "SAMU_TOPICS_DIR": Repository.topics.path,
            "SAMU_LOG_LEVEL": ProcessInfo.processInfo.environment["SAMU_TEST_LOG_LEVEL"] ?? "warning",
        ]
        configuration = try SamuConfiguration(environment: environment)
        catalog = try Repository.catalog(prefix: "t-\(id).")
        logger = TestEnvironment.logger("pipeline-test")
    }

    /// The same topics, group and schema with these settings changed (another worker id, timers).
    func with(_ changes: [String: String]) throws -> PipelineHarness {
        var copy = self
        for (name, value) in changes { copy.environment[name] = value }
        copy.configuration = try SamuConfiguration(environment: copy.environment)
        return copy
    }

    /// The same topics and schema, reached as another database role.
    func connecting(as role: String, password: String) throws -> PipelineHarness {
        var copy = self
        var components = try #require(URLComponents(string: TestEnvironment.databaseURL))
        components.user = role
        components.password = password
        copy.environment["SAMU_DATABASE_URL"] = components.string
        copy.configuration = try SamuConfiguration(environment: copy.environment)
        return copy
    }

    /// Creates the topics (with one outcome topic for each of `partners`) and migrates the schema.
    func prepare(partners: [String] = []) async throws {
        _ = try await KafkaAdmin.createTopics(
            catalog.topics(partners: partners).map { name, definition in
                KafkaTopicSpecification(name: name, partitions: definition.partitions, configs: definition.configs)
            }, client: configuration.kafka, logger: logger)
        _ = try await withStore { try await $0.migrate() }
    }

    /// Every record of these partners' outcome topics, partner by partner.
    func readPartnerOutcomes(_ partners: [String]) async throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        for partner in partners {
            messages += try await KafkaTopicReader.readAll(
                topic: catalog.partnerTopic(partner), client: configuration.kafka, logger: logger)
        }
        return messages
    }

    /// The first value of a query's first column (-1 when it returns no row).
    func scalar(_ sql: String) async throws -> Int {
        try await withStore { store in
            let rows = try await store.client.query(PostgresQuery(unsafeSQL: sql))
            for try await value in rows.decode(Int64.self) { return Int(value) }
            return -1
        }
    }

    /// The first value of a query's first column, as text (nil when it returns no row or null).
    func text(_ sql: String) async throws -> String? {
        try await withStore { store in
            let rows = try await store.client.query(PostgresQuery(unsafeSQL: sql))
            for try await value in rows.decode(String?.self) { return value }
            return nil
        }
    }

    /// Drops the schema (topics stay on the memory broker until it restarts).
    func cleanUp() async throws {
        try await withStore { try await $0.dropSchema() }
    }

    func withStore<Result: Sendable>(_ body: (SamuStore) async throws -> Result) async throws -> Result {
        try await SamuStore.withStore(configuration: configuration.database, logger: logger, body)
    }

    /// Runs a worker in this process while `body` runs, then shuts it down gracefully.
    func withWorker<Result: Sendable>(
        neighbours: [String: [String]] = [:], areas: DispatchAreas? = nil, catalog: TopicCatalog? = nil,
        partnerFeed: PartnerFeed.Configuration? = nil, _ body: (DispatchWorker) async throws -> Result
    ) async throws -> Result {
        let catalog = catalog ?? self.catalog
        let store = try SamuStore(configuration: configuration.database, logger: logger)
        let rules = try TriageRules.load(Repository.seeds.appendingPathComponent("triage/rules.json"))
        let worker = DispatchWorker(
            configuration: configuration, catalog: catalog, store: store, triage: TriageEngine(rules: rules),
            zones: try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json")),
            neighbours: neighbours, areas: areas ?? self.areas, partnerFeed: partnerFeed, logger: logger)
        return try await withServices([StoreService(store: store), worker]) { try await body(worker) }
    }

    /// Runs `services` in a group while `body` runs, then shuts them down gracefully.
    func withServices<Result: Sendable>(
        _ services: [any Service], _ body: () async throws -> Result
    ) async throws
        -> Result
    {
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let result = try await body()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// An event of `role` for `zone` (schema version 1, a new event id), keyed by the zone.
    func event(
        _ role: TopicRole, zone: String, version: Int64 = 1, key: String? = nil, _ fields: [(String, JSONValue)]
    ) -> KafkaRecord {
        var object = JSONObject()
        object.append("schema_version", .integer(version))
        object.append("event_id", .string(UUID().uuidString.lowercased()))
        object.append("zone", .string(zone))
        for (key, value) in fields { object.append(key, value) }
        return KafkaRecord(
            topic: catalog.name(role), key: key.map { Array($0.utf8) } ?? areas.key(for: zone),
            value: Array(JSONValue.object(object).serialized.utf8))
    }

    func produce(_ records: [KafkaRecord]) async throws {
        let results = try await KafkaProducer.withProducer(configuration: configuration.producer, logger: logger) {
            await $0.send(records)
        }
        for result in results { _ = try result.get() }
    }

    func reportRecord(_ document: JSONValue, key: String? = nil, headers: [KafkaHeader] = []) -> KafkaRecord {
        KafkaRecord(
            topic: catalog.name(.reports),
            key: key.map { Array($0.utf8) } ?? areas.key(for: document["zone"]?.stringValue ?? "none"),
            value: ReportFixture.bytes(document), headers: headers)
    }

    func readAll(_ role: TopicRole) async throws -> [KafkaMessage] {
        try await KafkaTopicReader.readAll(topic: catalog.name(role), client: configuration.kafka, logger: logger)
    }

    /// The outcome steps of one type, parsed (a `case.steps` record gives each of its steps).
    func outcomes(ofType type: String) async throws -> [JSONValue] {
        try await readAll(.outcomes).flatMap { OutcomeRecord.steps($0.value) }
            .filter { $0["type"]?.stringValue == type }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(250))
    }
    return try await condition()
}
