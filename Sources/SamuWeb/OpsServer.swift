import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// An operations listener (a worker's `SAMU_WORKER_HTTP_ADDRESS`, the console's
/// `SAMU_CONSOLE_OPS_ADDRESS`): `/metrics`, `/health/live` and `/health/ready`, nothing else. Keep
/// it on loopback or a private network: metric labels name clients and zones.
public final class OpsServer: Service {
    let host: String
    let port: Int
    let checks: [ReadinessCheck]
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    let serverName: String
    private let boundPort = Mutex<Int?>(nil)

    public init(
        host: String, port: Int, checks: [ReadinessCheck], registry: PrometheusCollectorRegistry, logger: Logger,
        serverName: String = "samu-worker"
    ) {
        self.serverName = serverName
        self.host = host
        self.port = port
        self.checks = checks
        self.logger = logger
        self.registry = registry
    }

    /// The port it listens on, once it does.
    public var listeningPort: Int? { boundPort.withLock { $0 } }

    public func run() async throws {
        let router = Router()
        OpsEndpoints.add(to: router, registry: registry, checks: checks)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? 0
                self.boundPort.withLock { $0 = port }
                self.logger.info("metrics and health listening", metadata: ["http.port": "\(port)"])
            },
            logger: logger)
        try await app.run()
    }
}
