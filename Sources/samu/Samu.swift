import ArgumentParser
import Foundation
import Logging
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore
import SamuTriage

@main
struct Samu: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samu",
        abstract: "Dispatch for Morocco's mobile social emergency units (SAMU social).",
        discussion: "Configuration comes from SAMU_* environment variables; `samu config` lists them.",
        subcommands: [
            WorkerCommand.self, IntakeCommand.self, TopicsCommand.self, MigrateCommand.self, SeedCommand.self,
            SummaryCommand.self, CrewsCommand.self, DeadLetterCommand.self, BenchCommand.self,
            PartnersCommand.self, RolesCommand.self, OutboxCommand.self, SimulateCommand.self, ConfigCommand.self,
            ConsoleCommand.self, AccountsCommand.self, ReportCommand.self,
        ]
    )
}

/// What every command needs: configuration, a logger, the topic catalog.
struct Context {
    let configuration: SamuConfiguration
    let logger: Logger
    let catalog: TopicCatalog

    static func load(label: String) throws -> Context {
        let configuration: SamuConfiguration
        do {
            configuration = try SamuConfiguration()
        } catch {
            throw ValidationError("configuration: \(error)")
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let json = configuration.jsonLogs
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        let catalog: TopicCatalog
        do {
            let base =
                if let directory = configuration.topicsDirectory {
                    try TopicCatalog.load(directory: URL(fileURLWithPath: directory))
                } else {
                    try TopicCatalog.loadDefault()
                }
            catalog = base.withPrefix(configuration.topicPrefix)
        } catch {
            throw ValidationError("topic catalog: \(error)")
        }
        return Context(configuration: configuration, logger: logger, catalog: catalog)
    }

    /// The triage engine from SAMU_TRIAGE_RULES or seeds/triage/rules.json.
    func triageEngine() throws -> TriageEngine {
        guard
            let url = configuration.triageRulesPath.map({ URL(fileURLWithPath: $0) })
                ?? RepositoryFiles.locate("seeds/triage/rules.json")
        else { throw ValidationError("triage rules not found; set SAMU_TRIAGE_RULES") }
        do {
            return TriageEngine(rules: try TriageRules.load(url))
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The deployment from SAMU_DEPLOYMENT or seeds/demo/deployment.json, if there is one.
    func deployment() throws -> Deployment? {
        guard
            let url = configuration.deploymentPath.map({ URL(fileURLWithPath: $0) })
                ?? RepositoryFiles.locate("seeds/demo/deployment.json")
        else { return nil }
        do {
            return try Deployment.load(url)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Runs `body` with a store whose connection pool runs beside it.
    func withStore<Result: Sendable>(_ body: (SamuStore) async throws -> Result) async throws -> Result {
        try await SamuStore.withStore(configuration: configuration.database, logger: logger, body)
    }
}

/// Fails early, with the fix, when the librdkafka loaded at run time is too old.
func requireLibrdKafka() throws {
    do {
        try LibrdKafka.requireSupportedVersion()
    } catch {
        throw ValidationError(error.message)
    }
}
