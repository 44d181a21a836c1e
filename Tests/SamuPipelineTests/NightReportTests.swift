import Foundation
import PostgresNIO
import Prometheus
import RdKafka
import SamuModel
import SamuTestSupport
import SamuWeb
import ServiceLifecycle
import Testing

@testable import SamuStore

/// `samu report` over cases a real worker handled; and the worker's own /metrics and health.
@Suite("Night report and worker metrics (integration)", .timeLimit(.minutes(3)))
struct NightReportTests {
    let harness: ConsoleHarness

    init() throws {
        harness = try ConsoleHarness()
    }

    func caseOf(report: UUID) async throws -> (UUID, String?)? {
        try await harness.pipeline.withStore { store in
            let rows = try await store.client.query("select case_id, unit_id from cases where report_id = \(report)")
            for try await row in rows.decode((UUID, String?).self) { return row }
            return nil
        }
    }

    @Test("a night's cases by category, priority and resolution, response times and unmet demand, in HTML and PNG")
    func nightReport() async throws {
        let metrics = ProcessMetrics.recorder
        try await harness.prepare()
        try await harness.publishDeployment()
        let metricsPort = Int.random(in: 20_000..<30_000)
        let inNight = [UUID(), UUID(), UUID()]
        let outside = UUID()
        try await harness.pipeline.withWorker { worker in
            // The crews are known before the reports arrive (no case waits in the queue).
            let crews = try await eventually(timeout: .seconds(60)) {
                try await harness.pipeline.withStore { store in
                    let rows = try await store.client.query("select count(*) from units where zone = 'rabat'")
                    for try await count in rows.decode(Int.self) { return count == 4 }
                    return false
                }
            }
            #expect(crews)
            // The night of 14 January: 19:00 (UTC+1) on the 14th to 07:00 on the 15th.
            var records = inNight.enumerated().map { index, id in
                harness.pipeline.reportRecord(
                    ReportFixture.document(
                        id: id, zone: "rabat", category: index == 0 ? "isolated_elderly" : "homeless_adult",
                        reportedAt: "2026-01-15T0\(index + 1):10:00Z", age: index == 0 ? 81 : 45))
            }
            records.append(
                harness.pipeline.reportRecord(
                    ReportFixture.document(id: outside, zone: "rabat", reportedAt: "2026-01-16T12:00:00Z")))
            try await harness.pipeline.produce(records)
            var cases: [(UUID, String?)] = []
            let assigned = try await eventually(timeout: .seconds(40)) {
                cases = []
                for id in inNight { if let found = try await caseOf(report: id) { cases.append(found) } }
                return cases.count == 3 && cases.allSatisfy { $0.1 != nil }
            }
            #expect(assigned, "the three reports did not all get a case and a unit")
            guard assigned else { return }
            // The first case's crew reaches the person; the second is closed: no bed tonight.
            let (firstCase, firstUnit) = cases[0]
            try await harness.pipeline.produce([
                harness.pipeline.event(
                    .units, zone: "rabat",
                    [
                        ("unit_id", .string(firstUnit!)),
                        ("version", .integer(Int64(Date().timeIntervalSince1970 * 1000) + 10)),
                        ("status", "on_scene"), ("position", ["lat": 34.02, "lon": -6.84]),
                        ("reported_at", .string(RFC3339.format(Date()))), ("case_id", .string(firstCase.lowercased)),
                    ]),
                harness.pipeline.event(
                    .commands, zone: "rabat",
                    [
                        ("case_id", .string(cases[1].0.lowercased)), ("command", "close"),
                        ("resolution", "no_bed_tonight"), ("operator_id", "op-test"), ("reason", "every bed taken"),
                        ("issued_at", .string(RFC3339.format(Date()))),
                    ]),
            ])
            let settled = try await eventually(timeout: .seconds(30)) {
                try await harness.pipeline.withStore { store in
                    let rows = try await store.client.query(
                        """
                        select (select count(*) from case_timeline where case_id = \(firstCase) and status = 'on_scene')
                             + (select count(*) from cases where case_id = \(cases[1].0) and resolution = 'no_bed_tonight')
                        """)
                    for try await count in rows.decode(Int.self) { return count == 2 }
                    return false
                }
            }
            #expect(settled)

            // The worker's metrics (recorded by MetricsTestKit in this process): gauges are
            // refreshed every tick (1 s).
            let reports = harness.pipeline.catalog.name(.reports)
            let complete = try await eventually(timeout: .seconds(20)) {
                !metrics.recorders(label: "samu_queue_depth", dimensions: [("zone", "rabat")]).isEmpty
                    && metrics.recorders(label: "samu_consumer_lag").contains {
                        $0.dimensions.contains { $0 == ("topic", reports) }
                    }
            }
            #expect(complete, "gauges missing: \(metrics.recorders.map(\.label).sorted())")
            #expect(
                metrics.counters(label: "samu_decisions_total").contains {
                    $0.dimensions.map(\.0) == ["priority", "kind"]
                })
            #expect(metrics.timers.contains { $0.label == "samu_decision_latency_seconds" })
            #expect(
                !metrics.recorders(label: "samu_free_beds", dimensions: [("zone", "rabat"), ("bed_type", "men")])
                    .isEmpty)
            #expect(metrics.counters(label: "samu_dispatch_decisions_total").isEmpty, "one counter per fact")

            // The worker's own HTTP listener: the registry it is given, rendered; and its health.
            try await harness.pipeline.withStore { store in
                let registry = PrometheusCollectorRegistry()
                registry.makeCounter(
                    descriptor: MetricNameDescriptor(
                        namespace: "samu", metricName: "probe", unitName: "total", helpText: "a test counter"),
                    labels: [("zone", "rabat")]
                ).increment(by: Int64(3))
                let server = OpsServer(
                    host: "127.0.0.1", port: metricsPort,
                    checks: [
                        .database(store, logger: harness.pipeline.logger), .migrations(store),
                        .broker { worker.producer },
                    ],
                    registry: registry, logger: harness.pipeline.logger)
                try await harness.pipeline.withServices([server]) {
                    let client = WebClient(base: URL(string: "http://127.0.0.1:\(metricsPort)")!)
                    let served = try await eventually(timeout: .seconds(20)) {
                        (try? await client.send("GET", "/metrics"))?.status == 200
                    }
                    #expect(served)
                    let reply = try await client.send("GET", "/metrics")
                    #expect(reply.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
                    #expect(String(decoding: reply.body, as: UTF8.self).contains("samu_probe_total{zone=\"rabat\"} 3"))
                    let ready = try? await client.send("GET", "/health/ready")
                    #expect(ready?.status == 200)
                    #expect(ready?.json["status"]?.stringValue == "ready")
                }
            }
        }

        // The report of that night: three cases (not the fourth, reported two days later).
        let night = try #require(NightReport.night(of: "2026-01-14"))
        let report = try await harness.pipeline.withStore { store in
            try await NightReport.load(store: store, from: night.from, to: night.to, logger: harness.pipeline.logger)
        }
        #expect(report.total == 3)
        #expect(
            report.byCategory == [.init(key: "homeless_adult", count: 2), .init(key: "isolated_elderly", count: 1)])
        #expect(report.byResolution.first { $0.key == "no_bed_tonight" }?.count == 1)
        #expect(report.byResolution.first { $0.key == "open" }?.count == 2)
        #expect(report.byPriority.reduce(0) { $0 + $1.count } == 3)
        // One crew on scene (months after these January reports: the last band); two never reached.
        #expect(report.responseTimes.last == .init(key: "not_reached", count: 2))
        #expect(report.responseTimes.first { $0.key.hasPrefix("≥") }?.count == 1)
        let rabat = try #require(report.zones.first)
        // Per capita from the statistics office's 2024 census (seeds/provinces.json: Rabat 515,619).
        #expect(
            rabat == .init(zone: "rabat", cases: 3, queued: 0, noBed: 1, notReached: 1, open: 2, population: 515_619))
        #expect(abs((rabat.casesPer100k ?? 0) - 0.58) < 0.01)

        let labels = try await harness.pipeline.withStore { store in
            try await BoardRepository(store: store, logger: harness.pipeline.logger).labelsWithVocabulary()
        }
        let french = NightReportPage(report: report, language: .fr, labels: labels).html
        #expect(
            french.contains(
                "<tr data-zone=\"rabat\"><td>Rabat</td><td>3</td><td>0</td><td>1</td><td>1</td><td>2</td><td>0.58</td></tr>"
            ))
        #expect(french.contains("Personne âgée isolée (sans soutien ni ressources)"))
        let arabic = NightReportPage(report: report, language: .ar, labels: labels)
        #expect(arabic.html.contains("dir=\"rtl\""))
        #expect(arabic.html.contains("الرباط"))
        let directory = Artifacts.directory.appendingPathComponent("night-report")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let html = directory.appendingPathComponent("report-ar.html")
        try Data(arabic.html.utf8).write(to: html)
        let png = directory.appendingPathComponent("report-ar.png")
        try? FileManager.default.removeItem(at: png)
        try NightReportPage.renderPNG(
            html: html, png: png, height: arabic.estimatedHeight, chromium: Chromium.executable)
        let bytes = try Data(contentsOf: png)
        #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(bytes.count > 10_000)
        try await harness.pipeline.cleanUp()
    }
}
