import Foundation
import Logging
import Prometheus
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore
import SamuTestSupport
import SamuWeb
import ServiceLifecycle
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A plain HTTP client for the tests: no cookie jar (each test client holds its own cookie), no
/// redirects followed silently.
struct WebClient: Sendable {
    struct Reply: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data

        var json: JSONValue { (try? JSONParser.parse(Array(body))) ?? .null }
        func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    let base: URL
    /// The console's operations listener (`/metrics`, `/health/*`).
    var opsBase: URL?
    var cookie: String?

    var ops: WebClient { WebClient(base: opsBase ?? base) }
    var csrf: String?

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        // Tests send many requests at once (more than the console's database connections).
        configuration.httpMaximumConnectionsPerHost = 32
        return URLSession(configuration: configuration)
    }()

    /// A hotline posts `document` to `/v1/reports` with its token (the report id as the key).
    func postReport(_ document: JSONValue, token: String) async throws -> Reply {
        try await send(
            "POST", "/v1/reports",
            headers: [
                "Authorization": "Bearer \(token)", "Content-Type": "application/json",
                "Idempotency-Key": document["event_id"]?.stringValue ?? UUID().uuidString.lowercased(),
            ], body: Data(ReportFixture.bytes(document)))
    }

    func send(
        _ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: path, relativeTo: base)!)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let cookie { request.setValue("samu_session=\(cookie)", forHTTPHeaderField: "Cookie") }
        if let csrf, method != "GET" { request.setValue(csrf, forHTTPHeaderField: "X-CSRF-Token") }
        let (data, response) = try await Self.session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key] = value }
        }
        return Reply(status: http.statusCode, headers: fields, body: data)
    }

    func json(
        _ method: String, _ path: String, _ body: JSONValue, headers: [String: String] = [:]
    ) async throws
        -> Reply
    {
        var all = headers
        all["Content-Type"] = "application/json"
        return try await send(method, path, headers: all, body: Data(body.serializedBytes))
    }

    /// Logs in; the returned client carries the session cookie and CSRF token.
    func loggedIn(_ operatorID: String, password: String) async throws -> WebClient {
        let reply = try await json(
            "POST", "/api/login", ["operator_id": .string(operatorID), "password": .string(password)])
        #expect(reply.status == 200, "login of \(operatorID): \(String(decoding: reply.body, as: UTF8.self))")
        let setCookie = try #require(reply.header("Set-Cookie"))
        let token = try #require(setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last)
        var copy = self
        copy.cookie = String(token)
        copy.csrf = reply.json["csrf_token"]?.stringValue
        return copy
    }
}

/// The console in this process, on a port of its own, over a test's private topics and schema.
struct ConsoleHarness {
    let pipeline: PipelineHarness
    static let password = "correct horse battery"

    init() throws {
        pipeline = try PipelineHarness()
    }

    /// Topics, migrations, reference data (zone names for the console).
    func prepare() async throws {
        try await pipeline.prepare()
        let data = try ReferenceData.load(seeds: Repository.seeds)
        _ = try await pipeline.withStore { try await $0.seed(data) }
    }

    /// The demo deployment's crews and shelters report in.
    func publishDeployment() async throws {
        let plan = try Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json"))
        try await pipeline.produce(DeploymentEvents.records(plan, catalog: pipeline.catalog, occupied: 0.5))
    }

    func addOperator(
        _ id: String, zones: [String], role: OperatorAccount.Role = .operator, shelters: [String] = []
    ) async throws {
        try await pipeline.withStore { store in
            var accounts = Accounts(store: store, logger: pipeline.logger)
            accounts.bcryptCost = 4  // tests: the cost does not change what is checked
            try await accounts.saveOperator(
                OperatorAccount(id: id, displayName: id.capitalized, role: role, zones: zones, shelters: shelters),
                password: Self.password)
        }
    }

    func addClient(
        _ id: String, ratePerMinute: Int = 600, burst: Int = 60, zones: [String]? = nil
    ) async throws
        -> String
    {
        try await pipeline.withStore { store in
            try await Accounts(store: store, logger: pipeline.logger)
                .saveIntakeClient(id: id, ratePerMinute: ratePerMinute, burst: burst, zones: zones)
        }
    }

    /// Logs `operatorID` in on the console's page in a browser tab and waits for its board.
    func logIn(_ page: Chromium.Page, base: URL, as operatorID: String) async throws {
        try await page.navigate(base.absoluteString)
        try await page.waitFor("!document.getElementById('login-view').hidden")
        try await page.evaluate(
            """
            document.getElementById('login-id').value = '\(operatorID)';
            document.getElementById('login-password').value = '\(ConsoleHarness.password)';
            document.getElementById('login-submit').click(); true
            """)
        try await page.waitFor("!document.getElementById('board-view').hidden && document.body.dataset.boardAt")
    }

    /// A night in a browser: the demo deployment reports in, a hotline client is made, then a
    /// worker, the console and a headless Chromium run while `body` runs (it gets the console's
    /// client, the hotline's token and the browser); the schema is dropped afterwards.
    func withBrowserNight(_ body: (WebClient, String, Chromium) async throws -> Void) async throws {
        let token = try await addClient("hotline")
        try await publishDeployment()
        let browser = try Chromium()
        defer { browser.close() }
        try await pipeline.withWorker { _ in
            try await withConsole { client in try await body(client, token, browser) }
        }
        try await pipeline.cleanUp()
    }

    /// Runs the console while `body` runs; `body` gets a client for its address.
    func withConsole<Result: Sendable>(
        connections: ConnectionPolicy = .init(), _ body: (WebClient) async throws -> Result
    ) async throws -> Result {
        let store = try SamuStore(configuration: pipeline.configuration.database, logger: pipeline.logger)
        let console = try ConsoleServer(
            settings: ConsoleSettings(
                host: "127.0.0.1", port: 0, bcryptCost: 4, areas: pipeline.areas,
                shelters: (try? Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json")))?
                    .shelters ?? [], connections: connections), store: store,
            catalog: pipeline.catalog,
            zones: try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json")),
            producer: pipeline.configuration.producer, registry: PrometheusCollectorRegistry(), logger: pipeline.logger)
        let ops = console.opsServer(host: "127.0.0.1", port: 0)
        return try await pipeline.withServices([StoreService(store: store), console, ops]) {
            let deadline = ContinuousClock.now + .seconds(20)
            while (console.port == nil || ops.listeningPort == nil) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let port = try #require(console.port, "the console did not start listening")
            let opsPort = try #require(ops.listeningPort, "the operations listener did not start")
            return try await body(
                WebClient(
                    base: URL(string: "http://127.0.0.1:\(port)")!, opsBase: URL(string: "http://127.0.0.1:\(opsPort)")!
                ))
        }
    }
}
