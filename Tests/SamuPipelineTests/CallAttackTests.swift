import Foundation
import SamuModel
import SamuTestSupport
import Testing

extension ConsoleAttackTests {
    /// A call as the console's form sends it (schema version 3).
    static func call(
        id: UUID = UUID(), zone: String = "rabat", notes: String = "un homme allongé sur le trottoir",
        location: GeoPoint = GeoPoint(latitude: 34.0209, longitude: -6.8416), extra: [(String, JSONValue)] = []
    ) -> JSONValue {
        var document = ReportFixture.document(
            id: id, zone: zone, reportedAt: RFC3339.format(Date()), location: location, extra: extra)
        if case .object(let object) = document {
            document = .object(
                JSONObject(
                    object.entries.map { entry in
                        switch entry.key {
                        case "schema_version": (entry.key, 3)
                        case "notes": (entry.key, .string(notes))
                        default: entry
                        }
                    }))
        }
        return document
    }

    @Test(
        "the call-taker's door: a retry publishes one report, another body under its id is refused, and a call outside the operator's zones, for an unknown case, with a NUL, too large, or from a child-protection account is refused with the field at fault and never published"
    )
    func callTakerRefusals() async throws {
        try await harness.prepare()
        try await harness.addOperator("karim", zones: ["rabat", "sale"])
        try await harness.addOperator("cp-rabat", zones: ["rabat"], role: .childProtection)
        try await harness.withConsole { client in
            let karim = try await client.loggedIn("karim", password: ConsoleHarness.password)
            let id = UUID()
            let body = Self.call(id: id)
            let first = try await karim.json("POST", "/api/calls", body)
            #expect(first.status == 202, "\(String(decoding: first.body, as: UTF8.self))")
            #expect(first.json["replayed"] == .bool(false))
            let again = try await karim.json("POST", "/api/calls", body)
            #expect(again.status == 202)
            #expect(again.json["replayed"] == .bool(true))
            #expect(again.json["report_id"]?.stringValue == id.lowercased)
            let changed = try await karim.json(
                "POST", "/api/calls", body.replacing(path: ["notes"], with: "another story"))
            #expect(changed.status == 422)
            #expect(changed.json["type"]?.stringValue?.hasSuffix("idempotency-key-reused") == true)
            // The check names the zone whose outline holds the position (Salé, across the river).
            let check = try await karim.json(
                "POST", "/api/calls/check", Self.call(location: GeoPoint(latitude: 34.0531, longitude: -6.7985)))
            #expect(check.status == 200)
            #expect(check.json["zone_at_position"]?.stringValue == "sale")
            #expect(check.json["flags"] == .array([]))
            let refused: [(String, JSONValue, Int, String?)] = [
                ("another province", Self.call(zone: "marrakech"), 403, "/zone"),
                ("an unknown zone", Self.call(zone: "atlantis"), 422, "/zone"),
                (
                    "an unknown case", Self.call(extra: [("linked_case_id", .string(UUID().lowercased))]), 422,
                    "/linked_case_id"
                ),
                ("a NUL in the notes", Self.call(notes: "a\u{0}b"), 422, "/notes"),
                (
                    "an age of 150", Self.call(extra: []).replacing(path: ["person", "age"], with: 150), 422,
                    "/person/age"
                ),
            ]
            for (what, body, status, field) in refused {
                let reply = try await karim.json("POST", "/api/calls", body)
                #expect(reply.status == status, "\(what): \(String(decoding: reply.body, as: UTF8.self))")
                #expect(reply.json["field"]?.stringValue == field, "\(what)")
                let checked = try await karim.json("POST", "/api/calls/check", body)
                #expect(checked.status == status, "\(what), checked")
            }
            let huge = try await karim.send(
                "POST", "/api/calls", headers: ["Content-Type": "application/json"],
                body: Data(repeating: UInt8(ascii: " "), count: 200_000))
            #expect(huge.status == 413)
            let nowhere = try await karim.send("GET", "/api/calls/nearby?lat=35.2&lon=-0.5")
            #expect(nowhere.status == 422, "a position in Algeria")
            let cp = try await client.loggedIn("cp-rabat", password: ConsoleHarness.password)
            #expect(try await cp.json("POST", "/api/calls", Self.call()).status == 403)
            #expect(try await cp.send("GET", "/api/calls/nearby?lat=34.02&lon=-6.84").status == 403)
            let anonymous = try await client.json("POST", "/api/calls", Self.call())
            #expect(anonymous.status == 401)
        }
        let published = try await harness.pipeline.readAll(.reports)
        #expect(published.count == 1, "one report for the call and its retry, none for the refusals")
        try await harness.pipeline.cleanUp()
    }
}

extension JSONValue {
    /// A copy with the value at `path` (object keys) replaced.
    func replacing(path: [String], with value: JSONValue) -> JSONValue {
        guard let key = path.first, case .object(let object) = self else { return path.isEmpty ? value : self }
        return .object(
            JSONObject(
                object.entries.map { entry in
                    entry.key == key
                        ? (entry.key, entry.value.replacing(path: Array(path.dropFirst()), with: value))
                        : entry
                }))
    }
}
