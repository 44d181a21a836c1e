import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// Dispatch areas through the real broker and PostgreSQL: one worker decides for several zones.
@Suite("Dispatch areas through the real broker and PostgreSQL (integration)", .timeLimit(.minutes(3)))
struct DispatchAreaTests {
    let harness: PipelineHarness
    static let areas = try! DispatchAreas([("casablanca", ["casablanca-anfa", "hay-hassani", "sidi-bernoussi"])])

    init() throws {
        harness = try PipelineHarness()
    }

    func scalar(_ sql: String) async throws -> Int { try await harness.scalar(sql) }
    func text(_ sql: String) async throws -> String? { try await harness.text(sql) }

    func unit(_ id: String, zone: String, lat: Double, lon: Double, key: String = "casablanca") -> KafkaRecord {
        harness.event(
            .units, zone: zone, key: key,
            [
                ("unit_id", .string(id)), ("version", 1), ("status", "available"),
                ("position", ["lat": .number(lat), "lon": .number(lon)]), ("reported_at", "2026-01-15T01:00:00Z"),
            ])
    }

    func report(_ id: UUID, zone: String, lat: Double, lon: Double, key: String) -> KafkaRecord {
        harness.reportRecord(
            ReportFixture.document(id: id, zone: zone, location: GeoPoint(latitude: lat, longitude: lon)), key: key)
    }

    @Test(
        "one worker decides for Casablanca's prefectures: a unit of Anfa serves Hay Hassani, each case keeps its zone, an event keyed by its zone is forwarded once, a wrong key is refused"
    )
    func oneFleet() async throws {
        try await harness.prepare()
        let hassani = UUID()
        let bernoussi = UUID()
        let stray = UUID()
        let hassaniCase = DerivedID.caseID(forReport: hassani)
        let bernoussiCase = DerivedID.caseID(forReport: bernoussi)
        try await harness.withWorker(areas: Self.areas) { worker in
            try await harness.produce([
                unit("casablanca-anfa-u1", zone: "casablanca-anfa", lat: 33.581, lon: -7.624),
                unit("sidi-bernoussi-u1", zone: "sidi-bernoussi", lat: 33.607, lon: -7.497),
            ])
            try await harness.produce([
                // Hay Hassani has no unit of its own: Anfa's is nearer than Sidi Bernoussi's.
                report(hassani, zone: "hay-hassani", lat: 33.560, lon: -7.675, key: "casablanca"),
                // A hotline not yet told of the area keys by the zone: forwarded, decided once.
                report(bernoussi, zone: "sidi-bernoussi", lat: 33.604, lon: -7.501, key: "sidi-bernoussi"),
                // A key that is neither the area nor the zone: refused, nothing else held back.
                report(stray, zone: "hay-hassani", lat: 33.56, lon: -7.67, key: "rabat"),
            ])
            let done = try await eventually(timeout: .seconds(40)) {
                let decided = try await scalar("select count(*) from cases where unit_id is not null")
                let letters = try await harness.readAll(.deadLetters).count
                return decided == 2 && letters == 1
            }
            #expect(done, "both cases decided and the stray key dead-lettered")
            #expect(
                try await text("select unit_id from cases where case_id = '\(hassaniCase)'") == "casablanca-anfa-u1")
            #expect(try await text("select zone from cases where case_id = '\(hassaniCase)'") == "hay-hassani")
            #expect(
                try await text("select zone from decisions where case_id = '\(hassaniCase)' limit 1") == "hay-hassani")
            #expect(
                try await text("select unit_id from cases where case_id = '\(bernoussiCase)'") == "sidi-bernoussi-u1")
            #expect(worker.statistics.snapshot.eventsForwarded == 1)
            // The units keep their zones; the area holds the lease.
            #expect(try await text("select zone from units where unit_id = 'sidi-bernoussi-u1'") == "sidi-bernoussi")
            #expect(try await scalar("select count(*) from zone_leases where zone = 'casablanca'") == 1)
            #expect(try await scalar("select count(*) from zone_leases where zone = 'hay-hassani'") == 0)
        }
        // Outcomes are keyed by the case's zone, not the area.
        let assigned = try await harness.readAll(.outcomes).filter {
            $0.value.flatMap { try? JSONParser.parse($0) }?["case_id"]?.stringValue == hassaniCase.lowercased
        }
        #expect(!assigned.isEmpty)
        #expect(assigned.allSatisfy { $0.key == Array("hay-hassani".utf8) })
        let letter = try #require(
            try await harness.readAll(.deadLetters).first?.value.flatMap { try? JSONParser.parse($0) })
        #expect(letter["reason"]?.stringValue == "key_zone_mismatch")
        // The forwarded report was processed once: one case, one inbox row.
        #expect(try await scalar("select count(*) from cases where report_id = '\(bernoussi)'") == 1)
        // A restarted worker rebuilds the whole area: the Anfa unit is busy with Hay Hassani's case.
        let next = UUID()
        try await harness.withWorker(areas: Self.areas) { _ in
            try await harness.produce([report(next, zone: "hay-hassani", lat: 33.561, lon: -7.674, key: "casablanca")])
            let decided = try await eventually(timeout: .seconds(40)) {
                try await scalar(
                    "select count(*) from decisions where case_id = '\(DerivedID.caseID(forReport: next))'")
                    > 0
            }
            #expect(decided)
            #expect(
                try await text("select status from cases where case_id = '\(DerivedID.caseID(forReport: next))'")
                    == "queued", "both units are busy: the area's memory came back whole")
        }
        try await harness.cleanUp()
    }
}
