import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// Mutual aid between two areas decided by two workers, through the real broker and PostgreSQL.
@Suite("Mutual aid between two workers (integration)", .timeLimit(.minutes(3)))
struct MutualAidFlowTests {
    let harness: PipelineHarness
    static let neighbours = ["agadir-ida-outanane": ["marrakech"], "marrakech": ["agadir-ida-outanane"]]
    static let agadir = GeoPoint(latitude: 30.4278, longitude: -9.5981)
    static let marrakech = GeoPoint(latitude: 31.6295, longitude: -7.9811)

    init() throws {
        harness = try PipelineHarness().with(["SAMU_ESCALATE_P1_SECONDS": "2", "SAMU_AID_TIMEOUT_SECONDS": "8"])
    }

    func scalar(_ sql: String) async throws -> Int { try await harness.scalar(sql) }
    func text(_ sql: String) async throws -> String? { try await harness.text(sql) }

    func danger(_ id: UUID, zone: String, at point: GeoPoint) -> KafkaRecord {
        harness.dangerReport(id, zone: zone, at: point)
    }

    @Test(
        "a P1 in Agadir waiting past its threshold gets Marrakech's free crew: the other worker offers and lends it, both timelines record it, the lent crew closes the case, and it never serves two cases"
    )
    func lendAcrossWorkers() async throws {
        try await harness.prepare()
        let first = UUID()
        let waiting = UUID()
        let local = UUID()
        let firstCase = DerivedID.caseID(forReport: first)
        let waitingCase = DerivedID.caseID(forReport: waiting)
        let localCase = DerivedID.caseID(forReport: local)
        let requester = try harness.with(["SAMU_WORKER_ID": "agadir-side-\(harness.id)"])
        let lender = try harness.with(["SAMU_WORKER_ID": "marrakech-side-\(harness.id)"])
        try await requester.withWorker(neighbours: Self.neighbours) { _ in
            try await lender.withWorker(neighbours: Self.neighbours) { _ in
                try await harness.produce([
                    harness.crewReport(
                        "agadir-ida-outanane-u1", zone: "agadir-ida-outanane", at: Self.agadir, version: 1),
                    harness.crewReport("marrakech-u1", zone: "marrakech", at: Self.marrakech, version: 1),
                ])
                // Two workers, each with one of the two areas (their keys hash to partitions 6 and 0).
                let split = try await eventually(timeout: .seconds(60)) {
                    let owners = try await scalar(
                        "select count(distinct owner) from zone_leases where zone in ('agadir-ida-outanane', 'marrakech')"
                    )
                    let units = try await scalar("select count(*) from units")
                    return owners == 2 && units == 2
                }
                #expect(split, "the two areas are not on two workers")
                // Agadir's crew takes a first case and goes; a second P1 waits.
                try await harness.produce([danger(first, zone: "agadir-ida-outanane", at: Self.agadir)])
                let busy = try await eventually(timeout: .seconds(30)) {
                    try await text("select unit_id from cases where case_id = '\(firstCase)'")
                        == "agadir-ida-outanane-u1"
                }
                #expect(busy)
                try await harness.produce([
                    harness.crewReport(
                        "agadir-ida-outanane-u1", zone: "agadir-ida-outanane", at: Self.agadir, version: 2,
                        status: "en_route", caseID: firstCase),
                    danger(waiting, zone: "agadir-ida-outanane", at: Self.agadir),
                ])
                let lent = try await eventually(timeout: .seconds(60)) {
                    try await text("select unit_id from cases where case_id = '\(waitingCase)'") == "marrakech-u1"
                }
                #expect(lent, "the waiting case did not get Marrakech's crew")
                #expect(
                    try await text(
                        "select reason from decisions where case_id = '\(waitingCase)' and unit_id = 'marrakech-u1'")?
                        .hasPrefix("mutual aid: unit marrakech-u1 lent by area marrakech") == true)
                // Both workers recorded the exchange in the case's timeline.
                #expect(
                    try await scalar(
                        "select count(distinct actor) from case_timeline where case_id = '\(waitingCase)' and status = 'mutual_aid'"
                    ) == 2)
                #expect(
                    try await text(
                        "select string_agg(side || ':' || status, ',' order by side) from aid_exchanges where case_id = '\(waitingCase)'"
                    ) == "lender:confirmed,requester:confirmed")
                // Marrakech's own new case waits: its crew is lent.
                try await harness.produce([danger(local, zone: "marrakech", at: Self.marrakech)])
                let queued = try await eventually(timeout: .seconds(30)) {
                    try await text("select status from cases where case_id = '\(localCase)'") == "queued"
                }
                #expect(queued)
                // The lent crew goes, closes the Agadir case, and comes home to Marrakech's case.
                try await harness.produce([
                    harness.crewReport(
                        "marrakech-u1", zone: "marrakech", at: Self.marrakech, version: 2, status: "en_route",
                        caseID: waitingCase),
                    harness.crewReport(
                        "marrakech-u1", zone: "marrakech", at: Self.agadir, version: 3, status: "on_scene",
                        caseID: waitingCase),
                    harness.crewReport(
                        "marrakech-u1", zone: "marrakech", at: Self.agadir, version: 4, status: "returning",
                        caseID: waitingCase, resolution: "taken_to_hospital"),
                ])
                let closed = try await eventually(timeout: .seconds(60)) {
                    let status = try await text("select status from cases where case_id = '\(waitingCase)'")
                    let home = try await text("select unit_id from cases where case_id = '\(localCase)'")
                    return status == "resolved" && home == "marrakech-u1"
                }
                let story = try await text(
                    "select string_agg(status || ' ' || actor || ' ' || detail::text, E'\\n' order by entry_id) from case_timeline where case_id = '\(waitingCase)'"
                )
                let unitRow = try await text(
                    "select status || ' v' || version || ' ' || coalesce(case_id::text, '-') from units where unit_id = 'marrakech-u1'"
                )
                let letters = try await harness.readAll(.deadLetters).compactMap {
                    $0.value.flatMap { String(decoding: $0, as: UTF8.self) }
                }
                #expect(
                    closed,
                    "the lent crew's resolution or its return home did not happen: \(story ?? "") unit \(unitRow ?? "") letters \(letters)"
                )
                #expect(
                    try await text("select resolution from cases where case_id = '\(waitingCase)'")
                        == "taken_to_hospital")
            }
        }
        // Never two active assignments for a unit; and the lent crew served one case at a time.
        #expect(
            try await scalar(
                "select count(*) from (select unit_id from assignments where active group by unit_id having count(*) > 1) x"
            ) == 0)
        #expect(
            try await scalar(
                "select count(*) from aid_exchanges where case_id = '\(waitingCase)' and status = 'ended'") == 2)
        try await harness.cleanUp()
    }
}
