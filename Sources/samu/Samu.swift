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
            SummaryCommand.self, CrewsCommand.self, DeadLetterCommand.self,
            PartnersCommand.self, RolesCommand.self, OutboxCommand.self, SimulateCommand.self, ConfigCommand.self,
            ConsoleCommand.self, AccountsCommand.self, ReportCommand.self, ShelterCommand.self, PrivacyCommand.self,
            StatisticsCommand.self,
        ]
    )
}

/// What every command needs: configuration, a logger, the topic catalog. A setup error is a usage
/// error here (exit 64, with the variable or file to fix).
typealias Context = SamuContext

extension SamuContext {
    static func forCommand(label: String) throws -> SamuContext {
        do {
            return try load(label: label)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// Fails early, with the fix, when the librdkafka loaded at run time is too old.
func requireLibrdKafka() throws {
    do {
        try SamuContext.requireLibrdKafka()
    } catch {
        throw ValidationError(error.message)
    }
}
