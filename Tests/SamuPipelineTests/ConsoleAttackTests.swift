import Foundation
import SamuModel
import SamuTestSupport
import Testing

/// Strangers at the console's door: password guessing, floods of logins and bad credentials from
/// one address must not lock out an operator who logs in from another.
@Suite("Console under attack (integration)", .timeLimit(.minutes(3)))
struct ConsoleAttackTests {
    let harness: ConsoleHarness

    init() throws {
        harness = try ConsoleHarness()
    }

    static func login(_ id: String, _ password: String) -> [UInt8] {
        JSONValue.object(JSONObject([("operator_id", .string(id)), ("password", .string(password))])).serializedBytes
    }

    static func send(
        from source: String, port: Int, _ method: String, _ path: String, headers: [String: String] = [:],
        body: [UInt8] = []
    ) async throws -> LoopbackHTTP.Reply {
        // Blocking socket calls run on a thread of their own: on the cooperative pool they would
        // starve the console in this same process.
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        try LoopbackHTTP.send(
                            from: source, port: port, method: method, path: path, headers: headers, body: body)
                    })
            }
        }
    }

    @Test(
        "guessing one operator's password, a flood of random logins and a flood of bad credentials from one address leave another address's logins working"
    )
    func lockoutResistance() async throws {
        try await harness.prepare()
        try await harness.addOperator("karim", zones: ["rabat"], role: .supervisor)
        try await harness.withConsole { client in
            let port = try #require(client.base.port)
            let json = ["Content-Type": "application/json"]
            let attacker = "127.0.0.1"
            // 1. Wrong passwords for the supervisor's login, until refused.
            var limited = 0
            for _ in 0..<12 {
                let reply = try await Self.send(
                    from: attacker, port: port, "POST", "/api/login", headers: json,
                    body: Self.login("karim", "wrong password"))
                #expect(reply.status == 401 || reply.status == 429)
                if reply.status == 429 { limited += 1 }
            }
            #expect(limited > 0, "password guessing was never limited")
            // 2. Random logins in parallel (would hold every bcrypt slot) and 3. many new ids (would
            // fill the limiter's table): refused from this address.
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await Self.send(
                            from: attacker, port: port, "POST", "/api/login", headers: json,
                            body: Self.login("x\(index)-\(UUID().uuidString.prefix(6).lowercased())", "guess")
                        ).status
                    }
                }
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(
                statuses.filter { $0 == 429 }.count >= 150,
                "\(Dictionary(grouping: statuses) { $0 }.mapValues(\.count))")
            // Bad session cookies and bearer tokens from the attacker: beyond a burst of 10, at most
            // one a second is looked up (a 401); the others are refused before any query (429).
            // Bounded by the elapsed time, not by a timing assumption: the suite may run slowly.
            let attackStarted = ContinuousClock.now
            var lookedUp = 0
            var refused = 0
            for index in 0..<60 {
                let status: Int
                if index % 2 == 0 {
                    status = try await Self.send(
                        from: attacker, port: port, "GET", "/api/me",
                        headers: ["Cookie": "samu_session=\(UUID().uuidString)"]
                    ).status
                } else {
                    status = try await Self.send(
                        from: attacker, port: port, "POST", "/v1/reports",
                        headers: [
                            "Authorization": "Bearer samu_\(UUID().uuidString)", "Content-Type": "application/json",
                            "Idempotency-Key": "k\(index)",
                        ], body: Array("{}".utf8)
                    ).status
                }
                #expect(status == 401 || status == 429)
                if status == 401 { lookedUp += 1 } else { refused += 1 }
            }
            let elapsed = Double((ContinuousClock.now - attackStarted).components.seconds) + 1
            #expect(refused > 0, "bad credentials were never limited")
            #expect(Double(lookedUp) <= 10 + elapsed + 1, "\(lookedUp) lookups in \(elapsed) s")

            // The real supervisor, from another address, logs in at once.
            let real = try await Self.send(
                from: "127.0.0.2", port: port, "POST", "/api/login", headers: json,
                body: Self.login("karim", ConsoleHarness.password))
            #expect(real.status == 200, "\(String(decoding: real.body, as: UTF8.self))")
            #expect(real.headers["set-cookie"]?.hasPrefix("samu_session=") == true)
        }
        try await harness.pipeline.cleanUp()
    }

    @Test("a report for a zone that does not exist is refused with 422 unknown_zone and never published")
    func unknownZone() async throws {
        try await harness.prepare()
        let token = try await harness.addClient("hotline-z")
        try await harness.withConsole { client in
            for zone in ["casablanca", "zz-nowhere"] {
                let reply = try await client.send(
                    "POST", "/v1/reports",
                    headers: [
                        "Content-Type": "application/json", "Authorization": "Bearer \(token)",
                        "Idempotency-Key": "zone-\(zone)",
                    ],
                    body: Data(ReportFixture.bytes(ReportFixture.document(zone: zone))))
                #expect(reply.status == 422)
                #expect(reply.json["reason"]?.stringValue == "unknown_zone")
                #expect(reply.json["field"]?.stringValue == "/zone")
            }
        }
        #expect(try await harness.pipeline.readAll(.reports).isEmpty)
        try await harness.pipeline.cleanUp()
    }
}
