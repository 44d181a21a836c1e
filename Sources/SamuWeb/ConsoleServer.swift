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

/// A console request's context: Hummingbird's core context and the client's address, which the
/// login and credential limits are keyed by.
public struct ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address (not its port), or `unknown`. Behind a reverse proxy this is the
    /// proxy's: give each console its own proxy-to-console network, or limit at the proxy.
    public var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}

/// The console's settings.
public struct ConsoleSettings: Sendable {
    public var host: String
    public var port: Int
    /// Session cookies carry `Secure` (browsers keep them over HTTPS and on localhost only).
    public var secureCookies: Bool
    public var bcryptCost: UInt8

    public init(host: String = "127.0.0.1", port: Int = 8080, secureCookies: Bool = true, bcryptCost: UInt8 = 12) {
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
    let queries: BoardRepository
    let accounts: Accounts
    private let boundPort = Mutex<Int?>(nil)
    /// Logins are bounded by the client's address (10 at once, then 30 a minute, whatever the
    /// accounts tried) and by address and account (5 at once, then 10 a minute): a stranger
    /// guessing from one address neither reaches bcrypt often nor locks the real operator out,
    /// who logs in from another address. There is deliberately no limit per account alone: that
    /// would let anyone lock a named operator out.
    private let loginsByAddress = RateLimiter()
    private let loginsByAccount = RateLimiter()
    /// Failed cookie and token checks per address (10 at once, then 60 a minute): beyond that a
    /// request with a bad credential is refused before it costs a database query.
    let credentialFailures = RateLimiter()
    private let loginsInFlight = Mutex<[String: Int]>([:])
    static let maximumConcurrentLogins = 4
    static let maximumConcurrentLoginsPerAddress = 1
    /// Open event streams per session (a page holds one; reloads and tabs add more).
    private let streams = Mutex<[String: Int]>([:])
    static let maximumStreamsPerSession = 4
    let boards: BoardCache
    private let producerBox = Mutex<KafkaProducer?>(nil)
    let assets: [String: (bytes: [UInt8], type: String)]

    /// The zones reports may name (HTTP intake refuses any other with `unknown_zone`).
    let zones: ZoneDirectory

    public init(
        settings: ConsoleSettings, store: SamuStore, catalog: TopicCatalog, zones: ZoneDirectory,
        producer: KafkaProducerConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws {
        self.zones = zones
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.producerConfiguration = producer
        self.logger = logger
        self.registry = registry
        self.hub = BoardHub(schema: store.configuration.schema)
        self.queries = BoardRepository(store: store, logger: logger)
        self.boards = BoardCache(queries: queries)
        var accounts = Accounts(store: store, logger: logger)
        accounts.bcryptCost = settings.bcryptCost
        self.accounts = accounts
        self.assets = try Self.loadAssets()
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
        try await store.checkSettings()
        try await KafkaProducer.withProducer(configuration: producerConfiguration, logger: logger) { producer in
            producerBox.withLock { $0 = producer }
            defer { producerBox.withLock { $0 = nil } }
            let intake = IntakeEndpoint(
                accounts: accounts, producer: producer, catalog: catalog, zones: zones,
                credentialFailures: credentialFailures, logger: logger)
            let router = makeRouter(producer: producer, intake: intake)
            let app = Application(
                router: router,
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

    static let sessionCookie = "samu_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    func makeRouter(producer: KafkaProducer, intake: IntakeEndpoint) -> Router<ConsoleRequestContext> {
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: SecurityHeaders())
        router.post("/v1/reports") { request, context in
            try await intake.handle(request, address: context.clientAddress)
        }

        router.get("/") { _, _ in self.asset("index.html") }
        router.get("/assets/{name}") { _, context in
            self.asset(context.parameters.get("name") ?? "")
        }
        router.post("/api/login") { request, context in try await self.logIn(request, address: context.clientAddress) }
        router.post("/api/logout") { request, context in
            let session = try await self.session(request, context, changesState: true)
            try await self.accounts.logOut(token: session.token)
            var response = JSONBody.response(["status": "logged_out"])
            response.setCookie(self.cookie(value: "", maxAge: 0))
            return response
        }
        router.get("/api/me") { request, context in
            let session = try await self.session(request, context)
            let regions = try await self.queries.zoneRegions(session.account.zones)
            return JSONBody.response(Me(account: session.account, csrf_token: session.csrfToken, regions: regions))
        }
        router.get("/api/labels") { request, context in
            _ = try await self.session(request, context)
            return JSONBody.response(try await self.queries.labelsWithVocabulary())
        }
        router.get("/api/board") { request, context in
            let session = try await self.session(request, context)
            let zones = try await self.scope(request, session)
            return JSONBody.response(try await self.queries.board(zones: zones))
        }
        router.get("/api/events") { request, context in
            let session = try await self.session(request, context)
            let zones = try await self.scope(request, session)
            guard
                self.streams.withLock({ streams -> Bool in
                    let open = streams[session.token, default: 0]
                    guard open < Self.maximumStreamsPerSession else { return false }
                    streams[session.token] = open + 1
                    return true
                })
            else {
                throw Problem(
                    .rateLimited, "at most \(Self.maximumStreamsPerSession) live boards per session", retryAfter: 5)
            }
            return self.events(session: session, zones: zones)
        }
        router.get("/api/cases/{id}") { request, context in
            let session = try await self.session(request, context)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
                let detail = try await self.queries.detail(caseID: id, zones: session.account.zones)
            else { throw Problem(.notFound, "no such case in your zones") }
            return JSONBody.response(detail)
        }
        // A case's personal data: one logged read each time (the page asks on the operator's click).
        router.get("/api/cases/{id}/personal") { request, context in
            let session = try await self.session(request, context)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
                let text = try await self.queries.personalData(caseID: id, operatorID: session.account.id)
            else { throw Problem(.notFound, "no such case in your zones") }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        // Who read a case's personal data: supervisors of the case's zone only.
        router.get("/api/cases/{id}/reads") { request, context in
            let session = try await self.session(request, context)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
                let (zone, _) = try await self.queries.zone(of: id), session.account.mayAct(in: zone)
            else { throw Problem(.notFound, "no such case in your zones") }
            guard session.account.role == .supervisor else {
                throw Problem(.forbidden, "only a supervisor sees who read a case's personal data")
            }
            return JSONBody.response(try await self.queries.personalDataReads(caseID: id))
        }
        router.post("/api/cases/{id}/commands") { request, context in
            let session = try await self.session(request, context, changesState: true)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw Problem(.notFound, "no such case in your zones")
            }
            return try await self.command(request, caseID: id, session: session, producer: producer)
        }
        return router
    }

    struct Me: Encodable {
        var account: OperatorAccount
        var csrf_token: String
        var regions: [String: String]
    }

    func asset(_ name: String) -> Response {
        guard let asset = assets[name] else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "not found")))
        }
        return Response(
            status: .ok, headers: [.contentType: asset.type, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    func cookie(value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: Self.sessionCookie, value: value, maxAge: maxAge, path: "/", secure: settings.secureCookies,
            httpOnly: true, sameSite: .strict)
    }

    struct Login: Decodable {
        var operator_id: String
        var password: String
    }

    func logIn(_ request: Request, address: String) async throws -> Response {
        try checkOrigin(request)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw Problem(.unsupportedMediaType, "log in with a JSON body")
        }
        let buffer = try await request.body.collect(upTo: 4096)
        guard let login = try? JSONDecoder().decode(Login.self, from: Data(buffer: buffer)) else {
            throw Problem(.invalidBody, "send {\"operator_id\": …, \"password\": …}")
        }
        // Only well-formed logins reach the limiter, the logs and bcrypt.
        guard login.operator_id.wholeMatch(of: /[a-z0-9][a-z0-9._-]{0,63}/) != nil, login.password.utf8.count <= 1024
        else {
            ConsoleMetrics.loginFailures.increment()
            throw Problem(.unauthorized, "unknown account or wrong password")
        }
        if let wait = loginsByAddress.take(client: address, ratePerMinute: 30, burst: 10) {
            ConsoleMetrics.loginsLimited.increment()
            throw Problem(.rateLimited, "too many login attempts from this address; wait a little", retryAfter: wait)
        }
        if let wait = loginsByAccount.take(client: "\(address) \(login.operator_id)", ratePerMinute: 10, burst: 5) {
            ConsoleMetrics.loginsLimited.increment()
            throw Problem(.rateLimited, "too many login attempts for this account; wait a little", retryAfter: wait)
        }
        // bcrypt costs ~0.25 s of CPU: a few at a time in all, one at a time per address.
        guard
            loginsInFlight.withLock({ inFlight -> Bool in
                let total = inFlight.values.reduce(0, +)
                let mine = inFlight[address, default: 0]
                guard total < Self.maximumConcurrentLogins, mine < Self.maximumConcurrentLoginsPerAddress else {
                    return false
                }
                inFlight[address] = mine + 1
                return true
            })
        else { throw Problem(.rateLimited, "too many logins at once; retry in a second", retryAfter: 1) }
        defer {
            loginsInFlight.withLock { inFlight in
                inFlight[address, default: 1] -= 1
                if inFlight[address] == 0 { inFlight[address] = nil }
            }
        }
        guard let session = try await accounts.logIn(operatorID: login.operator_id, password: login.password) else {
            ConsoleMetrics.loginFailures.increment()
            logger.notice("console login refused", metadata: ["operator.id": "\(login.operator_id)"])
            throw Problem(.unauthorized, "unknown account or wrong password")
        }
        logger.info("console login", metadata: ["operator.id": "\(session.account.id)"])
        var response = JSONBody.response(Me(account: session.account, csrf_token: session.csrfToken, regions: [:]))
        response.setCookie(cookie(value: session.token, maxAge: Int(accounts.sessionLifetime.components.seconds)))
        return response
    }

    /// The session of the request's cookie. State-changing requests must also carry the session's
    /// CSRF token in `X-CSRF-Token` and, when the browser sends one, a same-origin `Origin`.
    func session(
        _ request: Request, _ context: ConsoleRequestContext, changesState: Bool = false
    ) async throws -> ConsoleSession {
        guard let token = request.cookies[Self.sessionCookie]?.value, !token.isEmpty else {
            throw Problem(.unauthorized, "log in first")
        }
        // An address that sent many bad cookies is refused before its cookie costs a query.
        let address = context.clientAddress
        if let wait = credentialFailures.wait(client: address, ratePerMinute: 60, burst: 10) {
            throw Problem(.rateLimited, "too many invalid sessions from this address", retryAfter: wait)
        }
        guard let session = try await accounts.session(token: token) else {
            _ = credentialFailures.take(client: address, ratePerMinute: 60, burst: 10)
            throw Problem(.unauthorized, "log in first")
        }
        if changesState {
            try checkOrigin(request)
            guard let sent = request.headers[Self.csrfHeader], Self.constantTimeEqual(sent, session.csrfToken) else {
                throw Problem(.csrf, "send the session's CSRF token in X-CSRF-Token")
            }
        }
        return session
    }

    /// Compares secrets in a time that depends on their length only.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        let host = request.head.authority ?? ""
        guard origin == "http://\(host)" || origin == "https://\(host)" else {
            throw Problem(.forbidden, "cross-origin request refused")
        }
    }

    /// The zones a request asks for (`?zones=a,b` or `?region=r`), within the account's scope.
    func scope(_ request: Request, _ session: ConsoleSession) async throws -> [String] {
        let allowed = session.account.zones
        var asked = allowed
        if let zones = request.uri.queryParameters["zones"], !zones.isEmpty {
            asked = zones.split(separator: ",").map(String.init)
        } else if let region = request.uri.queryParameters["region"], !region.isEmpty {
            asked = try await queries.zones(inRegion: String(region)).filter { allowed.contains($0) }
            if asked.isEmpty { throw Problem(.forbidden, "none of your zones is in region \(region)") }
        }
        let outside = asked.filter { !allowed.contains($0) }
        guard outside.isEmpty else {
            throw Problem(.forbidden, "your account is not scoped to \(outside.joined(separator: ", "))")
        }
        return asked
    }

    /// Server-sent events: the board now, then again each time a committed batch changed it.
    func events(session: ConsoleSession, zones: [String]) -> Response {
        let body = ResponseBody { [boards, hub, accounts, logger, self] writer in
            defer {
                self.streams.withLock { streams in
                    streams[session.token, default: 1] -= 1
                    if streams[session.token] == 0 { streams[session.token] = nil }
                }
            }
            var last: Board?
            var seen = hub.version
            var lastWrite = ContinuousClock.now
            var lastSessionCheck = ContinuousClock.now
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            while !hub.isClosed && !Task.isCancelled {
                // Streams watching the same zones share one read per change.
                let board = try await boards.board(zones: zones, version: seen)
                if last.map({ !board.sameContent(as: $0) }) ?? true {
                    var text = "event: board\ndata: "
                    text += String(decoding: JSONBody.encode(board), as: UTF8.self)
                    text += "\n\n"
                    try await writer.write(ByteBuffer(string: text))
                    last = board
                    lastWrite = .now
                } else if ContinuousClock.now - lastWrite > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                if ContinuousClock.now - lastSessionCheck > .seconds(60) {
                    // Logged out, expired, or no longer scoped to these zones: the stream ends.
                    guard let current = try await accounts.session(token: session.token),
                        zones.allSatisfy(current.account.zones.contains)
                    else { break }
                    lastSessionCheck = .now
                }
                // Changes closer together than 100 ms are sent as one board.
                seen = await hub.wait(after: seen, timeout: .seconds(5))
                try? await Task.sleep(for: .milliseconds(100))
            }
            logger.debug("event stream ended", metadata: ["operator.id": "\(session.account.id)"])
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream", .cacheControl: "no-store",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ],
            body: body)
    }

    struct CommandRequest: Decodable {
        var command: String
        var unit_id: String?
        var resolution: String?
        var reason: String?
    }

    struct CommandEvent: Encodable {
        var schema_version = 1
        var event_id: String
        var zone: String
        var case_id: String
        var command: String
        var unit_id: String?
        var resolution: String?
        var operator_id: String
        var operator_role: String
        var reason: String
        var issued_at: String
    }

    struct CommandSent: Encodable {
        var event_id: String
        var case_id: String
        var command: String
        var status: String
    }

    /// An operator's action: checked against the account's scope, written as a command event
    /// (validated against the topic's schema), keyed by the case's zone.
    func command(
        _ request: Request, caseID: UUID, session: ConsoleSession, producer: KafkaProducer
    ) async throws
        -> Response
    {
        let buffer = try await request.body.collect(upTo: 8192)
        guard let asked = try? JSONDecoder().decode(CommandRequest.self, from: Data(buffer: buffer)) else {
            throw Problem(.invalidBody, "send {\"command\": …, \"reason\": …}")
        }
        // Unknown and out-of-scope cases get the same answer: nothing about other zones leaks.
        guard let (zone, open) = try await queries.zone(of: caseID), session.account.mayAct(in: zone) else {
            throw Problem(.notFound, "no such case in your zones")
        }
        // The worker acts on open cases only: say so now rather than send a command nobody applies.
        guard open else { throw Problem(.caseClosed, "the case is closed; its timeline is still readable") }
        let reason = (asked.reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let event = CommandEvent(
            event_id: UUID().uuidString.lowercased(), zone: zone, case_id: caseID.lowercased, command: asked.command,
            unit_id: asked.unit_id.flatMap { $0.isEmpty ? nil : $0 },
            resolution: asked.resolution.flatMap { $0.isEmpty ? nil : $0 },
            operator_id: session.account.id, operator_role: session.account.role.rawValue,
            reason: reason.isEmpty ? "\(asked.command) from the console" : reason,
            issued_at: ISO8601DateFormatter().string(from: Date()))
        let bytes = JSONBody.encode(event)
        let decoder = TopicDecoder(definition: catalog.definition(.commands))
        if case .failure(let rejection) = decoder.document(value: bytes) {
            throw Problem(.validation, rejection.detail, field: rejection.field, reason: rejection.reason.rawValue)
        }
        if asked.command == "close", event.resolution == nil {
            throw Problem(.validation, "close needs a resolution", field: "/resolution")
        }
        // The worker refuses a release from anyone but the claimant or a supervisor; the console
        // says so at once instead of sending a command the worker will refuse.
        if asked.command == "release", session.account.role != .supervisor {
            let claimant = try await queries.claimant(of: caseID)
            guard claimant == session.account.id else {
                throw Problem(
                    .forbidden,
                    claimant.map { "the case is claimed by \($0); only they or a supervisor may release it" }
                        ?? "the case is not claimed")
            }
        }
        do {
            _ = try await producer.send(
                KafkaRecord(
                    topic: catalog.name(.commands), key: Array(zone.utf8), value: bytes,
                    headers: [KafkaHeader(name: "samu-source", string: "console:\(session.account.id)")]))
        } catch {
            throw Problem(.brokerUnavailable, "the command was not sent; try again", retryAfter: 2)
        }
        Metrics.Counter(label: "samu_console_commands_total", dimensions: [("command", asked.command)]).increment()
        logger.info(
            "console command",
            metadata: [
                "operator.id": "\(session.account.id)", "case.id": "\(caseID.lowercased)",
                "command": "\(asked.command)",
                "zone.id": "\(zone)",
            ])
        return JSONBody.response(
            CommandSent(event_id: event.event_id, case_id: event.case_id, command: event.command, status: "sent"),
            status: .accepted)
    }

    // MARK: - Files

    static func loadAssets() throws -> [String: (bytes: [UInt8], type: String)] {
        guard let directory = Bundle.module.url(forResource: "Assets", withExtension: nil) else {
            throw ConsoleError("the console's assets are missing from the build")
        }
        var assets: [String: (bytes: [UInt8], type: String)] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            let type =
                switch (name as NSString).pathExtension {
                case "html": "text/html; charset=utf-8"
                case "js": "text/javascript; charset=utf-8"
                case "css": "text/css; charset=utf-8"
                case "svg": "image/svg+xml"
                case "png": "image/png"
                default: "application/octet-stream"
                }
            assets[name] = (Array(data), type)
        }
        return assets
    }

    /// seeds/vocabulary.json (case states, unit statuses, resolutions… in Arabic and French).
    static func loadVocabulary() -> [String: [String: String]] {
        guard let url = RepositoryFiles.locate("seeds/vocabulary.json"), let data = try? Data(contentsOf: url),
            let entries = try? JSONDecoder().decode([[String: JSONLoose]].self, from: data)
        else { return [:] }
        var vocabulary: [String: [String: String]] = [:]
        for entry in entries {
            guard case .string(let key)? = entry["key"] else { continue }
            var names: [String: String] = [:]
            for language in ["ar", "fr", "en"] {
                if case .string(let name)? = entry[language] { names[language] = name }
            }
            vocabulary[key] = names
        }
        return vocabulary
    }
}

/// Any JSON value, keeping only strings (enough to read the vocabulary file).
enum JSONLoose: Decodable {
    case string(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self = (try? container.decode(String.self)).map(JSONLoose.string) ?? .other
    }
}

enum ConsoleMetrics {
    static let loginFailures = Metrics.Counter(label: "samu_console_login_failures_total")
    static let loginsLimited = Metrics.Counter(label: "samu_console_logins_limited_total")
}

/// Headers every console response carries: no framing, no sniffing, scripts and styles from
/// samu only, no referrer.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let problem as Problem {
            response = try problem.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return response
    }
}
