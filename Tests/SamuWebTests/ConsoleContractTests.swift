import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import RdKafka
import SamuModel
import SamuStore
import SamuTestSupport
import Testing

@testable import SamuWeb

/// The console's HTTP contract, in process (Hummingbird's router test mode: no socket), against the
/// real PostgreSQL: who gets in, with what, and what every answer looks like. The real-server and
/// browser tests (SamuPipelineTests) cover the same doors end to end.
@Suite("Console HTTP contract (integration, in process)", .timeLimit(.minutes(2)))
struct ConsoleContractTests {
    static let password = "a-long-enough-password"

    /// Runs `body` with a console router over a fresh schema holding two accounts (an operator of
    /// Rabat and Salé, a supervisor of Casablanca-Anfa) and one intake client.
    func withConsole(
        _ body: @Sendable (any TestClientProtocol, _ intakeToken: String) async throws -> Void
    ) async throws {
        try await withTestStore { store in
            _ = try await store.seed(try ReferenceData.load(seeds: Repository.seeds))
            var accounts = Accounts(store: store, logger: TestEnvironment.logger("console-contract"))
            accounts.bcryptCost = 4
            try await accounts.saveOperator(
                OperatorAccount(id: "amina", displayName: "Amina", role: .operator, zones: ["rabat", "sale"]),
                password: Self.password)
            try await accounts.saveOperator(
                OperatorAccount(id: "nadia", displayName: "Nadia", role: .supervisor, zones: ["casablanca-anfa"]),
                password: Self.password)
            let token = try await accounts.saveIntakeClient(id: "hotline", ratePerMinute: 60, burst: 10)
            let console = try ConsoleServer(
                settings: ConsoleSettings(bcryptCost: 4), store: store, catalog: try Repository.catalog(prefix: "c-"),
                zones: try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json")),
                producer: TestEnvironment.producerConfiguration(), registry: PrometheusCollectorRegistry(),
                logger: TestEnvironment.logger("console-contract"))
            try await KafkaProducer.withProducer(
                configuration: TestEnvironment.producerConfiguration(),
                logger: TestEnvironment.logger("console-contract")
            ) { producer in
                let app = Application(router: console.makeRouter(producer: producer))
                try await app.test(.router) { client in try await body(client, token) }
            }
        }
    }

    /// Logs in and returns the session cookie's header value and the CSRF token.
    static func logIn(
        _ client: any TestClientProtocol, _ account: String
    ) async throws -> (cookie: String, csrf: String) {
        let response = try await client.execute(
            uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
            body: ByteBuffer(string: #"{"operator_id": "\#(account)", "password": "\#(password)"}"#))
        #expect(response.status == .ok)
        let setCookie = try #require(response.headers[.setCookie])
        let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
        let csrf = try #require(json(response)["csrf_token"] as? String)
        return (cookie, csrf)
    }

    static func json(_ response: TestResponse) -> [String: Any] {
        let data = Data(buffer: response.body)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// A problem-details answer of this kind, with the console's security headers.
    static func expectProblem(
        _ response: TestResponse, _ status: HTTPResponse.Status, _ kind: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        #expect(
            json(response)["type"] as? String == "https://samu.example.ma/problems/\(kind)",
            "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
        #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
    }

    @Test("every API route but the login answers 401 problem details without a session, or with a forged one")
    func unauthenticated() async throws {
        try await withConsole { client, _ in
            let id = UUID().uuidString.lowercased()
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/api/me"), (.get, "/api/labels"), (.get, "/api/board"), (.get, "/api/events"),
                (.get, "/api/cases/\(id)"), (.get, "/api/cases/\(id)/personal"), (.get, "/api/cases/\(id)/reads"),
                (.post, "/api/cases/\(id)/commands"), (.post, "/api/logout"),
            ]
            for (method, uri) in routes {
                Self.expectProblem(try await client.execute(uri: uri, method: method), .unauthorized, "unauthorized")
                let forged = try await client.execute(
                    uri: uri, method: method, headers: [.cookie: "samu_session=forged-\(UUID())"])
                Self.expectProblem(forged, .unauthorized, "unauthorized")
            }
        }
    }

    @Test("a login: JSON only, the same answer for an unknown account and a wrong password, a strict cookie")
    func login() async throws {
        try await withConsole { client, _ in
            Self.expectProblem(
                try await client.execute(
                    uri: "/api/login", method: .post, headers: [.contentType: "text/plain"],
                    body: ByteBuffer(string: "amina")), .unsupportedMediaType, "unsupported-media-type")
            Self.expectProblem(
                try await client.execute(
                    uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: "[]")), .badRequest, "invalid-body")
            for body in [
                #"{"operator_id": "amina", "password": "wrong-password-here"}"#,
                #"{"operator_id": "nobody", "password": "a-long-enough-password"}"#,
                #"{"operator_id": "Not An Id!", "password": "x"}"#,
            ] {
                let refused = try await client.execute(
                    uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body))
                Self.expectProblem(refused, .unauthorized, "unauthorized")
                #expect(Self.json(refused)["detail"] as? String == "unknown account or wrong password")
            }
            let response = try await client.execute(
                uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"operator_id": "amina", "password": "\#(Self.password)"}"#))
            #expect(response.status == .ok)
            let cookie = try #require(response.headers[.setCookie])
            for attribute in ["samu_session=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
                #expect(cookie.contains(attribute), "\(cookie)")
            }
            let account = Self.json(response)["account"] as? [String: Any]
            #expect(account?["id"] as? String == "amina")
            #expect(account?["zones"] as? [String] == ["rabat", "sale"])
            #expect((Self.json(response)["csrf_token"] as? String)?.count ?? 0 >= 40)
            // A login from another site's page is refused.
            let crossSite = try await client.execute(
                uri: "/api/login", method: .post,
                headers: [.contentType: "application/json", .origin: "https://evil.example"],
                body: ByteBuffer(string: #"{"operator_id": "amina", "password": "\#(Self.password)"}"#))
            Self.expectProblem(crossSite, .forbidden, "forbidden")
        }
    }

    @Test("a session reads; changing state needs its CSRF token and this origin; logging out ends it")
    func sessionAndCSRF() async throws {
        try await withConsole { client, _ in
            let (cookie, csrf) = try await Self.logIn(client, "amina")
            let me = try await client.execute(uri: "/api/me", method: .get, headers: [.cookie: cookie])
            #expect(me.status == .ok)
            #expect(Self.json(me)["regions"] as? [String: String] == ["rabat": "RSK", "sale": "RSK"])
            #expect(me.headers[.cacheControl] == "no-store")
            Self.expectProblem(
                try await client.execute(uri: "/api/logout", method: .post, headers: [.cookie: cookie]), .forbidden,
                "csrf")
            Self.expectProblem(
                try await client.execute(
                    uri: "/api/logout", method: .post,
                    headers: [.cookie: cookie, SessionMiddleware.csrfHeader: String(csrf.reversed())]), .forbidden,
                "csrf")
            Self.expectProblem(
                try await client.execute(
                    uri: "/api/logout", method: .post,
                    headers: [
                        .cookie: cookie, SessionMiddleware.csrfHeader: csrf, .origin: "https://evil.example",
                    ]), .forbidden, "forbidden")
            let out = try await client.execute(
                uri: "/api/logout", method: .post, headers: [.cookie: cookie, SessionMiddleware.csrfHeader: csrf])
            #expect(out.status == .ok)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            Self.expectProblem(
                try await client.execute(uri: "/api/me", method: .get, headers: [.cookie: cookie]), .unauthorized,
                "unauthorized")
        }
    }

    @Test("scope: other zones and regions are refused; an unknown, malformed or out-of-scope case is 404 alike")
    func scope() async throws {
        try await withConsole { client, _ in
            let (cookie, csrf) = try await Self.logIn(client, "amina")
            let board = try await client.execute(
                uri: "/api/board?zones=rabat", method: .get, headers: [.cookie: cookie])
            #expect(board.status == .ok)
            #expect(Self.json(board)["zones"] as? [String] == ["rabat"])
            Self.expectProblem(
                try await client.execute(
                    uri: "/api/board?zones=rabat,casablanca-anfa", method: .get, headers: [.cookie: cookie]),
                .forbidden, "forbidden")
            Self.expectProblem(
                try await client.execute(
                    uri: "/api/board?region=CS", method: .get, headers: [.cookie: cookie]), .forbidden,
                "forbidden")
            let region = try await client.execute(
                uri: "/api/board?region=RSK", method: .get, headers: [.cookie: cookie])
            #expect(region.status == .ok)
            #expect(Self.json(region)["zones"] as? [String] == ["rabat", "sale"])
            for id in [UUID().uuidString.lowercased(), "not-a-uuid", "%27%20or%201=1"] {
                for suffix in ["", "/personal", "/reads"] {
                    Self.expectProblem(
                        try await client.execute(
                            uri: "/api/cases/\(id)\(suffix)", method: .get, headers: [.cookie: cookie]),
                        .notFound, "not-found")
                }
                Self.expectProblem(
                    try await client.execute(
                        uri: "/api/cases/\(id)/commands", method: .post,
                        headers: [.cookie: cookie, SessionMiddleware.csrfHeader: csrf],
                        body: ByteBuffer(string: #"{"command": "cancel", "reason": "x"}"#)), .notFound, "not-found")
            }
        }
    }

    @Test("the intake door takes bearer tokens, not sessions; pages and files are served with the same headers")
    func intakeAndAssets() async throws {
        try await withConsole { client, token in
            let bare = try await client.execute(uri: "/v1/reports", method: .post)
            Self.expectProblem(bare, .unauthorized, "unauthorized")
            #expect(bare.headers[.wwwAuthenticate] == "Bearer realm=\"samu\"")
            let (cookie, _) = try await Self.logIn(client, "amina")
            Self.expectProblem(
                try await client.execute(uri: "/v1/reports", method: .post, headers: [.cookie: cookie]),
                .unauthorized, "unauthorized")
            // A valid token without an Idempotency-Key: the door is open, the request is not.
            let keyless = try await client.execute(
                uri: "/v1/reports", method: .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                body: ByteBuffer(bytes: ReportFixture.bytes(ReportFixture.document(zone: "rabat"))))
            Self.expectProblem(keyless, .badRequest, "missing-idempotency-key")
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            let missing = try await client.execute(uri: "/assets/../Package.swift", method: .get)
            #expect(missing.status == .notFound)
        }
    }
}
