import Crypto
import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// `POST /v1/reports` against the real broker and PostgreSQL.
@Suite("HTTP intake (integration)", .timeLimit(.minutes(3)))
struct IntakeHTTPTests {
    let harness: ConsoleHarness

    init() throws {
        harness = try ConsoleHarness()
    }

    func post(
        _ client: WebClient, token: String?, key: String?, body: Data, contentType: String = "application/json"
    ) async throws -> WebClient.Reply {
        var headers = ["Content-Type": contentType]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        if let key { headers["Idempotency-Key"] = key }
        return try await client.send("POST", "/v1/reports", headers: headers, body: body)
    }

    func report(_ id: UUID = UUID(), age: Int64 = 54) -> Data {
        Data(ReportFixture.bytes(ReportFixture.document(id: id, zone: "rabat", age: age)))
    }

    func expectProblem(_ reply: WebClient.Reply, status: Int, type: String, field: String? = nil) {
        #expect(reply.status == status, "\(String(decoding: reply.body, as: UTF8.self))")
        #expect(reply.header("Content-Type") == "application/problem+json")
        #expect(reply.json["type"]?.stringValue == "https://samu.example.ma/problems/\(type)")
        #expect(reply.json["status"]?.integerValue == Int64(status))
        #expect(reply.json["title"]?.stringValue?.isEmpty == false)
        #expect(reply.json["detail"]?.stringValue?.isEmpty == false)
        if let field { #expect(reply.json["field"]?.stringValue == field) }
    }

    @Test("tokens, payloads, idempotent retries and the rate limit, with the records on the topic")
    func intake() async throws {
        try await harness.prepare()
        let token = try await harness.addClient("hotline-a")
        let limited = try await harness.addClient("hotline-b", ratePerMinute: 1, burst: 2)
        let casablanca = try await harness.addClient("hotline-casa", zones: ["casablanca-anfa"])
        try await harness.withConsole { client in
            // Authentication: none, an unknown token.
            let none = try await post(client, token: nil, key: "k0", body: report())
            expectProblem(none, status: 401, type: "unauthorized")
            #expect(none.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            expectProblem(
                try await post(client, token: "samu_not-a-token", key: "k0", body: report()), status: 401,
                type: "unauthorized")

            // Bad requests: media type, missing key, not JSON, schema violation naming the field.
            expectProblem(
                try await post(client, token: token, key: "k1", body: report(), contentType: "text/plain"),
                status: 415, type: "unsupported-media-type")
            expectProblem(
                try await post(client, token: token, key: nil, body: report()), status: 400,
                type: "missing-idempotency-key")
            let notJSON = try await post(client, token: token, key: "k2", body: Data("{\"zone\": ".utf8))
            expectProblem(notJSON, status: 400, type: "invalid-body")
            #expect(notJSON.json["reason"]?.stringValue == "not_json")
            let tooOld = try await post(client, token: token, key: "k3", body: report(age: 340))
            expectProblem(tooOld, status: 422, type: "validation", field: "/person/age")
            #expect(tooOld.json["reason"]?.stringValue == "schema_violation")

            let huge = Data(repeating: UInt8(ascii: " "), count: 70 * 1024)
            expectProblem(
                try await post(client, token: token, key: "k4", body: huge), status: 413, type: "payload-too-large")
            // A client scoped to Casablanca-Anfa cannot report for Rabat.
            let elsewhere = try await post(client, token: casablanca, key: "casa-1", body: report())
            expectProblem(elsewhere, status: 403, type: "forbidden", field: "/zone")
            #expect(elsewhere.json["reason"]?.stringValue == "zone_not_allowed")

            // Accepted, then retried with the same key: one report, the same answer.
            let id = UUID()
            let body = report(id)
            let first = try await post(client, token: token, key: "night-42", body: body)
            #expect(first.status == 202, "\(String(decoding: first.body, as: UTF8.self))")
            #expect(first.json["report_id"]?.stringValue == id.lowercased)
            #expect(first.header("Idempotent-Replayed") == nil)
            let retry = try await post(client, token: token, key: "night-42", body: body)
            #expect(retry.status == 202)
            #expect(retry.json["report_id"]?.stringValue == id.lowercased)
            #expect(retry.header("Idempotent-Replayed") == "true")
            // The same key for another report is refused, not silently replayed.
            expectProblem(
                try await post(client, token: token, key: "night-42", body: report()), status: 422,
                type: "idempotency-key-reused")
            // Another client's keys are its own.
            let other = try await post(client, token: limited, key: "night-42", body: report())
            #expect(other.status == 202)
            // The report's id under another key: the same report (a second system sending it) is
            // answered as the first; another body under that id is refused, not accepted and then
            // parked by the worker as a conflicting duplicate.
            let again = try await post(client, token: token, key: "night-42-bis", body: body)
            #expect(again.status == 202)
            #expect(again.header("Idempotent-Replayed") == "true")
            let taken = try await post(client, token: token, key: "night-43", body: report(id, age: 12))
            expectProblem(taken, status: 422, type: "validation", field: "/event_id")
            #expect(taken.json["reason"]?.stringValue == "report_id_taken")

            // A first request still being delivered holds its key (409); one abandoned for longer
            // than the broker's delivery timeout is taken over by the retry, which publishes.
            let pendingID = UUID()
            let pendingBody = report(pendingID)
            let abandonedID = UUID()
            let abandonedBody = report(abandonedID)
            try await harness.pipeline.withStore { store in
                for (key, id, body, age) in [
                    ("in-flight", pendingID, pendingBody, 5.0), ("abandoned", abandonedID, abandonedBody, 600.0),
                ] {
                    try await store.client.query(
                        """
                        insert into intake_requests
                            (client_id, idempotency_key, request_hash, report_id, zone, claim_id, created_at)
                        values ('hotline-a', \(key), \(ByteBuffer(bytes: SHA256.hash(data: body))), \(id), 'rabat',
                                \(UUID()), now() - make_interval(secs => \(age)))
                        """)
                }
            }
            let inFlight = try await post(client, token: token, key: "in-flight", body: pendingBody)
            expectProblem(inFlight, status: 409, type: "request-in-progress")
            #expect(inFlight.header("Retry-After") == "1")
            let takenOver = try await post(client, token: token, key: "abandoned", body: abandonedBody)
            #expect(takenOver.status == 202)
            #expect(takenOver.json["report_id"]?.stringValue == abandonedID.lowercased)
            #expect(takenOver.header("Idempotent-Replayed") == nil)

            // The rate limit: burst 2 (one used above), then 429 with Retry-After.
            #expect(try await post(client, token: limited, key: "r2", body: report()).status == 202)
            let refused = try await post(client, token: limited, key: "r3", body: report())
            expectProblem(refused, status: 429, type: "rate-limited")
            #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
            // The first client is not slowed by the second one's limit.
            #expect(try await post(client, token: token, key: "after-limit", body: report()).status == 202)

            // On the topic: exactly one record of the retried report, keyed by its zone, with its source.
            let records = try await harness.pipeline.readAll(.reports)
            let mine = records.filter { message in
                (message.value.flatMap { try? JSONParser.parse($0) })?["event_id"]?.stringValue == id.lowercased
            }
            #expect(mine.count == 1)
            #expect(mine.first?.key == Array("rabat".utf8))
            #expect(
                mine.first?.headers.contains { $0.name == "samu-source" && $0.value == Array("http:hotline-a".utf8) }
                    == true)
            // Accepted: night-42, abandoned, other, r2, after-limit. Nothing refused reached the topic.
            #expect(records.count == 5)

            // Health and metrics on the operations listener only, never on the public door.
            for path in ["/metrics", "/health/ready", "/health/live"] {
                #expect(try await client.send("GET", path).status == 404, "\(path) on the public listener")
            }
            let ready = try await client.ops.send("GET", "/health/ready")
            #expect(ready.status == 200)
            #expect(ready.json["checks"]?["database"]?.stringValue == "ok")
            #expect(ready.json["checks"]?["broker"]?.stringValue == "ok")
            #expect(ready.json["checks"]?["migrations"]?.stringValue == "ok")
            #expect(try await client.ops.send("GET", "/health/live").status == 200)
            #expect(try await client.ops.send("GET", "/metrics").status == 200)
            // The intake's counters, by client and outcome (recorded by MetricsTestKit here).
            func requests(_ client: String, _ outcome: String) -> Int64? {
                ProcessMetrics.recorder.counters(
                    label: "samu_intake_requests_total", dimensions: [("client", client), ("outcome", outcome)]
                ).first?.totalValue
            }
            #expect(requests("hotline-b", "rate_limited") == 1)
            #expect(requests("hotline-a", "replayed") == 2)
        }
        try await harness.pipeline.cleanUp()
    }
}
