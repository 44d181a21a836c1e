import ArgumentParser
import Foundation
import SamuModel
import SamuStore
import SamuWeb

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The night report: cases by category, priority and resolution, response times, unmet demand by zone.",
        discussion: """
            Covers the cases reported (the hotline's reported_at) in the period: a night (19:00 to 07:00, \
            Morocco time, Africa/Casablanca) with --night, or --from and --to. Writes a printable HTML page and the same \
            page as a PNG (rendered by headless Chromium, SAMU_CHROMIUM or /usr/bin/chromium), plus the \
            figures as JSON.
            """
    )

    @Option(help: "The night that starts on this day at 19:00 (YYYY-MM-DD); default: the last night that began.")
    var night: String?

    @Option(help: "Start of the period (ISO 8601, e.g. 2026-01-15T19:00:00+01:00); with --to.")
    var from: String?

    @Option(help: "End of the period (ISO 8601), excluded.")
    var to: String?

    @Option(help: "Where to write report.html, report.png and report.json.")
    var output: String = "night-report"

    @Option(help: "fr or ar.")
    var language: String = "fr"

    @Flag(help: "Write the HTML and JSON only (no browser needed).")
    var noPNG = false

    func run() async throws {
        let context = try Context.forCommand(label: "samu.report")
        guard let language = NightReportPage.Language(rawValue: language) else {
            throw ValidationError("--language must be fr or ar")
        }
        let period: (from: Date, to: Date)
        switch (night, from, to) {
        case (let day?, nil, nil):
            guard let range = NightReport.night(of: day) else { throw ValidationError("--night must be YYYY-MM-DD") }
            period = range
        case (nil, let start?, let end?):
            let formatter = ISO8601DateFormatter()
            guard let start = formatter.date(from: start), let end = formatter.date(from: end), start < end else {
                throw ValidationError("--from and --to must be ISO 8601 times, --from before --to")
            }
            period = (start, end)
        case (nil, nil, nil):
            period = NightReport.lastNight()
        default:
            throw ValidationError("give --night, or --from with --to")
        }
        let (report, labels) = try await context.withStore { store in
            try await store.requireMigrated()
            let report = try await NightReport.load(
                store: store, from: period.from, to: period.to, logger: context.logger)
            return (report, try await BoardRepository(store: store, logger: context.logger).labelsWithVocabulary())
        }
        let page = NightReportPage(report: report, language: language, labels: labels)
        let directory = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let html = directory.appendingPathComponent("report.html")
        try Data(page.html.utf8).write(to: html)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(report).write(to: directory.appendingPathComponent("report.json"))
        print("report: \(report.total) cases reported between \(period.from) and \(period.to)")
        print("report: \(html.path)")
        guard !noPNG else { return }
        let png = directory.appendingPathComponent("report.png")
        let chromium = ProcessInfo.processInfo.environment["SAMU_CHROMIUM"] ?? "/usr/bin/chromium"
        guard FileManager.default.isExecutableFile(atPath: chromium) else {
            throw ValidationError("no browser at \(chromium) to draw the PNG: run ops/setup.sh, or pass --no-png")
        }
        try NightReportPage.renderPNG(html: html, png: png, height: page.estimatedHeight, chromium: chromium)
        print("report: \(png.path)")
    }
}
