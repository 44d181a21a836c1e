import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// F18: a worker of a mutual-aid exchange dies in the middle of it. Two `samu worker` processes
/// (one decides Agadir, the other Marrakech), the demo deployment's neighbours, short timers.
@Suite("Mutual aid with a worker killed mid-exchange (integration)", .serialized, .timeLimit(.minutes(4)))
struct MutualAidFaultTests {
    static let agadir = GeoPoint(latitude: 30.4278, longitude: -9.5981)
    static let marrakech = GeoPoint(latitude: 31.6295, longitude: -7.9811)

    struct Night {
        let harness: PipelineHarness
        var workers: [String: SamuBinary.Running] = [:]
        let busy = UUID()
        let waiting = UUID()
        var busyCase: UUID { DerivedID.caseID(forReport: busy) }
        var waitingCase: UUID { DerivedID.caseID(forReport: waiting) }

        /// `sessionSeconds`: how long the group waits for a silent worker before giving its
        /// partitions away (longer than the aid timeout: a frozen lender's request lapses first).
        init(sessionSeconds: Int = 6) throws {
            harness = try PipelineHarness().with([
                "SAMU_ESCALATE_P1_SECONDS": "2", "SAMU_AID_TIMEOUT_SECONDS": "4", "SAMU_LOG_LEVEL": "info",
                "SAMU_KAFKA_SESSION_TIMEOUT_MS": "\(sessionSeconds * 1000)",
            ])
        }

        func scalar(_ sql: String) async throws -> Int { try await harness.scalar(sql) }
        func text(_ sql: String) async throws -> String? { try await harness.text(sql) }

        func danger(_ id: UUID) -> KafkaRecord {
            harness.dangerReport(id, zone: "agadir-ida-outanane", at: MutualAidFaultTests.agadir)
        }

        /// Two workers; Agadir's crew busy on a first case; Marrakech's crew free.
        mutating func start() async throws {
            try await harness.prepare()
            for name in ["one", "two"] {
                var environment = harness.environment
                environment["SAMU_WORKER_ID"] = "\(name)-\(harness.id)"
                workers["\(name)-\(harness.id)"] = try SamuBinary.start(
                    ["worker"], environment: environment, name: "f18\(name)-\(harness.id)")
            }
            try await harness.produce([
                harness.crewReport(
                    "agadir-ida-outanane-u1", zone: "agadir-ida-outanane", at: MutualAidFaultTests.agadir, version: 1),
                harness.crewReport("marrakech-u1", zone: "marrakech", at: MutualAidFaultTests.marrakech, version: 1),
            ])
            let split = try await eventually(timeout: .seconds(90)) {
                let owners = try await scalar(
                    "select count(distinct owner) from zone_leases where zone in ('agadir-ida-outanane', 'marrakech')")
                let units = try await scalar("select count(*) from units")
                return owners == 2 && units == 2
            }
            #expect(split, "the two areas are not on two workers")
            try await harness.produce([danger(busy)])
            let taken = try await eventually(timeout: .seconds(30)) {
                try await text("select unit_id from cases where case_id = '\(busyCase)'") == "agadir-ida-outanane-u1"
            }
            #expect(taken)
            try await harness.produce([
                harness.crewReport(
                    "agadir-ida-outanane-u1", zone: "agadir-ida-outanane", at: MutualAidFaultTests.agadir, version: 2,
                    status: "en_route", caseID: busyCase)
            ])
        }

        /// The worker process deciding for `area` now.
        func owner(of area: String) async throws -> (String, SamuBinary.Running)? {
            guard let id = try await text("select owner from zone_leases where zone = '\(area)'"),
                let worker = workers[id]
            else { return nil }
            return (id, worker)
        }

        /// Never two cases on one unit at once, checked on the assignments' intervals (not the index).
        func doubleBooked() async throws -> Int {
            try await scalar(
                """
                select count(*) from assignments a join assignments b
                  on a.unit_id = b.unit_id and (a.case_id, a.decision_id) < (b.case_id, b.decision_id)
                 and tstzrange(a.started_at, coalesce(a.ended_at, 'infinity'))
                     && tstzrange(b.started_at, coalesce(b.ended_at, 'infinity'))
                """)
        }

        func stop() async throws {
            for worker in workers.values where worker.isRunning { worker.signal(SIGTERM) }
            for worker in workers.values { _ = try? await worker.wait(timeout: .seconds(30)) }
            try await harness.cleanUp()
        }
    }

    @Test(
        "F18a: the lender's worker dies before it answers: the request times out, the case falls back and waits; the stale request later lends nothing twice"
    )
    func lenderDiesBeforeAnswering() async throws {
        var night = try Night(sessionSeconds: 20)
        try await night.start()
        let started = ContinuousClock.now
        // Marrakech's worker is frozen, then killed: it never answers.
        let (lenderID, lender) = try #require(try await night.owner(of: "marrakech"))
        lender.signal(SIGSTOP)
        try await night.harness.produce([night.danger(night.waiting)])
        // The request goes out, is not answered, and lapses: the requester falls back (no other
        // neighbour fits) and the case waits.
        let fellBack = try await eventually(timeout: .seconds(60)) {
            try await night.text(
                "select status from aid_exchanges where case_id = '\(night.waitingCase)' and side = 'requester' order by updated_at desc limit 1"
            ) == "ended"
        }
        #expect(fellBack, "the unanswered request did not time out")
        #expect(try await night.text("select status from cases where case_id = '\(night.waitingCase)'") == "queued")
        lender.signal(SIGKILL)
        _ = try? await lender.wait(timeout: .seconds(10))
        // The survivor takes Marrakech over and meets the stale request: whatever it offers is
        // withdrawn, and its crew ends up free, never on the Agadir case behind the requester's back.
        let settled = try await eventually(timeout: .seconds(90)) {
            let owner = try await night.text("select owner from zone_leases where zone = 'marrakech'")
            let lenderSide = try await night.text(
                "select status from aid_exchanges where case_id = '\(night.waitingCase)' and side = 'lender'")
            return owner != lenderID && (lenderSide == nil || lenderSide == "ended")
        }
        #expect(settled, "the survivor did not settle the stale request")
        #expect(try await night.text("select status from cases where case_id = '\(night.waitingCase)'") == "queued")
        #expect(
            try await night.scalar("select count(*) from assignments where active and unit_id = 'marrakech-u1'") == 0)
        // The fallback: Agadir's own crew comes back and takes the waiting case.
        try await night.harness.produce([
            night.harness.crewReport(
                "agadir-ida-outanane-u1", zone: "agadir-ida-outanane", at: Self.agadir, version: 3,
                status: "returning", caseID: night.busyCase, resolution: "taken_to_hospital")
        ])
        let served = try await eventually(timeout: .seconds(60)) {
            try await night.text("select unit_id from cases where case_id = '\(night.waitingCase)'")
                == "agadir-ida-outanane-u1"
        }
        #expect(served)
        let doubled = try await night.doubleBooked()
        let letters = try await night.harness.readAll(.deadLetters).count
        FaultTable.append([
            "F18a mutual aid, lender killed before answering", "4", "2", "0", "0", "0", "-", "-", "\(doubled)", "0",
            "\(letters)", Self.seconds(ContinuousClock.now - started), doubled == 0 && letters == 0 ? "yes" : "NO",
            "request timed out, case fell back to its own crew",
        ])
        #expect(doubled == 0)
        #expect(letters == 0)
        try await night.stop()
    }

    @Test(
        "F18b: either worker killed mid-exchange (the moment the lender has offered): no unit on two cases, and the case is served once the survivor settles the exchange"
    )
    func killMidExchange() async throws {
        for side in ["lender", "requester"] {
            var night = try Night()
            try await night.start()
            let started = ContinuousClock.now
            try await night.harness.produce([night.danger(night.waiting)])
            // Killed the moment the lender's offer is recorded: accept and confirm may or may not be out.
            let offered = try await eventually(timeout: .seconds(60)) {
                try await night.scalar(
                    "select count(*) from aid_exchanges where case_id = '\(night.waitingCase)' and side = 'lender'") > 0
            }
            #expect(offered, "no offer was made")
            let area = side == "lender" ? "marrakech" : "agadir-ida-outanane"
            let (killedID, killed) = try #require(try await night.owner(of: area))
            killed.signal(SIGKILL)
            _ = try? await killed.wait(timeout: .seconds(10))
            // The survivor takes the area over, and the exchange ends one way or the other: the
            // Agadir case has Marrakech's crew (both sides confirmed) or the offer lapsed and the
            // crew is Marrakech's again (both sides ended).
            let settled = try await eventually(timeout: .seconds(120)) {
                let owner = try await night.text("select owner from zone_leases where zone = '\(area)'")
                let sides = try await night.text(
                    "select string_agg(side || ':' || status, ',' order by side) from aid_exchanges where case_id = '\(night.waitingCase)' and status <> 'requested'"
                )
                let unit = try await night.text("select unit_id from cases where case_id = '\(night.waitingCase)'")
                let lent =
                    sides?.contains("lender:confirmed") == true && sides?.contains("requester:confirmed") == true
                    && unit == "marrakech-u1"
                let lapsed = sides?.contains("lender:ended") == true && unit == nil
                return owner != killedID && (lent || lapsed)
            }
            let story = try await night.text(
                "select string_agg(side || ':' || status, ',' order by side) from aid_exchanges where case_id = '\(night.waitingCase)'"
            )
            #expect(settled, "\(side) killed: the exchange did not settle (\(story ?? "none"))")
            let doubled = try await night.doubleBooked()
            let active = try await night.scalar(
                "select count(*) from assignments where active and unit_id = 'marrakech-u1'")
            let letters = try await night.harness.readAll(.deadLetters).count
            FaultTable.append([
                "F18b mutual aid, \(side) killed mid-exchange", "4", "2", "0", "0", "0", "-", "-", "\(doubled)", "0",
                "\(letters)", Self.seconds(ContinuousClock.now - started),
                doubled == 0 && active <= 1 && letters == 0 ? "yes" : "NO", "exchange ended as \(story ?? "none")",
            ])
            #expect(doubled == 0)
            #expect(active <= 1)
            #expect(letters == 0)
            try await night.stop()
        }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
