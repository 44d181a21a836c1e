import Foundation
import Logging
import SamuStore

/// `samu report`: what happened over a period (a night by default) — cases by category, priority
/// and resolution, the response-time distribution (report → crew on scene), unmet demand by zone —
/// as a printable HTML page with SVG charts, and the same page as a PNG.
public struct NightReport: Sendable, Encodable {
    public struct Count: Sendable, Encodable, Equatable {
        public var key: String
        public var count: Int

        public init(key: String, count: Int) {
            self.key = key
            self.count = count
        }
    }

    /// One zone's cases over the period (queued, left without a bed, not reached, still open).
    public typealias ZoneDemand = NightReportRepository.ZoneRow

    public var from: Date
    public var to: Date
    public var generatedAt: Date
    public var total: Int
    public var byCategory: [Count]
    public var byPriority: [Count]
    public var byResolution: [Count]
    /// Cases per response-time band, in band order (``bands``), then `not_reached`.
    public var responseTimes: [Count]
    public var medianResponseSeconds: Double?
    public var p90ResponseSeconds: Double?
    public var zones: [ZoneDemand]
    /// Child-protection referrals: made, acknowledged, decided, late.
    public var referrals = NightReportRepository.ReferralCounts(made: 0, acknowledged: 0, decided: 0, late: 0)

    /// Response-time bands: upper bounds in minutes.
    public static let bands: [Int] = [5, 10, 15, 20, 30, 45, 60, 90, 120]

    public static func bandName(upperMinutes: Int?, lower: Int) -> String {
        guard let upperMinutes else { return "≥ \(lower) min" }
        return "\(lower)–\(upperMinutes) min"
    }

    /// Reads the period's cases (by the hotline's `reported_at`).
    public static func load(store: SamuStore, from: Date, to: Date, logger: Logger) async throws -> NightReport {
        let repository = NightReportRepository(store: store, logger: logger)
        func counts(_ grouping: NightReportRepository.Grouping) async throws -> [Count] {
            try await repository.counts(by: grouping, from: from, to: to).map { Count(key: $0.key, count: $0.count) }
        }
        let byCategory = try await counts(.category)
        let byPriority = try await counts(.priority)
        let byResolution = try await counts(.resolution)
        let total = byCategory.reduce(0) { $0 + $1.count }

        var reached: [Double] = []
        var notReached = 0
        for seconds in try await repository.responseSeconds(from: from, to: to) {
            if let seconds { reached.append(max(0, seconds)) } else { notReached += 1 }
        }
        reached.sort()
        var responseTimes: [Count] = []
        var lower = 0
        for upper in bands + [Int.max] {
            let count = reached.filter { $0 >= Double(lower * 60) && (upper == .max || $0 < Double(upper * 60)) }.count
            responseTimes.append(
                Count(key: bandName(upperMinutes: upper == .max ? nil : upper, lower: lower), count: count))
            lower = upper == .max ? lower : upper
        }
        responseTimes.append(Count(key: "not_reached", count: notReached))
        func percentile(_ p: Double) -> Double? {
            guard !reached.isEmpty else { return nil }
            return reached[min(reached.count - 1, Int((Double(reached.count) * p).rounded(.up)) - 1)]
        }

        let zones = try await repository.zones(from: from, to: to)
        return NightReport(
            from: from, to: to, generatedAt: Date(), total: total, byCategory: byCategory, byPriority: byPriority,
            byResolution: byResolution, responseTimes: responseTimes, medianResponseSeconds: percentile(0.5),
            p90ResponseSeconds: percentile(0.9), zones: zones,
            referrals: try await repository.referrals(from: from, to: to))
    }

    /// Morocco's time zone from the system's tz database (UTC+1, UTC+0 during Ramadan), or UTC+1.
    public static let morocco = TimeZone(identifier: "Africa/Casablanca") ?? TimeZone(secondsFromGMT: 3600)!

    static var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = morocco
        return calendar
    }

    /// From 19:00 on the night's first day to 07:00 the next day, Morocco's local time.
    static func night(starting day: Date) -> (from: Date, to: Date) {
        let calendar = calendar
        let start = calendar.date(bySettingHour: 19, minute: 0, second: 0, of: day)!
        let next = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: day))!
        return (start, calendar.date(bySettingHour: 7, minute: 0, second: 0, of: next)!)
    }

    /// The night that starts on `day` (YYYY-MM-DD).
    public static func night(of day: String) -> (from: Date, to: Date)? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3,
            let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 12)),
            // No rolling over: 2026-02-30 is not a day.
            calendar.dateComponents([.year, .month, .day], from: date)
                == DateComponents(year: parts[0], month: parts[1], day: parts[2])
        else { return nil }
        return night(starting: date)
    }

    /// The most recent night that has begun at `now`.
    public static func lastNight(now: Date = Date()) -> (from: Date, to: Date) {
        let calendar = calendar
        let today = night(starting: now)
        return today.from <= now ? today : night(starting: calendar.date(byAdding: .day, value: -1, to: now)!)
    }
}
