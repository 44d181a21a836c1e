import ArgumentParser
import Logging
import SamuPipeline
import SamuStore
import SamuWeb
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume reports, persist cases, publish outcomes, dead-letter bad input.",
        discussion: "Stops gracefully on SIGTERM or SIGINT: the batch in hand is committed, then the group is left."
    )

    func run() async throws {
        try requireLibrdKafka()
        let context = try Context.forCommand(label: "samu.worker")
        // Before any metric is made: swift-metrics binds each metric to the factory of its time.
        let registry = SamuMetrics.bootstrap()
        let store = try SamuStore(configuration: context.configuration.database, logger: context.logger)
        let worker = try context.dispatchWorker(store: store)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: StoreService(store: store)),
            .init(service: worker),
        ]
        if let address = context.configuration.workerHTTPAddress,
            let (host, port) = SamuConfiguration.hostAndPort(address)
        {
            let checks: [ReadinessCheck] = [
                .database(store, logger: context.logger), .migrations(store), .broker { worker.producer },
                .progress(worker.statistics),
            ]
            services.append(
                .init(
                    service: OpsServer(
                        host: host, port: port, checks: checks, registry: registry, logger: context.logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: context.logger))
        try await group.run()
    }
}

extension ReadinessCheck {
    /// The worker is moving: not stuck for more than `limit` on a batch it cannot finish (the
    /// database or the dead-letter topic refusing it). Answers `stuck` otherwise.
    static func progress(
        _ statistics: WorkerStatistics, limit: Duration = .seconds(30)
    ) -> ReadinessCheck {
        ReadinessCheck(name: "progress") {
            if let stuck = statistics.snapshot.stuck, ContinuousClock.now - stuck.since > limit {
                throw ReadinessFailure("stuck")
            }
        }
    }
}
