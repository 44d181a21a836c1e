import Foundation
import PostgresNIO
import SamuModel

extension SamuStore {
    /// A case a crew is working on, as `samu crews` plays it.
    public struct CrewAssignment: Sendable {
        public var caseID: UUID
        public var unitID: String
        /// The unit's zone (its reports' zone; the case's in a dispatch area may be another).
        public var zone: String
        public var status: String
        public var minor: Bool
        public var location: GeoPoint
        /// Where the unit last reported (the person's location when it never did).
        public var unitPosition: GeoPoint
        public var unitVersion: Int64
        /// The shelter, bed type and beds (one per person) held last for the case.
        public var hold: (shelterID: String, bedType: BedType, beds: Int)?
    }

    /// Cases with an active assignment, with what a crew needs to report on them.
    public func activeAssignments() async throws -> [CrewAssignment] {
        let rows = try await client.query(
            """
            select c.case_id, a.unit_id, coalesce(u.zone, c.zone), c.status, coalesce((c.triage->>'minor')::boolean, false),
                   coalesce(c.location_lat, 0), coalesce(c.location_lon, 0), coalesce(u.version, 0),
                   coalesce(u.lat, c.location_lat, 0), coalesce(u.lon, c.location_lon, 0),
                   h.shelter_id, h.bed_type, coalesce(h.beds, 1)
            from assignments a
            join cases c on c.case_id = a.case_id
            left join units u on u.unit_id = a.unit_id
            left join lateral (
                select l.shelter_id, l.bed_type, l.beds, l.action from bed_ledger l
                where l.case_id = c.case_id order by l.entry_id desc limit 1
            ) h on h.action = \(BedLedgerAction.hold.rawValue)
            where a.active
            order by c.opened_at, c.case_id
            """, logger: logger)
        var result: [CrewAssignment] = []
        for try await (caseID, unitID, zone, status, minor, lat, lon, version, unitLat, unitLon, shelter, bed, beds)
            in rows.decode(
                (UUID, String, String, String, Bool, Double, Double, Int64, Double, Double, String?, String?, Int32)
                    .self)
        {
            result.append(
                CrewAssignment(
                    caseID: caseID, unitID: unitID, zone: zone, status: status, minor: minor,
                    location: GeoPoint(latitude: lat, longitude: lon),
                    unitPosition: GeoPoint(latitude: unitLat, longitude: unitLon), unitVersion: version,
                    hold: shelter.flatMap { shelter in
                        bed.flatMap(BedType.init(rawValue:)).map { (shelter, $0, Int(beds)) }
                    }))
        }
        return result
    }

    /// A shelter's latest reported beds (capacity, occupied) by type, its position, version and zone.
    public func shelterBeds(_ shelterID: String) async throws -> (GeoPoint, Int64, [BedType: BedCount], String)? {
        let rows = try await client.query(
            """
            select bed_type, capacity, occupied, lat, lon, version, zone from shelter_beds
            where shelter_id = \(shelterID)
            """,
            logger: logger)
        var beds: [BedType: BedCount] = [:]
        var position: GeoPoint?
        var version: Int64 = 0
        var zone = ""
        for try await (bed, capacity, occupied, lat, lon, rowVersion, rowZone) in rows.decode(
            (String, Int, Int, Double, Double, Int64, String).self)
        {
            if let type = BedType(rawValue: bed) { beds[type] = BedCount(capacity: capacity, occupied: occupied) }
            position = GeoPoint(latitude: lat, longitude: lon)
            version = max(version, rowVersion)
            zone = rowZone
        }
        return position.map { ($0, version, beds, zone) }
    }

    /// How many cases wait for a unit.
    public func waitingCases() async throws -> Int {
        let rows = try await client.query(
            "select count(*)::int8 from cases where status = \(CaseStatus.queued.rawValue)", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }
}

extension SamuStore {
    /// Dead letters already replayed, among these.
    public func replayedDeadLetters(_ ids: [UUID]) async throws -> Set<UUID> {
        if ids.isEmpty { return [] }
        let rows = try await client.query(
            "select dlq_event_id from dlq_replays where dlq_event_id = any(\(ids))", logger: logger)
        var found = Set<UUID>()
        for try await id in rows.decode(UUID.self) { found.insert(id) }
        return found
    }

    /// Records that these dead letters were replayed (idempotent).
    public func markReplayed(_ ids: [UUID], topics: [String]) async throws {
        if ids.isEmpty { return }
        try await client.query(
            """
            insert into dlq_replays (dlq_event_id, target_topic, replayed_at)
            select *, now() from unnest(\(ids)::uuid[], \(topics)::text[]) on conflict do nothing
            """, logger: logger)
    }
}
