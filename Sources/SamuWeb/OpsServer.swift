import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// A worker's HTTP listener (`SAMU_WORKER_HTTP_ADDRESS`): `/metrics`, `/health/live` and
/// `/health/ready`, nothing else.
public final class OpsServer: Service {
    let host: String
    let port: Int
    let checks: [ReadinessCheck]
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    private let boundPort = Mutex<Int?>(nil)

    public init(host: String, port: Int, checks: [ReadinessCheck], logger: Logger) {
        self.host = host
        self.port = port
        self.checks = checks
        self.logger = logger
        self.registry = SamuMetrics.registry()
    }

    /// The port it listens on, once it does.
    public var listeningPort: Int? { boundPort.withLock { $0 } }

    public func run() async throws {
        let router = Router()
        OpsEndpoints.add(to: router, registry: registry, checks: checks)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "samu-worker"),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? 0
                self.boundPort.withLock { $0 = port }
                self.logger.info("metrics and health listening", metadata: ["http.port": "\(port)"])
            },
            logger: logger)
        try await app.run()
    }
}
