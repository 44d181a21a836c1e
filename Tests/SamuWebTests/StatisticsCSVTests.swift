import Foundation
import Testing

@testable import SamuStore
@testable import SamuWeb

@Suite("Statistics: the period and the CSV")
struct StatisticsCSVTests {
    @Test(
        "a period is whole days in Morocco's time, the last one included; impossible days and reversed or huge periods are refused"
    )
    func period() throws {
        let january = try #require(Statistics.period(from: "2026-01-01", to: "2026-01-31"))
        #expect(january.to.timeIntervalSince(january.from) == 31 * 86_400)
        #expect(RFC3339Probe.format(january.from) == "2026-01-01T00:00:00+01:00")
        for (from, to) in [
            ("2026-02-30", "2026-03-01"), ("2026-03-01", "2026-02-01"), ("1990-01-01", "2026-01-01"),
            ("2026-1-1", "2026-01-02"), ("x", "2026-01-02"),
        ] {
            #expect(Statistics.period(from: from, to: to) == nil, "\(from) → \(to)")
        }
        let now = Date(timeIntervalSince1970: 1_780_000_000)
        let year = try #require(Statistics.period(from: nil, to: nil, now: now))
        #expect(year.to > now && year.to.timeIntervalSince(year.from) > 364 * 86_400)
    }

    @Test("the CSV quotes commas, quotes and line breaks, and defuses what a spreadsheet would run as a formula")
    func csv() {
        let statistics = Statistics(
            from: Date(), to: Date(), zones: ["rabat"], generated_at: Date(), total: 0, cells: [], responses: [],
            unmet: [], occupancy: [],
            projects: [
                StatisticsRepository.Project(
                    id: "S1", region: "DOD", province: nil, place: "Dakhla, \"centre\"", kind: "=HYPERLINK(\"x\")",
                    status: "project\nphase", units: 0, shelters: 0)
            ], women_centres: 0)
        let text = statistics.csv
        #expect(text.contains(#"S1,DOD,,"Dakhla, ""centre""","'=HYPERLINK(""x"")","project"#))
        #expect(text.contains("phase\",0,0\r\n"))
        #expect(text.hasSuffix("# women_centres\r\nrunning,target\r\n0,65\r\n"))
    }
}

/// RFC 3339 in Morocco's time, to read a period's bounds in a test.
enum RFC3339Probe {
    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = NightReport.morocco
        return formatter.string(from: date)
    }
}
