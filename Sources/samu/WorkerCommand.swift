import ArgumentParser
import Logging
import SamuPipeline
import SamuStore
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume reports, persist cases, publish outcomes, dead-letter bad input.",
        discussion: "Stops gracefully on SIGTERM or SIGINT: the batch in hand is committed, then the group is left."
    )

    func run() async throws {
        try requireLibrdKafka()
        let context = try Context.load(label: "samu.worker")
        let store = try SamuStore(configuration: context.configuration.database, logger: context.logger)
        let worker = DispatchWorker(
            configuration: context.configuration, catalog: context.catalog, store: store,
            triage: try context.triageEngine(), neighbours: try context.deployment()?.neighbours ?? [:],
            partnerFeed: try context.configuration.partnerFeed(), logger: context.logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: StoreService(store: store)),
                    .init(service: worker),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: context.logger))
        try await group.run()
    }
}
