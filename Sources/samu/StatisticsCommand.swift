import ArgumentParser
import Foundation
import SamuModel
import SamuStore
import SamuWeb

struct StatisticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics",
        abstract:
            "Statistics for the ministry: cases by region, province, category and month; response times; unmet demand; shelters; the programme's projects.",
        discussion: """
            Covers the cases reported (the hotline's reported_at) from --from to --to (days, Morocco time, \
            both included; default the twelve months up to today), in the given zones (default all). Writes \
            statistics.html (printable), statistics.csv (one section per table), statistics.json and, with a \
            browser, statistics.png.
            """
    )

    @Option(help: "First day (YYYY-MM-DD).")
    var from: String?

    @Option(help: "Last day (YYYY-MM-DD), included.")
    var to: String?

    @Option(help: "Zones, comma-separated (default: every zone of the reference data).")
    var zones: String?

    @Option(help: "Where to write the files.")
    var output: String = "statistics"

    @Option(help: "fr or ar.")
    var language: String = "fr"

    @Flag(help: "Write the HTML, CSV and JSON only (no browser needed).")
    var noPNG = false

    func run() async throws {
        let context = try Context.forCommand(label: "samu.statistics")
        guard let language = NightReportPage.Language(rawValue: language) else {
            throw ValidationError("--language must be fr or ar")
        }
        guard let period = Statistics.period(from: from, to: to) else {
            throw ValidationError("--from and --to must be days (YYYY-MM-DD), --from not after --to")
        }
        let (statistics, labels) = try await context.withStore { store in
            try await store.requireMigrated()
            let board = BoardRepository(store: store, logger: context.logger)
            let labels = try await board.labelsWithVocabulary()
            let chosen =
                zones.map { $0.split(separator: ",").map(String.init) } ?? labels["zone"].map { Array($0.keys) }
            return (
                try await Statistics.load(
                    store: store, from: period.from, to: period.to, zones: (chosen ?? []).sorted(),
                    logger: context.logger), labels
            )
        }
        let page = StatisticsPage(statistics: statistics, language: language, labels: labels)
        let directory = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let html = directory.appendingPathComponent("statistics.html")
        try Data(page.html.utf8).write(to: html)
        try Data(statistics.csv.utf8).write(to: directory.appendingPathComponent("statistics.csv"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(statistics).write(to: directory.appendingPathComponent("statistics.json"))
        print(
            "statistics: \(statistics.total) cases in \(statistics.zones.count) zones, \(period.from) to \(period.to)")
        print("statistics: \(html.path)")
        guard !noPNG else { return }
        let chromium = ProcessInfo.processInfo.environment["SAMU_CHROMIUM"] ?? "/usr/bin/chromium"
        guard FileManager.default.isExecutableFile(atPath: chromium) else {
            throw ValidationError("no browser at \(chromium) to draw the PNG: run ops/setup.sh, or pass --no-png")
        }
        let png = directory.appendingPathComponent("statistics.png")
        let rows =
            statistics.cells.count / 2 + statistics.responses.count + statistics.unmet.count
            + statistics.occupancy.count + statistics.projects.count
        try NightReportPage.renderPNG(html: html, png: png, height: 900 + rows * 26, chromium: chromium)
        print("statistics: \(png.path)")
    }
}
