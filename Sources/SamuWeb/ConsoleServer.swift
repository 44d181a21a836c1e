import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import RdKafka
import SamuModel
import SamuStore
import ServiceLifecycle
import Synchronization

/// The console's settings.
public struct ConsoleSettings: Sendable {
    public var host: String
    public var port: Int
    /// Session cookies carry `Secure` (browsers keep them over HTTPS and on localhost only).
    public var secureCookies: Bool
    public var bcryptCost: UInt8
    /// The deployment's dispatch areas: reports and commands are keyed by their zone's area.
    public var areas: DispatchAreas
    /// The deployment's shelters: the crew app names the shelter of a bed held.
    public var shelters: [Deployment.Shelter]
    /// What a connection may hold: connections per client, a stalled request's timeout, the
    /// keep-alive timeout (a response in progress, such as a live event stream, is never cut).
    public var connections: ConnectionPolicy

    public init(
        host: String = "127.0.0.1", port: Int = 8080, secureCookies: Bool = true, bcryptCost: UInt8 = 12,
        areas: DispatchAreas = .none, shelters: [Deployment.Shelter] = [],
        connections: ConnectionPolicy = .init()
    ) {
        self.connections = connections
        self.areas = areas
        self.shelters = shelters
        self.host = host
        self.port = port
        self.secureCookies = secureCookies
        self.bcryptCost = bcryptCost
    }
}

/// `samu console`: the operator console (pages, board API, live events, actions) and the HTTP
/// intake for hotline systems, in one HTTP server. `/metrics` and the health checks are served on a
/// listener of their own (``opsServer(host:port:)``, loopback by default), never on this public door.
///
/// It reads what the workers committed and never writes dispatch state: every operator action is
/// a command event on `samu.commands.v1`, applied by the zone's worker (its single writer), and
/// the board shows the result once committed.
public final class ConsoleServer: Service {
    public let settings: ConsoleSettings
    let store: SamuStore
    let catalog: TopicCatalog
    let producerConfiguration: KafkaProducerConfiguration
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    public let hub: BoardHub
    let repository: BoardRepository
    let accounts: Accounts
    private let boundPort = Mutex<Int?>(nil)
    /// Failed cookie and token checks per address (10 at once, then 60 a minute): beyond that a
    /// request with a bad credential is refused before it costs a database query.
    let credentialFailures = RateLimiter()
    /// The open connections by client (``ConnectionPolicy``).
    public let connections: ConnectionCounts
    let boards: BoardCache
    private let producerBox = Mutex<KafkaProducer?>(nil)
    let auth: AuthController
    let board: BoardController
    let assets: AssetController

    /// The call-taker's commune picker (`seeds/hcp/communes.json`).
    let communes: [CallController.Commune]

    /// The zones reports may name (HTTP intake refuses any other with `unknown_zone`).
    let zones: ZoneDirectory

    public init(
        settings: ConsoleSettings, store: SamuStore, catalog: TopicCatalog, zones: ZoneDirectory,
        producer: KafkaProducerConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws {
        self.zones = zones
        self.settings = settings
        self.connections = ConnectionCounts(policy: settings.connections)
        self.store = store
        self.catalog = catalog
        self.producerConfiguration = producer
        self.logger = logger
        self.registry = registry
        self.hub = BoardHub(schema: store.configuration.schema)
        // The zones' outlines flag a report placed far outside its zone (optional: without the
        // file nothing is flagged for position).
        let outlines = RepositoryFiles.locate("seeds/hcp/zone-outlines.json").flatMap {
            try? ZoneOutlines.load($0)
        }
        let repository = BoardRepository(store: store, logger: logger, outlines: outlines)
        self.repository = repository
        self.boards = BoardCache(queries: repository)
        var accounts = Accounts(store: store, logger: logger)
        accounts.bcryptCost = settings.bcryptCost
        self.accounts = accounts
        self.auth = AuthController(
            accounts: accounts, repository: repository, secureCookies: settings.secureCookies, logger: logger)
        self.board = BoardController(
            repository: repository, boards: boards, hub: hub, accounts: accounts, logger: logger)
        self.assets = try AssetController()
        self.communes = CallController.loadCommunes(RepositoryFiles.locate("seeds/hcp/communes.json"))
    }

    /// The console's operations listener: `/metrics`, `/health/live` and `/health/ready` (the
    /// database, the migrations, the broker through the console's producer).
    public func opsServer(host: String, port: Int) -> OpsServer {
        OpsServer(
            host: host, port: port,
            checks: [
                .database(store, logger: logger), .migrations(store),
                .broker { [self] in self.producerBox.withLock { $0 } },
            ], registry: registry, logger: logger, serverName: "samu-console-ops")
    }

    /// The port the server listens on, once it does (the settings may ask for port 0).
    public var port: Int? { boundPort.withLock { $0 } }

    public func run() async throws {
        await store.waitUntilRunning()
        try await store.checkSettings()
        try await KafkaProducer.withProducer(configuration: producerConfiguration, logger: logger) { producer in
            producerBox.withLock { $0 = producer }
            defer { producerBox.withLock { $0 = nil } }
            let router = makeRouter(producer: producer)
            let app = Application(
                router: router,
                // Nobody holds the console's connections by opening many and waiting: a client's
                // connections are counted, a stalled request and a long-idle connection are closed
                // (a response in progress, a live event stream, is never cut).
                server: .http1(
                    configuration: .init(additionalChannelHandlers: [self.connections.makeGuard(logger: self.logger)])),
                configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "samu"),
                onServerRunning: { [self, logger] channel in
                    let port = channel.localAddress?.port ?? 0
                    self.boundPort.withLock { $0 = port }
                    logger.info("console listening", metadata: ["http.port": "\(port)"])
                },
                logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [hub, store, logger] in await hub.run(store: store, logger: logger) }
                group.addTask { [accounts] in await accounts.purgeRegularly() }
                try await withGracefulShutdownHandler {
                    try await app.run()
                } onGracefulShutdown: { [hub] in
                    hub.close()
                }
                hub.close()
                group.cancelAll()
            }
        }
    }

    // MARK: - Routes

    /// The console's routes: the intake (its own bearer tokens), the page and its files, the login,
    /// and everything else under `/api` behind ``SessionMiddleware``. Every answer carries the
    /// security headers, and every ``Problem`` becomes problem details.
    public func makeRouter(producer: KafkaProducer) -> Router<ConsoleRequestContext> {
        let endpoint = IntakeEndpoint(
            accounts: accounts, producer: producer, catalog: catalog, zones: zones, areas: settings.areas,
            credentialFailures: credentialFailures, logger: logger)
        let intake = IntakeController(endpoint: endpoint)
        let calls = CallController(
            intake: endpoint, repository: repository, outlines: repository.outlines, communes: communes,
            logger: logger)
        let commands = CaseCommandController(
            repository: repository, producer: producer, catalog: catalog, areas: settings.areas, logger: logger)
        let crewRepository = CrewRepository(store: store, logger: logger)
        let crew = CrewController(
            repository: crewRepository, producer: producer, catalog: catalog, areas: settings.areas, hub: hub,
            credentialFailures: credentialFailures, logger: logger,
            shelterNames: .init(settings.shelters.map { ($0.shelterID, $0.nameFrench, $0.nameArabic) }))
        let devices = DeviceController(repository: crewRepository, logger: logger)
        let shelters = ShelterController(
            repository: crewRepository, producer: producer, catalog: catalog, areas: settings.areas, logger: logger)
        let persons = PersonController(
            persons: PersonRepository(store: store, logger: logger), board: repository, logger: logger)
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: SecurityHeaders())
        intake.addRoutes(to: router)
        assets.addRoutes(to: router)
        auth.addPublicRoutes(to: router)
        // The crew app's door: its own bearer credentials, no session cookie.
        crew.addRoutes(to: router)
        let api = router.group("api")
            .add(middleware: SessionMiddleware(accounts: accounts, credentialFailures: credentialFailures))
        auth.addRoutes(to: api)
        board.addRoutes(to: api)
        commands.addRoutes(to: api)
        calls.addRoutes(to: api)
        persons.addRoutes(to: api)
        StatisticsController(store: store, board: repository, logger: logger).addRoutes(to: api)
        devices.addRoutes(to: api)
        shelters.addRoutes(to: api)
        return router
    }
}
