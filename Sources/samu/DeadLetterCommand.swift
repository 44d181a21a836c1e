import ArgumentParser
import Foundation
import SamuPipeline

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and replay the dead-letter topic.",
        subcommands: [List.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count dead letters by reason and show the latest.")

        @Option(help: "Only this reason (for example schema_violation).") var reason: String?
        @Option(help: "How many of the latest to show.") var show = 10

        func run() async throws {
            try requireLibrdKafka()
            let context = try Context.forCommand(label: "samu.dlq")
            let tool = DeadLetterTool(
                configuration: context.configuration, catalog: context.catalog, logger: context.logger)
            let entries = try await tool.entries(reason: reason)
            print("dlq: \(entries.count) dead letters on \(context.catalog.name(.deadLetters))")
            var byReason: [String: Int] = [:]
            for entry in entries { byReason[entry.reason, default: 0] += 1 }
            for (reason, count) in byReason.sorted(by: { $0.value > $1.value }) { print("  \(reason): \(count)") }
            for entry in entries.sorted(by: { $0.rejectedAt < $1.rejectedAt }).suffix(show) {
                print(
                    "  \(entry.rejectedAt) \(entry.reason) \(entry.sourceTopic)/\(entry.sourcePartition)/\(entry.sourceOffset): \(entry.detail.prefix(120))"
                )
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish dead letters again to their source topic, once (after a fix or a schema upgrade).")

        @Option(help: "Only this reason.") var reason: String?
        @Option(help: "Only dead letters from this source topic.") var sourceTopic: String?
        @Flag(help: "Count what would be replayed, publish nothing.") var dryRun = false

        func run() async throws {
            try requireLibrdKafka()
            let context = try Context.forCommand(label: "samu.dlq")
            let tool = DeadLetterTool(
                configuration: context.configuration, catalog: context.catalog, logger: context.logger)
            let report = try await context.withStore { store in
                try await tool.replay(
                    store: store, reason: reason, sourceTopic: sourceTopic, dryRun: dryRun, areas: try context.areas())
            }
            print("dlq replay\(dryRun ? " (dry run)" : ""): \(report)")
        }
    }
}
