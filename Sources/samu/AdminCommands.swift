import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply the database migrations this build knows (idempotent).")

    func run() async throws {
        let context = try Context.forCommand(label: "samu.migrate")
        let applied = try await context.withStore { store in try await store.migrate() }
        let schema = context.configuration.database.schema
        if applied.isEmpty {
            print("migrate: schema \(schema) is up to date (version \(Migrations.latestVersion))")
        } else {
            print("migrate: applied \(applied.map(String.init).joined(separator: ", ")) to schema \(schema)")
        }
    }
}

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "Manage the topics of the catalog in topics/.",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the catalog's topics that do not exist yet (idempotent).")

        @Option(help: "Replication factor for every topic (production: 3); default: the catalog's.")
        var replicationFactor: Int?

        func run() async throws {
            try requireLibrdKafka()
            let context = try Context.forCommand(label: "samu.topics")
            // One outcome topic per partner of SAMU_PARTNERS.
            let partners = try context.configuration.partnerIDs()
            let specifications = context.catalog.topics(partners: partners).map { name, definition in
                KafkaTopicSpecification(
                    name: name, partitions: definition.partitions,
                    replicationFactor: replicationFactor ?? definition.replicationFactor, configs: definition.configs)
            }
            let outcomes = try await KafkaAdmin.createTopics(
                specifications, client: context.configuration.kafka, logger: context.logger)
            for specification in specifications {
                let outcome = outcomes[specification.name].map { $0 == .created ? "created" : "exists" } ?? "?"
                print("topics: \(specification.name) (\(specification.partitions) partitions): \(outcome)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the catalog.")

        func run() async throws {
            let context = try Context.forCommand(label: "samu.topics")
            for definition in context.catalog.definitions {
                print(
                    "\(context.catalog.prefix)\(definition.name)  role=\(definition.role.rawValue) partitions=\(definition.partitions) key=\(definition.key)"
                )
            }
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "List the environment variables samu reads, and their values now.")

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        for variable in SamuConfiguration.variables {
            let value =
                environment[variable.name].map { variable.name.contains("PASSWORD") ? "<set>" : $0 }
                ?? "(default \(variable.defaultValue))"
            print("\(variable.name)=\(value)\n    \(variable.meaning)")
        }
        do {
            let configuration = try SamuConfiguration()
            print(
                "\nvalid: kafka \(configuration.kafka.bootstrapServers) \(configuration.kafka.security), database \(configuration.database)"
            )
        } catch {
            print("\ninvalid: \(error)")
            throw ExitCode.failure
        }
    }
}

struct RolesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roles",
        abstract:
            "Create or update the least-privilege database roles: the worker's, the console's and one per partner (idempotent).",
        discussion: """
            Run as the schema owner after `samu migrate`. Partners come from SAMU_PARTNERS. A role gets LOGIN \
            only when --passwords names it: a JSON object {"role": "password"} in a file readable by the operator \
            only; other roles are NOLOGIN (grant them to a login role, or use certificate authentication).
            """)

    @Option(help: "Name of the worker's role.") var workerRole = "samu_worker"
    @Option(help: "Name of the console's role.") var consoleRole = "samu_console"
    @Option(help: "JSON file of role passwords.") var passwords: String?

    func run() async throws {
        let context = try Context.forCommand(label: "samu.roles")
        let partners =
            try context.configuration.partnersPath.map {
                try PartnerDirectory.load(URL(fileURLWithPath: $0)).partners.map(\.id)
            } ?? []
        var secrets: [String: String] = [:]
        if let passwords {
            guard let data = FileManager.default.contents(atPath: passwords),
                case .object(let object) = try JSONParser.parse(Array(data))
            else { throw ValidationError("--passwords: cannot read a JSON object from \(passwords)") }
            for entry in object.entries {
                guard let secret = entry.value.stringValue else {
                    throw ValidationError("--passwords: \(entry.key) must be a string")
                }
                secrets[entry.key] = secret
            }
        }
        let roles = DatabaseRoles(
            workerRole: workerRole, consoleRole: consoleRole, partners: partners, passwords: secrets)
        try await context.withStore { store in try await store.apply(roles) }
        let names = [workerRole, consoleRole] + partners.map(DatabaseRoles.partnerRole)
        print(
            "roles: \(names.count) roles on schema \(context.configuration.database.schema): "
                + names.map { "\($0)\(secrets[$0] == nil ? " (nologin)" : "")" }.joined(separator: ", "))
    }
}

struct PrivacyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy", abstract: "Personal data under law 09-08.", subcommands: [Purge.self])

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the personal data of cases closed longer ago than the retention period.",
            discussion: """
                Closed cases keep what is counted (zone, category, priority, times, resolution, the person's \
                count, sex and age band, a position to about 1 km) and lose the notes, the reporter and \
                callback number, the place as described, the exact age and the free text about the case. \
                Each run is logged in privacy_log. Run it daily (cron or a systemd timer).
                """)

        @Option(help: "Days a closed case keeps its personal data (default SAMU_RETENTION_DAYS, else 90).")
        var days: Int?

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let retention = days ?? environment["SAMU_RETENTION_DAYS"].flatMap(Int.init) ?? 90
            guard (1...3650).contains(retention) else { throw ValidationError("--days: between 1 and 3650") }
            let context = try Context.forCommand(label: "samu.privacy")
            let before = Date().addingTimeInterval(-Double(retention) * 86_400)
            let by = environment["USER"].map { "cli:\($0)" } ?? "cli"
            let count = try await context.withStore { store in
                try await store.purgePersonalData(closedBefore: before, by: by)
            }
            print("privacy: personal data removed from \(count) cases closed more than \(retention) days ago")
        }
    }
}

struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "The outbox of published events.", subcommands: [Republish.self])

    struct Republish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish outbox rows again, same ids and bytes (after a broker lost its log).",
            discussion:
                "Marks the rows unpublished; a running worker's sweep publishes them within seconds. Consumers dedupe by event_id."
        )

        @Option(help: "Rows created at or after this time (RFC 3339).") var since: String
        @Option(help: "Only rows of this topic (full name).") var topic: String?

        func run() async throws {
            guard let start = RFC3339.parse(since) else { throw ValidationError("--since: not an RFC 3339 time") }
            let context = try Context.forCommand(label: "samu.outbox")
            let count = try await context.withStore { store in
                try await store.markUnpublished(since: start, topic: topic)
            }
            print("outbox: \(count) rows marked for republication since \(since)")
        }
    }
}
