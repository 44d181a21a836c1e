import Foundation
import Logging
import PostgresNIO
import SamuModel

/// What the ministry's statistics read, over any period and a set of zones: cases by region,
/// province, category and month (Morocco's time), response times per province, unmet demand per
/// month, shelters' occupancy and admissions, and the programme's projects against what runs.
public struct StatisticsRepository: StoreRepository {
    let store: SamuStore
    let logger: Logger

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Cases of one region, province (zone), category and month.
    public struct Cell: Sendable, Equatable, Encodable {
        public var region: String
        public var province: String
        public var category: String
        /// `YYYY-MM`, Morocco's time.
        public var month: String
        public var cases: Int
    }

    /// A province's response times (report → first crew on scene), in seconds.
    public struct Response: Sendable, Equatable, Encodable {
        public var province: String
        public var cases: Int
        public var reached: Int
        public var median_seconds: Double?
        public var p90_seconds: Double?
    }

    /// A month's unmet demand.
    public struct Unmet: Sendable, Equatable, Encodable {
        public var month: String
        public var cases: Int
        /// Waited in the queue for a unit at least once.
        public var queued: Int
        /// Closed with no bed found.
        public var no_bed: Int
        /// Finished without a crew on scene.
        public var not_reached: Int
    }

    /// A shelter's beds now, and what it took in over the period.
    public struct Occupancy: Sendable, Equatable, Encodable {
        public var shelter_id: String
        public var zone: String
        public var facility_type: String?
        public var capacity: Int
        public var occupied: Int
        public var held: Int
        /// Beds taken by people samu sent, over the period (admissions in the bed ledger).
        public var admitted: Int
        /// Holds that ran out before the person arrived, over the period.
        public var expired: Int
    }

    /// A project of the programme (S1–S29, seeds/samu-projects.json) and what samu runs there.
    public struct Project: Sendable, Equatable, Encodable {
        public var id: String
        public var region: String?
        public var province: String?
        public var place: String?
        public var kind: String?
        /// As the source document states it (project, in progress, programmed, operational…).
        public var status: String?
        /// Units and shelters reporting to samu in the project's province.
        public var units: Int
        public var shelters: Int
    }

    static func month(_ column: String) -> String {
        "to_char(\(column) at time zone 'Africa/Casablanca', 'YYYY-MM')"
    }

    public func cells(from: Date, to: Date, zones: [String]) async throws -> [Cell] {
        let rows = try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    select coalesce(z.region, '?'), c.zone, c.category, \(Self.month("r.reported_at")) as m, count(*)::int8
                    from cases c join report_facts r using (report_id) left join ref_zones z on z.code = c.zone
                    where r.reported_at >= $1 and r.reported_at < $2 and c.zone = any($3)
                    group by 1, 2, 3, 4 order by 1, 2, 3, 4
                    """, binds: Self.binds(from, to, zones)), logger: logger)
        var cells: [Cell] = []
        for try await (region, zone, category, month, count) in rows.decode(
            (String, String, String, String, Int64).self)
        {
            cells.append(Cell(region: region, province: zone, category: category, month: month, cases: Int(count)))
        }
        return cells
    }

    public func responses(from: Date, to: Date, zones: [String]) async throws -> [Response] {
        let onScene = CaseStatus.onScene.rawValue
        let rows = try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    with timed as (
                        select c.zone, extract(epoch from (
                                   select min(t.at) from case_timeline t
                                   where t.case_id = c.case_id and t.status = '\(onScene)') - r.reported_at)::float8 as s
                        from cases c join report_facts r using (report_id)
                        where r.reported_at >= $1 and r.reported_at < $2 and c.zone = any($3))
                    select zone, count(*)::int8, count(s)::int8,
                           percentile_cont(0.5) within group (order by greatest(s, 0)) filter (where s is not null),
                           percentile_cont(0.9) within group (order by greatest(s, 0)) filter (where s is not null)
                    from timed group by zone order by zone
                    """, binds: Self.binds(from, to, zones)), logger: logger)
        var result: [Response] = []
        for try await (zone, cases, reached, median, p90) in rows.decode((String, Int64, Int64, Double?, Double?).self)
        {
            result.append(
                Response(
                    province: zone, cases: Int(cases), reached: Int(reached), median_seconds: median, p90_seconds: p90))
        }
        return result
    }

    public func unmet(from: Date, to: Date, zones: [String]) async throws -> [Unmet] {
        let onScene = CaseStatus.onScene.rawValue
        let noBed = Resolution.noBedTonight.rawValue
        let rows = try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    select \(Self.month("r.reported_at")), count(*)::int8,
                           count(*) filter (where exists (
                               select 1 from decisions d where d.case_id = c.case_id and d.kind = 'queue'))::int8,
                           count(*) filter (where c.resolution = '\(noBed)')::int8,
                           count(*) filter (where not c.open and not exists (
                               select 1 from case_timeline t where t.case_id = c.case_id and t.status = '\(onScene)'))::int8
                    from cases c join report_facts r using (report_id)
                    where r.reported_at >= $1 and r.reported_at < $2 and c.zone = any($3)
                    group by 1 order by 1
                    """, binds: Self.binds(from, to, zones)), logger: logger)
        var result: [Unmet] = []
        for try await (month, cases, queued, noBed, notReached) in rows.decode(
            (String, Int64, Int64, Int64, Int64).self)
        {
            result.append(
                Unmet(
                    month: month, cases: Int(cases), queued: Int(queued), no_bed: Int(noBed),
                    not_reached: Int(notReached)))
        }
        return result
    }

    public func occupancy(from: Date, to: Date, zones: [String]) async throws -> [Occupancy] {
        let rows = try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    select b.shelter_id, min(b.zone), min(p.profile->>'facility_type'),
                           sum(b.capacity)::int8, sum(b.occupied)::int8, sum(b.held)::int8,
                           (select coalesce(sum(l.beds), 0) from bed_ledger l where l.shelter_id = b.shelter_id
                                and l.action = 'admit' and l.at >= $1 and l.at < $2)::int8,
                           (select coalesce(sum(l.beds), 0) from bed_ledger l where l.shelter_id = b.shelter_id
                                and l.action = 'expire' and l.at >= $1 and l.at < $2)::int8
                    from shelter_beds b left join shelter_profiles p on p.shelter_id = b.shelter_id
                    where b.zone = any($3)
                    group by b.shelter_id order by min(b.zone), b.shelter_id
                    """, binds: Self.binds(from, to, zones)), logger: logger)
        var result: [Occupancy] = []
        for try await row in rows.decode((String, String, String?, Int64, Int64, Int64, Int64, Int64).self) {
            result.append(
                Occupancy(
                    shelter_id: row.0, zone: row.1, facility_type: row.2, capacity: Int(row.3), occupied: Int(row.4),
                    held: Int(row.5), admitted: Int(row.6), expired: Int(row.7)))
        }
        return result
    }

    /// The programme's projects, with the units and shelters reporting in their province now.
    public func projects() async throws -> [Project] {
        let rows = try await client.query(
            """
            select p.id, p.region, p.province, p.place, p.kind, p.status,
                   (select count(*) from units u where u.zone = p.province)::int8,
                   (select count(distinct shelter_id) from shelter_beds b where b.zone = p.province)::int8
            from ref_projects p order by length(p.id), p.id
            """, logger: logger)
        var result: [Project] = []
        for try await row in rows.decode((String, String?, String?, String?, String?, String?, Int64, Int64).self) {
            result.append(
                Project(
                    id: row.0, region: row.1, province: row.2, place: row.3, kind: row.4, status: row.5,
                    units: Int(row.6), shelters: Int(row.7)))
        }
        return result
    }

    static func binds(_ from: Date, _ to: Date, _ zones: [String]) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(from)
        binds.append(to)
        binds.append(zones)
        return binds
    }
}
