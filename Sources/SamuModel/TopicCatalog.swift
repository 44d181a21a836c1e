import Foundation

/// What a topic is for; code asks the catalog for a role, never spells a topic name itself.
public enum TopicRole: String, Sendable, CaseIterable, Codable {
    case reports
    case units
    case beds
    case commands
    case outcomes
    case deadLetters = "dead_letters"
    case partnerOutcomes = "partner_outcomes"
    /// Mutual aid between dispatch areas' workers.
    case aid

    /// The topics the dispatch workers consume.
    public static let inbound: [TopicRole] = [.reports, .units, .beds, .commands, .aid]
}

/// One topic as defined in `topics/`: name, partitioning, retention, and the JSON Schema of each
/// value version it carries.
public struct TopicDefinition: Sendable {
    public var name: String
    public var role: TopicRole
    public var description: String
    /// What the record key is (for samu's topics: the zone, a province or prefecture code).
    public var key: String
    public var partitions: Int
    public var replicationFactor: Int
    public var configs: [String: String]
    /// Value schemas by `schema_version`.
    public var schemas: [Int: JSONSchema]
    /// Example values, each valid against its version's schema (checked by tests).
    public var examples: [JSONValue]

    public var latestSchemaVersion: Int { schemas.keys.max() ?? 1 }

    /// The schema of the version a document names (`schema_version`), if the topic has it.
    public func schema(for document: JSONValue) -> JSONSchema? {
        document["schema_version"]?.integerValue.flatMap { schemas[Int($0)] }
    }
}

/// The topic catalog read from `topics/*.json`, with an optional name prefix applied to every
/// topic (so that tests, or tenants, get topics of their own).
public struct TopicCatalog: Sendable {
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var file: String
        public var message: String
        public var description: String { "\(file): \(message)" }
    }

    public let definitions: [TopicDefinition]
    public let prefix: String

    public init(definitions: [TopicDefinition], prefix: String = "") {
        self.definitions = definitions
        self.prefix = prefix
    }

    /// The definition for a role.
    public func definition(_ role: TopicRole) -> TopicDefinition {
        guard let definition = definitions.first(where: { $0.role == role }) else {
            preconditionFailure("the catalog was checked at load time to define every role")
        }
        return definition
    }

    /// The topic name to use for a role, with the prefix applied. Partner outcomes have one topic
    /// per partner: use ``partnerTopic(_:)``.
    public func name(_ role: TopicRole) -> String {
        prefix + definition(role).name
    }

    /// A partner's own outcome topic, `samu.partner.<partner>.outcomes.v1`: each partner is
    /// granted Read under the prefix `samu.partner.<partner>.` (Kafka ACLs cannot filter records
    /// by key, so a topic shared by partners would show each one the others' records).
    public func partnerTopic(_ partner: String) -> String {
        prefix + definition(.partnerOutcomes).name.replacingOccurrences(of: "{partner}", with: partner)
    }

    /// The topics a deployment needs: every role's topic, with one partner-outcome topic for each
    /// of these partners (and none for the template).
    public func topics(partners: [String]) -> [(name: String, definition: TopicDefinition)] {
        var topics: [(String, TopicDefinition)] = []
        for definition in definitions {
            if definition.role == .partnerOutcomes {
                topics += partners.sorted().map { (partnerTopic($0), definition) }
            } else {
                topics.append((prefix + definition.name, definition))
            }
        }
        return topics
    }

    public func withPrefix(_ prefix: String) -> TopicCatalog {
        TopicCatalog(definitions: definitions, prefix: prefix)
    }

    /// Loads every `*.json` file of a directory; fails if a file is malformed, a schema uses a
    /// keyword samu cannot check, an example does not match its schema, or a role is missing.
    public static func load(directory: URL) throws(LoadError) -> TopicCatalog {
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        } catch {
            throw LoadError(
                file: directory.path, message: "cannot read the topic catalog: \(error.localizedDescription)")
        }
        var definitions: [TopicDefinition] = []
        for file in files {
            definitions.append(try loadDefinition(file))
        }
        for role in TopicRole.allCases {
            let count = definitions.filter { $0.role == role }.count
            if count != 1 {
                throw LoadError(
                    file: directory.path,
                    message: "expected exactly one topic with role '\(role.rawValue)', found \(count)")
            }
        }
        let inboundPartitions = Set(
            TopicRole.inbound.compactMap { role in definitions.first { $0.role == role }?.partitions })
        if inboundPartitions.count > 1 {
            throw LoadError(
                file: directory.path,
                message:
                    "the inbound topics must have the same partition count (a zone's events must meet in one worker)")
        }
        return TopicCatalog(definitions: definitions)
    }

    static func loadDefinition(_ file: URL) throws(LoadError) -> TopicDefinition {
        let name = file.lastPathComponent
        func fail(_ message: String) -> LoadError { LoadError(file: name, message: message) }
        let data: Data
        do { data = try Data(contentsOf: file) } catch { throw fail("cannot read: \(error.localizedDescription)") }
        let json: JSONValue
        do { json = try JSONParser.parse(Array(data)) } catch { throw fail("not valid JSON: \(error)") }
        // A per-partner topic's file is named after its template without the placeholder:
        // `samu.partner.{partner}.outcomes.v1` lives in `samu.partner.outcomes.v1.json`.
        guard let topicName = json["name"]?.stringValue,
            "\(topicName.replacingOccurrences(of: "{partner}.", with: "")).json" == name
        else {
            throw fail("'name' must match the file name")
        }
        guard let roleText = json["role"]?.stringValue, let role = TopicRole(rawValue: roleText) else {
            throw fail("'role' must be one of \(TopicRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let partitions = json["partitions"]?.integerValue, partitions > 0,
            let replication = json["replication_factor"]?.integerValue, replication > 0
        else { throw fail("'partitions' and 'replication_factor' must be positive integers") }
        var configs: [String: String] = [:]
        if case .object(let object)? = json["configs"] {
            for entry in object.entries {
                guard let value = entry.value.stringValue else { throw fail("config \(entry.key) must be a string") }
                configs[entry.key] = value
            }
        }
        var schemas: [Int: JSONSchema] = [:]
        guard case .object(let schemaObject)? = json["schemas"] else {
            throw fail("'schemas' must map versions to schemas")
        }
        for entry in schemaObject.entries {
            guard let version = Int(entry.key) else { throw fail("schema version '\(entry.key)' is not an integer") }
            do { schemas[version] = try JSONSchema(entry.value) } catch { throw fail("schema \(version): \(error)") }
        }
        var examples: [JSONValue] = []
        if case .array(let values)? = json["examples"] { examples = values }
        for (index, example) in examples.enumerated() {
            guard let version = example["schema_version"]?.integerValue, let schema = schemas[Int(version)] else {
                throw fail("example \(index) has no known schema_version")
            }
            do { try schema.validate(example) } catch { throw fail("example \(index) is invalid: \(error)") }
        }
        return TopicDefinition(
            name: topicName, role: role, description: json["description"]?.stringValue ?? "",
            key: json["key"]?.stringValue ?? "", partitions: Int(partitions), replicationFactor: Int(replication),
            configs: configs, schemas: schemas, examples: examples)
    }

    /// Finds `topics/`: `SAMU_TOPICS_DIR` if set, else the first `topics` folder holding a catalog in
    /// the working directory, next to the executable, or in their parents.
    public static func locateDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let path = environment["SAMU_TOPICS_DIR"] { return URL(fileURLWithPath: path) }
        var starts = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        for start in starts {
            var directory = start.standardizedFileURL
            for _ in 0..<8 {
                let candidate = directory.appendingPathComponent("topics")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("samu.reports.v1.json").path)
                {
                    return candidate
                }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }

    /// Loads the catalog from ``locateDirectory(environment:)``.
    public static func loadDefault() throws(LoadError) -> TopicCatalog {
        guard let directory = locateDirectory() else {
            throw LoadError(
                file: "topics/", message: "topic catalog not found; run from the repository or set SAMU_TOPICS_DIR")
        }
        return try load(directory: directory)
    }
}
