import Foundation
import Logging
import PostgresNIO
import SamuModel

/// What one run of the partner feed writes, in one transaction.
public struct PartnerFeedWrite: Sendable {
    public var records: [PartnerRecord] = []
    public var aggregates: [PartnerAggregate] = []
    /// Finished cases handled (published, counted only, or out of every partner's reach).
    public var projectedCases: [UUID] = []
    public var countedDays: [(zone: String, day: String)] = []
    public var outbox: [OutboxRecord] = []

    public init() {}

    public var isEmpty: Bool { projectedCases.isEmpty && countedDays.isEmpty && outbox.isEmpty }
}

extension SamuStore {
    /// Every case of a zone reported on a UTC day (`2026-01-15`), open or finished.
    public func casesReported(zone: String, day: String) async throws -> [FinishedCase] {
        try await finishedCases(
            """
            where c.zone = \(zone) and r.reported_at >= \(day)::date::timestamp at time zone 'UTC'
              and r.reported_at < (\(day)::date + 1)::timestamp at time zone 'UTC'
            """)
    }

    /// Zone days with reports, not yet counted, that ended at least `grace` before `now`.
    public func uncountedDays(zones: [String], now: Date, grace: Duration) async throws -> [(zone: String, day: String)]
    {
        if zones.isEmpty { return [] }
        let cutoff = now.addingTimeInterval(-Double(grace.components.seconds))
        let rows = try await client.query(
            """
            select distinct r.zone, to_char((r.reported_at at time zone 'UTC')::date, 'YYYY-MM-DD')
            from reports r
            where r.zone = any(\(zones))
              and (r.reported_at at time zone 'UTC')::date < (\(cutoff)::timestamptz at time zone 'UTC')::date
              and not exists (
                select 1 from partner_days d where d.zone = r.zone and d.day = (r.reported_at at time zone 'UTC')::date)
            order by 2, 1 limit 200
            """, logger: logger)
        var days: [(String, String)] = []
        for try await (zone, day) in rows.decode((String, String).self) { days.append((zone, day)) }
        return days
    }

    private func finishedCases(_ condition: PostgresQuery) async throws -> [FinishedCase] {
        var query = PostgresQuery(
            unsafeSQL: """
                select c.case_id, c.zone, c.category, r.payload::text, coalesce((c.triage->>'minor')::boolean, false),
                       c.status, c.resolution, c.bed_type, r.reported_at, c.opened_at,
                       (select min(t.at) from case_timeline t where t.case_id = c.case_id and t.status = '\(CaseStatus.onScene.rawValue)'),
                       c.location_lat, c.location_lon
                from cases c join reports r on r.report_id = c.report_id

                """)
        query.sql += condition.sql
        query.binds = condition.binds
        let rows = try await client.query(query, logger: logger)
        var cases: [FinishedCase] = []
        for try await (
            id, zone, category, payload, minor, status, resolution, bed, reportedAt, openedAt, onScene, lat, lon
        )
            in rows.decode(
                (
                    UUID, String, String, String, Bool, String, String?, String?, Date, Date, Date?, Double?, Double?
                ).self)
        {
            let document = try? JSONParser.parse(Array(payload.utf8))
            var factors = Set<ReportFactor>()
            if case .array(let values)? = document?["factors"] {
                for value in values {
                    if let factor = value.stringValue.flatMap(ReportFactor.init(rawValue:)) { factors.insert(factor) }
                }
            }
            let location: GeoPoint? =
                if let lat, let lon { GeoPoint(latitude: lat, longitude: lon) } else { nil }
            cases.append(
                FinishedCase(
                    caseID: id, zone: zone,
                    // An unknown category would be a bug upstream; count it as the most protected.
                    category: BeneficiaryCategory(rawValue: category) ?? .childStreetSituation,
                    age: document?["person"]?["age"]?.integerValue.map(Int.init),
                    personCount: document?["person"]?["count"]?.integerValue.map(Int.init) ?? 1,
                    // A status this build does not know counts as open (never published as finished).
                    factors: factors, minor: minor, status: CaseStatus(rawValue: status) ?? .received,
                    resolution: resolution.flatMap(Resolution.init(rawValue:)),
                    bedType: bed.flatMap(BedType.init(rawValue:)), reportedAt: reportedAt, openedAt: openedAt,
                    onSceneAt: onScene,
                    location: location, communeName: document?["location"]?["commune"]?.stringValue))
        }
        return cases
    }

    /// Writes one run of the partner feed; returns the outbox rows it created (to publish now).
    public func write(_ feed: PartnerFeedWrite) async throws -> [OutboxRecord] {
        if feed.isEmpty { return [] }
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection -> [OutboxRecord] in
            let now = Date()
            let r = feed.records
            if !r.isEmpty {
                try await connection.query(
                    """
                    insert into partner_records (event_id, partner, province_code, commune_code, pseudonym,
                        pseudonym_epoch, category, age_band, outcome, shelter_type, time_bucket, response_time_band,
                        bucket_hours, created_at)
                    select e, p, pc, nullif(cc, ''), ps, pe, c, nullif(a, ''), o, nullif(s, ''), t, nullif(b, ''), h, \(now)
                    from unnest(\(r.map(\.eventID))::uuid[], \(r.map(\.partner))::text[], \(r.map(\.provinceCode))::text[],
                        \(r.map { $0.communeCode ?? "" })::text[], \(r.map(\.pseudonym))::text[],
                        \(r.map(\.pseudonymEpoch))::text[], \(r.map(\.category.rawValue))::text[],
                        \(r.map { $0.ageBand?.rawValue ?? "" })::text[], \(r.map(\.outcome.rawValue))::text[],
                        \(r.map { $0.shelterType?.rawValue ?? "" })::text[], \(r.map(\.timeBucket))::timestamptz[],
                        \(r.map { $0.responseTimeBand?.rawValue ?? "" })::text[],
                        \(r.map(\.generalisation.rawValue))::int4[]) as x(e, p, pc, cc, ps, pe, c, a, o, s, t, b, h)
                    on conflict (event_id) do nothing
                    """, logger: logger)
            }
            for aggregate in feed.aggregates {
                try await connection.query(
                    """
                    insert into partner_aggregates (event_id, partner, province_code, commune_code, day,
                        protected_group, min_cell, total, outcomes, created_at)
                    values (\(aggregate.eventID), \(aggregate.partner), \(aggregate.provinceCode),
                        \(aggregate.communeCode), \(aggregate.day)::date, \(aggregate.group.rawValue),
                        \(aggregate.minimumCell), \(aggregate.total), \(aggregate.json["outcomes"]!.serialized)::jsonb, \(now))
                    on conflict (event_id) do nothing
                    """, logger: logger)
            }
            if !feed.projectedCases.isEmpty {
                try await connection.query(
                    """
                    insert into partner_projection (case_id, projected_at)
                    select unnest(\(feed.projectedCases)::uuid[]), \(now)
                    on conflict (case_id) do nothing
                    """, logger: logger)
            }
            for (zone, day) in feed.countedDays {
                try await connection.query(
                    """
                    insert into partner_days (zone, day, counted_at) values (\(zone), \(day)::date, \(now))
                    on conflict (zone, day) do nothing
                    """, logger: logger)
            }
            return try await SamuStore.insertOutbox(feed.outbox, connection: connection, logger: logger)
        }
    }
}
