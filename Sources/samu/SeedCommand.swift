import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Load the reference data of seeds/ into PostgreSQL (idempotent).",
        discussion: """
            With --deployment, also publish the deployment (seeds/demo/deployment.json, invented demo \
            data) as the crews and shelters would: one 'available' report per unit at its base and one \
            bed count per shelter, to samu.units.v1 and samu.beds.v1.
            """
    )

    @Flag(help: "Also publish the demo deployment's units and shelters to the topics.")
    var deployment = false

    @Option(help: "With --deployment: the share of each shelter's beds already occupied (0...1).")
    var occupied = 0.6

    func run() async throws {
        let context = try Context.forCommand(label: "samu.seed")
        guard let seeds = RepositoryFiles.locate("seeds/regions.json")?.deletingLastPathComponent() else {
            throw ValidationError("seeds/ not found; run from the repository")
        }
        let data: ReferenceData
        do { data = try ReferenceData.load(seeds: seeds) } catch { throw ValidationError("\(error)") }
        let counts = try await context.withStore { store in try await store.seed(data) }
        print("seed: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        guard deployment else { return }
        try requireLibrdKafka()
        guard let plan = try context.deployment() else { throw ValidationError("no deployment file found") }
        guard (0...1).contains(occupied) else { throw ValidationError("--occupied must be between 0 and 1") }
        let records = DeploymentEvents.records(plan, catalog: context.catalog, occupied: occupied)
        let results = try await KafkaProducer.withProducer(
            configuration: context.configuration.producer, logger: context.logger
        ) { producer in await producer.send(records) }
        let failed = results.filter { if case .failure = $0 { true } else { false } }.count
        print(
            "seed: published \(plan.units.count) units and \(plan.shelters.count) shelters of \(plan.zones.count) zones (\(plan.label.prefix(10))…)"
                + (failed > 0 ? ", \(failed) NOT delivered" : ""))
        if failed > 0 { throw ExitCode.failure }
    }
}
