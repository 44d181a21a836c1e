import Foundation
import Logging
import PostgresNIO
import SamuModel

/// What `samu report` reads: a period's cases (by the hotline's `reported_at`), grouped and timed.
public struct NightReportRepository: StoreRepository {
    /// How a period's cases are counted.
    public enum Grouping: Sendable, CaseIterable {
        case category
        /// The triage priority, `untriaged` when there is none.
        case priority
        /// The resolution; `open` for a case still open, `cancelled` for a cancelled one.
        case resolution

        var expression: String {
            switch self {
            case .category: "c.category"
            case .priority: "coalesce(c.priority, 'untriaged')"
            case .resolution:
                "case when c.open then 'open' when c.status = '\(CaseStatus.cancelled.rawValue)' then 'cancelled' else coalesce(c.resolution, c.status) end"
            }
        }
    }

    /// One zone's cases over the period.
    public struct ZoneRow: Sendable, Equatable, Encodable {
        public var zone: String
        public var cases: Int
        /// Cases that waited in the queue for a unit at least once.
        public var queued: Int
        /// Cases closed because no bed could be found.
        public var noBed: Int
        /// Cases finished without a crew on scene (refused, not found, cancelled, no bed).
        public var notReached: Int
        /// Still open when the report was made.
        public var open: Int
        /// The zone's population at the 2024 census (statistics office), when the reference data has it.
        public var population: Int?

        /// Cases per 100,000 inhabitants (2024 census), when the population is known.
        public var casesPer100k: Double? {
            population.flatMap { $0 > 0 ? Double(cases) * 100_000 / Double($0) : nil }
        }

        public init(
            zone: String, cases: Int, queued: Int, noBed: Int, notReached: Int, open: Int, population: Int? = nil
        ) {
            self.population = population
            self.zone = zone
            self.cases = cases
            self.queued = queued
            self.noBed = noBed
            self.notReached = notReached
            self.open = open
        }
    }

    let store: SamuStore
    let logger: Logger

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// The period's cases counted by `grouping`, most frequent first.
    public func counts(by grouping: Grouping, from: Date, to: Date) async throws -> [(key: String, count: Int)] {
        var query = PostgresQuery(
            unsafeSQL: """
                select \(grouping.expression) as k, count(*) from cases c join report_facts r using (report_id)
                where r.reported_at >= $1 and r.reported_at < $2 group by k order by count(*) desc, k
                """)
        query.binds.append(from)
        query.binds.append(to)
        var result: [(key: String, count: Int)] = []
        for try await (key, count) in try await client.query(query, logger: logger).decode((String, Int).self) {
            result.append((key, count))
        }
        return result
    }

    /// For each of the period's cases, the seconds from the report to the crew on scene (`nil`:
    /// never reached).
    public func responseSeconds(from: Date, to: Date) async throws -> [Double?] {
        let rows = try await client.query(
            """
            select extract(epoch from (
                       select min(t.at) from case_timeline t
                       where t.case_id = c.case_id and t.status = \(CaseStatus.onScene.rawValue)
                   ) - r.reported_at)::double precision
            from cases c join report_facts r using (report_id)
            where r.reported_at >= \(from) and r.reported_at < \(to)
            """, logger: logger)
        var seconds: [Double?] = []
        for try await value in rows.decode(Double?.self) { seconds.append(value) }
        return seconds
    }

    /// The period's child-protection referrals (by the case's report time).
    public struct ReferralCounts: Sendable, Equatable, Encodable {
        /// Referrals opened.
        public var made: Int
        /// Acknowledged by the receiving body (decided ones included).
        public var acknowledged: Int
        /// Decided by the receiving body.
        public var decided: Int
        /// Acknowledged after their deadline, or still unacknowledged past it.
        public var late: Int

        public init(made: Int, acknowledged: Int, decided: Int, late: Int) {
            self.made = made
            self.acknowledged = acknowledged
            self.decided = decided
            self.late = late
        }
    }

    public func referrals(from: Date, to: Date, now: Date = Date()) async throws -> ReferralCounts {
        let rows = try await client.query(
            """
            select count(*), count(*) filter (where x.acknowledged_at is not null),
                   count(*) filter (where x.status = \(ReferralStatus.decided.rawValue)),
                   count(*) filter (where coalesce(x.acknowledged_at, \(now)) > x.due_at)
            from referrals x join cases c using (case_id) join report_facts r using (report_id)
            where r.reported_at >= \(from) and r.reported_at < \(to)
            """, logger: logger)
        for try await (made, acknowledged, decided, late) in rows.decode((Int, Int, Int, Int).self) {
            return ReferralCounts(made: made, acknowledged: acknowledged, decided: decided, late: late)
        }
        return ReferralCounts(made: 0, acknowledged: 0, decided: 0, late: 0)
    }

    /// The period's cases per zone: queued, left without a bed, not reached, still open.
    public func zones(from: Date, to: Date) async throws -> [ZoneRow] {
        let onScene = CaseStatus.onScene.rawValue
        let rows = try await client.query(
            """
            select c.zone, count(*),
                   count(*) filter (where exists (
                       select 1 from decisions d where d.case_id = c.case_id and d.kind = 'queue')),
                   count(*) filter (where c.resolution = \(Resolution.noBedTonight.rawValue)),
                   count(*) filter (where not c.open and not exists (
                       select 1 from case_timeline t where t.case_id = c.case_id and t.status = \(onScene))),
                   count(*) filter (where c.open),
                   z.population_2024
            from cases c join report_facts r using (report_id) left join ref_zones z on z.code = c.zone
            where r.reported_at >= \(from) and r.reported_at < \(to)
            group by c.zone, z.population_2024 order by c.zone
            """, logger: logger)
        var zones: [ZoneRow] = []
        for try await (zone, cases, queued, noBed, notReached, open, population) in rows.decode(
            (String, Int, Int, Int, Int, Int, Int?).self)
        {
            zones.append(
                ZoneRow(
                    zone: zone, cases: cases, queued: queued, noBed: noBed, notReached: notReached, open: open,
                    population: population))
        }
        return zones
    }
}
