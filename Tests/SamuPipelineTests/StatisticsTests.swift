import Foundation
import PostgresNIO
import SamuModel
import SamuTestSupport
import SamuWeb
import Testing

@testable import SamuStore

/// The ministry's statistics over cases a real worker handled: in the console (JSON, CSV,
/// printable HTML in French and Arabic, scoped to the account's zones) and from `samu statistics`.
@Suite("Statistics for the ministry (integration)", .timeLimit(.minutes(3)))
struct StatisticsTests {
    let harness: ConsoleHarness

    init() throws {
        harness = try ConsoleHarness()
    }

    @Test(
        "cases by region, province, category and month, response times, unmet demand, shelters and projects, as JSON, CSV, HTML and from the command line; an operator sees only their zones"
    )
    func statistics() async throws {
        try await harness.prepare()
        try await harness.publishDeployment()
        try await harness.addOperator("nadia", zones: ["rabat"])
        try await harness.addOperator("cp", zones: ["rabat"], role: .childProtection)
        try await harness.addOperator("omar", zones: ["rabat"])
        try await harness.addOperator("hind", zones: ["sale"], role: .supervisor)
        // January: two in Rabat; February: one in Rabat, one in Salé.
        let reports: [(String, String, String)] = [
            ("rabat", "homeless_adult", "2026-01-10T23:00:00Z"), ("rabat", "isolated_elderly", "2026-01-20T22:00:00Z"),
            ("rabat", "homeless_adult", "2026-02-03T21:00:00Z"),
            ("sale", "child_street_situation", "2026-02-04T20:00:00Z"),
        ]
        let ids = reports.map { _ in UUID() }
        try await harness.pipeline.withWorker { _ in
            let crews = try await eventually(timeout: .seconds(60)) {
                try await harness.pipeline.scalar("select count(*) from units where zone in ('rabat', 'sale')") == 8
            }
            #expect(crews)
            try await harness.pipeline.produce(
                zip(ids, reports).map { id, report in
                    harness.pipeline.reportRecord(
                        ReportFixture.document(id: id, zone: report.0, category: report.1, reportedAt: report.2))
                })
            let opened = try await eventually(timeout: .seconds(40)) {
                try await harness.pipeline.scalar("select count(*) from cases") == 4
            }
            #expect(opened)
            // January's second case: closed with no bed tonight.
            let closed = DerivedID.caseID(forReport: ids[1])
            try await harness.pipeline.produce([
                harness.pipeline.event(
                    .commands, zone: "rabat",
                    [
                        ("case_id", .string(closed.lowercased)), ("command", "close"), ("resolution", "no_bed_tonight"),
                        ("operator_id", "op-test"), ("reason", "every bed taken"),
                        ("issued_at", .string(RFC3339.format(Date()))),
                    ])
            ])
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await harness.pipeline.scalar(
                        "select count(*) from cases where case_id = '\(closed)' and resolution = 'no_bed_tonight'") == 1
                })
        }
        let period = try #require(Statistics.period(from: "2026-01-01", to: "2026-02-28"))
        let all = try await harness.pipeline.withStore { store in
            try await Statistics.load(
                store: store, from: period.from, to: period.to, zones: ["rabat", "sale"],
                logger: harness.pipeline.logger)
        }
        #expect(all.total == 4)
        let rabat = all.cells.filter { $0.province == "rabat" }
        #expect(rabat.filter { $0.month == "2026-01" }.reduce(0) { $0 + $1.cases } == 2)
        #expect(rabat.filter { $0.month == "2026-02" }.reduce(0) { $0 + $1.cases } == 1)
        #expect(
            all.cells.contains {
                $0.province == "sale" && $0.category == "child_street_situation" && $0.month == "2026-02"
            })
        #expect(all.cells.allSatisfy { $0.region != "?" }, "every province has its region")
        #expect(all.unmet.map(\.month) == ["2026-01", "2026-02"])
        #expect(all.unmet.first?.no_bed == 1)
        #expect(all.responses.map(\.province) == ["rabat", "sale"])
        #expect(
            all.responses.allSatisfy { $0.reached > 0 || $0.median_seconds == nil }, "no median without a crew on scene"
        )
        #expect(all.projects.count == 30, "S1–S29 and the others of seeds/samu-projects.json")
        #expect(all.occupancy.contains { $0.zone == "sale" })

        try await harness.withConsole { client in
            let nadia = try await client.loggedIn("nadia", password: ConsoleHarness.password)
            let json = try await nadia.send("GET", "/api/statistics?from=2026-01-01&to=2026-02-28")
            #expect(json.status == 200)
            #expect(json.json["total"]?.integerValue == 3, "Rabat's cases only")
            let csv = try await nadia.send("GET", "/api/statistics.csv?from=2026-01-01&to=2026-02-28")
            #expect(csv.status == 200)
            #expect(csv.header("Content-Type")?.hasPrefix("text/csv") == true)
            let text = String(decoding: csv.body, as: UTF8.self)
            #expect(text.hasPrefix("# cases\r\nregion,province,category,month,cases\r\n"))
            #expect(text.contains(",rabat,homeless_adult,2026-01,1\r\n"))
            #expect(!text.contains(",sale,"), "another zone's cases leaked into the CSV")
            #expect(text.contains("# women_centres\r\nrunning,target\r\n"))
            let html = try await nadia.send("GET", "/api/statistics.html?from=2026-01-01&to=2026-02-28&lang=ar")
            let page = String(decoding: html.body, as: UTF8.self)
            #expect(html.status == 200)
            #expect(page.contains("dir=\"rtl\""))
            #expect(page.contains("<tr data-province=\"rabat\">"))
            #expect(page.contains("id=\"unmet-trend\""))
            #expect(page.contains("data-project=\"S1\""))
            for bad in ["from=2026-02-30", "from=2026-03-01&to=2026-01-01", "from=1990-01-01&to=2026-01-01", "to=x"] {
                #expect(try await nadia.send("GET", "/api/statistics?\(bad)").status == 422, "\(bad)")
            }
            let cp = try await client.loggedIn("cp", password: ConsoleHarness.password)
            #expect(try await cp.send("GET", "/api/statistics").status == 403)
            // Statistics held up (another transaction locks the cases): an account's second request
            // is refused at once, so is a third computation, and the console answers everyone else.
            let omar = try await client.loggedIn("omar", password: ConsoleHarness.password)
            let hind = try await client.loggedIn("hind", password: ConsoleHarness.password)
            let (locked, release) = AsyncStream.makeStream(of: Void.self)
            let (unlocked, unlock) = AsyncStream.makeStream(of: Void.self)
            let locker = Task {
                try await harness.pipeline.withStore { store in
                    try await store.client.withTransaction(logger: harness.pipeline.logger) { connection in
                        _ = try await connection.query(
                            "lock table report_facts in access exclusive mode", logger: harness.pipeline.logger)
                        release.yield()
                        for await _ in unlocked { break }
                    }
                }
            }
            for await _ in locked { break }
            async let first = nadia.send("GET", "/api/statistics?from=2026-01-01&to=2026-02-28")
            async let second = omar.send("GET", "/api/statistics?from=2026-01-01&to=2026-02-28")
            #expect(
                try await eventually(timeout: .seconds(5)) {
                    try await harness.pipeline.scalar(
                        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%report_facts%'"
                    ) >= 2
                }, "two computations waiting")
            let again = try await nadia.send("GET", "/api/statistics?from=2026-01-01&to=2026-02-28")
            #expect(again.status == 429)
            let third = try await hind.send("GET", "/api/statistics.csv?from=2026-01-01&to=2026-02-28")
            #expect(third.status == 429)
            #expect(third.header("Retry-After") == "2")
            #expect(try await hind.send("GET", "/api/me").status == 200)
            unlock.yield()
            try await locker.value
            #expect(try await first.status == 200)
            #expect(try await second.status == 200)
            #expect(try await hind.send("GET", "/api/statistics?from=2026-01-01&to=2026-02-28").status == 200)
            #expect(try await client.send("GET", "/api/statistics.csv").status == 401)
        }
        // The command line, for the ministry's national figures.
        let directory = Artifacts.directory.appendingPathComponent("statistics")
        var environment = harness.pipeline.environment
        environment["SAMU_CHROMIUM"] = environment["SAMU_CHROMIUM"] ?? "/usr/bin/chromium"
        let run = try SamuBinary.start(
            ["statistics", "--from", "2026-01-01", "--to", "2026-02-28", "--output", directory.path],
            environment: environment)
        let outcome = try await run.wait(timeout: .seconds(60))
        #expect(outcome.status == 0, "\(outcome.output)")
        let written = try String(contentsOf: directory.appendingPathComponent("statistics.csv"), encoding: .utf8)
        #expect(written.contains(",sale,child_street_situation,2026-02,1\r\n"))
        for file in ["statistics.html", "statistics.json", "statistics.png"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), "\(file)")
        }
        try await harness.pipeline.cleanUp()
    }
}
