import Foundation
import Logging
import NIOCore
import PostgresNIO
import SamuModel

/// A crew's device enrolled for one unit (its credential's digest stays in the database).
public struct CrewDevice: Sendable, Equatable, Encodable {
    public var device_id: String
    public var unit_id: String
    public var zone: String
    public var enrolled_by: String
    public var enrolled_at: Date
    public var last_seen_at: Date?
    public var revoked_at: Date?
}

/// A unit as its last report left it (`units`).
public struct UnitRow: Sendable, Equatable {
    public var unitID: String
    public var zone: String
    public var status: String
    public var latitude: Double
    public var longitude: Double
    public var caseID: UUID?
    public var version: Int64
}

/// A shelter's counts as stored (`shelter_beds`), for the shelter page's next report.
public struct ShelterRow: Sendable, Equatable {
    public var shelterID: String
    public var zone: String
    public var latitude: Double
    public var longitude: Double
    public var version: Int64
    /// Capacity and occupied beds by bed type.
    public var beds: [String: (capacity: Int, occupied: Int)]

    public static func == (lhs: ShelterRow, rhs: ShelterRow) -> Bool {
        lhs.shelterID == rhs.shelterID && lhs.version == rhs.version
    }
}

/// Shelters' names (the deployment's), in French and Arabic, for what the crew app shows.
public struct ShelterNames: Sendable {
    public var ids: [String] = []
    public var french: [String] = []
    public var arabic: [String] = []

    public init(_ names: [(id: String, french: String, arabic: String)]) {
        for (id, french, arabic) in names {
            ids.append(id)
            self.french.append(french)
            self.arabic.append(arabic)
        }
    }
}

/// What the crew app and the shelter page read, and the crews' devices. The console writes only
/// enrolments, devices and accepted crew actions; every state change a crew or a shelter makes
/// travels as an event on `samu.units.v1` or `samu.beds.v1`, applied by the zone's worker.
public struct CrewRepository: StoreRepository {
    let store: SamuStore
    let logger: Logger

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    // MARK: - Enrolment and devices

    /// The unit's last report, if any worker stored one.
    public func unit(_ unitID: String) async throws -> UnitRow? {
        let rows = try await client.query(
            "select unit_id, zone, status, lat, lon, case_id, version from units where unit_id = \(unitID)",
            logger: logger)
        for try await (id, zone, status, lat, lon, caseID, version) in rows.decode(
            (String, String, String, Double, Double, UUID?, Int64).self)
        {
            return UnitRow(
                unitID: id, zone: zone, status: status, latitude: lat, longitude: lon, caseID: caseID, version: version)
        }
        return nil
    }

    /// Stores a one-time enrolment code's digest for a unit.
    public func createEnrolment(
        codeDigest: ByteBuffer, unitID: String, zone: String, by operatorID: String, at time: Date, expires: Date
    ) async throws {
        try await client.query(
            """
            insert into crew_enrolments (code_hash, unit_id, zone, created_by, created_at, expires_at)
            values (\(codeDigest), \(unitID), \(zone), \(operatorID), \(time), \(expires))
            """, logger: logger)
        try await client.query(
            "delete from crew_enrolments where expires_at < now() - interval '1 day'", logger: logger)
    }

    /// Uses a code once (unexpired, unused) and enrols the device under it, in one transaction.
    /// Returns the unit and zone, or nil for an unknown, used or expired code.
    public func redeem(
        codeDigest: ByteBuffer, deviceID: String, tokenDigest: ByteBuffer, at time: Date
    ) async throws -> (unitID: String, zone: String)? {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                update crew_enrolments set used_at = \(time)
                where code_hash = \(codeDigest) and used_at is null and expires_at > \(time)
                returning unit_id, zone, created_by
                """, logger: logger)
            var found: (String, String, String)?
            for try await row in rows.decode((String, String, String).self) { found = row }
            guard let (unitID, zone, by) = found else { return nil }
            try await connection.query(
                """
                insert into crew_devices (device_id, token_hash, unit_id, zone, enrolled_by, enrolled_at, last_seen_at)
                values (\(deviceID), \(tokenDigest), \(unitID), \(zone), \(by), \(time), \(time))
                """, logger: logger)
            return (unitID, zone)
        }
    }

    /// The enrolled, unrevoked device a credential belongs to.
    public func device(tokenDigest: ByteBuffer) async throws -> CrewDevice? {
        let rows = try await client.query(
            """
            select device_id, unit_id, zone, enrolled_by, enrolled_at, last_seen_at, revoked_at from crew_devices
            where token_hash = \(tokenDigest) and revoked_at is null
            """, logger: logger)
        for try await row in rows.decode((String, String, String, String, Date, Date?, Date?).self) {
            return CrewDevice(
                device_id: row.0, unit_id: row.1, zone: row.2, enrolled_by: row.3, enrolled_at: row.4,
                last_seen_at: row.5, revoked_at: row.6)
        }
        return nil
    }

    /// Marks the device seen (at most once a minute is enough for the console's list).
    public func touch(deviceID: String, at time: Date) async throws {
        try await client.query(
            """
            update crew_devices set last_seen_at = \(time)
            where device_id = \(deviceID) and (last_seen_at is null or last_seen_at < \(time) - interval '1 minute')
            """, logger: logger)
    }

    /// The devices enrolled for a unit, newest first (revoked ones included).
    public func devices(unitID: String) async throws -> [CrewDevice] {
        let rows = try await client.query(
            """
            select device_id, unit_id, zone, enrolled_by, enrolled_at, last_seen_at, revoked_at from crew_devices
            where unit_id = \(unitID) order by enrolled_at desc limit 50
            """, logger: logger)
        var devices: [CrewDevice] = []
        for try await row in rows.decode((String, String, String, String, Date, Date?, Date?).self) {
            devices.append(
                CrewDevice(
                    device_id: row.0, unit_id: row.1, zone: row.2, enrolled_by: row.3, enrolled_at: row.4,
                    last_seen_at: row.5, revoked_at: row.6))
        }
        return devices
    }

    /// Revokes a device of one of `zones`; false when there is no such device there.
    public func revoke(deviceID: String, zones: [String], by operatorID: String) async throws -> Bool {
        let rows = try await client.query(
            """
            update crew_devices set revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, \(operatorID))
            where device_id = \(deviceID) and zone = any(\(zones)) returning device_id
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    // MARK: - The crew's actions

    /// A crew action already claimed under its id: by which device, its unit event as first built,
    /// and whether the broker took it.
    public struct ClaimedAction: Sendable {
        public var deviceID: String
        public var unitID: String
        public var event: [UInt8]?
        public var sent: Bool
    }

    /// The action claimed under this id before (a resend, or a request racing this one), if any.
    public func claimedAction(_ eventID: UUID) async throws -> ClaimedAction? {
        let rows = try await client.query(
            "select device_id, unit_id, event, sent from crew_actions where event_id = \(eventID)", logger: logger)
        for try await (device, unit, event, sent) in rows.decode((String, String, ByteBuffer?, Bool).self) {
            return ClaimedAction(
                deviceID: device, unitID: unit, event: event.map { Array($0.readableBytesView) }, sent: sent)
        }
        return nil
    }

    /// Claims an action's id with the unit event it will send: false if the id was claimed already
    /// (the caller then sends what the first claim stored).
    public func claimAction(
        eventID: UUID, deviceID: String, unitID: String, action: String, caseID: UUID?, event: [UInt8], at time: Date
    ) async throws -> Bool {
        let rows = try await client.query(
            """
            insert into crew_actions (event_id, device_id, unit_id, action, case_id, accepted_at, event, sent)
            values (\(eventID), \(deviceID), \(unitID), \(action), \(caseID), \(time), \(ByteBuffer(bytes: event)), false)
            on conflict do nothing returning 1
            """, logger: logger)
        for try await _ in rows.decode(Int32.self) { return true }
        return false
    }

    /// The broker took the action's event.
    public func actionSent(_ eventID: UUID) async throws {
        try await client.query("update crew_actions set sent = true where event_id = \(eventID)", logger: logger)
    }

    /// A case's unit and whether it is open (nil: no such case).
    public func caseHolder(_ caseID: UUID) async throws -> (unitID: String?, open: Bool)? {
        let rows = try await client.query(
            "select unit_id, open from cases where case_id = \(caseID)", logger: logger)
        for try await (unitID, open) in rows.decode((String?, Bool).self) { return (unitID, open) }
        return nil
    }

    /// The unit's open case, if it has one.
    public func openCase(ofUnit unitID: String) async throws -> UUID? {
        let rows = try await client.query(
            "select case_id from cases where unit_id = \(unitID) and open limit 1", logger: logger)
        for try await caseID in rows.decode(UUID.self) { return caseID }
        return nil
    }

    /// What the crew app shows: the unit and its open case (where, who needs what, the beds held,
    /// the last entries of its timeline), as JSON. A bed's shelter is named from `names`.
    public func assignment(unitID: String, names: ShelterNames = ShelterNames([])) async throws -> String {
        let rows = try await client.query(
            """
            select json_build_object(
                'unit', (select json_build_object(
                            'unit_id', u.unit_id, 'zone', u.zone, 'status', u.status, 'version', u.version,
                            'position', json_build_object('lat', u.lat, 'lon', u.lon), 'reported_at', u.reported_at)
                         from units u where u.unit_id = \(unitID)),
                'case', (select json_build_object(
                            'case_id', c.case_id, 'zone', c.zone, 'category', c.category, 'priority', c.priority,
                            'status', c.status, 'opened_at', c.opened_at, 'reported_at', f.reported_at,
                            'location', json_build_object('lat', c.location_lat, 'lon', c.location_lon),
                            'required_skills', c.triage->'required_skills', 'bed_type', c.bed_type,
                            'shelter_need', c.triage->'shelter_need',
                            'beds', coalesce((
                                select json_agg(json_build_object(
                                    'shelter_id', h.shelter_id, 'bed_type', h.bed_type, 'beds', h.beds,
                                    'name_fr', n.name_fr, 'name_ar', n.name_ar,
                                    'admitted', h.action = 'admit',
                                    'position', json_build_object('lat', b.lat, 'lon', b.lon),
                                    'confidential', coalesce((p.profile->>'confidential_address')::boolean, false))
                                    order by h.shelter_id)
                                from (
                                    select distinct on (l.shelter_id) l.shelter_id, l.bed_type, l.beds, l.action
                                    from bed_ledger l where l.case_id = c.case_id order by l.shelter_id, l.entry_id desc
                                ) h
                                left join lateral (
                                    select sb.lat, sb.lon from shelter_beds sb where sb.shelter_id = h.shelter_id limit 1
                                ) b on true
                                left join shelter_profiles p on p.shelter_id = h.shelter_id
                                left join unnest(\(names.ids)::text[], \(names.french)::text[], \(names.arabic)::text[])
                                    as n(shelter_id, name_fr, name_ar) on n.shelter_id = h.shelter_id
                                where h.action in ('hold', 'admit')), '[]'::json),
                            'timeline', (
                                select coalesce(json_agg(json_build_object('at', t.at, 'status', t.status) order by t.entry_id), '[]'::json)
                                from (select entry_id, at, status from case_timeline
                                      where case_id = c.case_id order by entry_id desc limit 15) t))
                         from cases c join report_facts f using (report_id)
                         where c.unit_id = \(unitID) and c.open
                         order by c.opened_at desc limit 1)
            )::text
            """, logger: logger)
        for try await text in rows.decode(String.self) { return text }
        return "{}"
    }

    /// The report's place, notes and person for the crew assigned to the case (a logged read),
    /// as JSON; nil when the device's unit does not have the case.
    public func caseReport(caseID: UUID, deviceID: String) async throws -> String? {
        let rows = try await client.query(
            "select samu_read_crew_case(\(caseID), \(deviceID))::text", logger: logger)
        for try await text in rows.decode(String?.self) { return text }
        return nil
    }

    // MARK: - Shelters

    /// A shelter's stored counts, position and version.
    public func shelter(_ shelterID: String) async throws -> ShelterRow? {
        try await shelter(shelterID, on: .pool(client))
    }

    func shelter(_ shelterID: String, on reader: Reader) async throws -> ShelterRow? {
        let rows = try await reader.query(
            """
            select zone, lat, lon, version, bed_type, capacity, occupied from shelter_beds
            where shelter_id = \(shelterID) order by bed_type
            """, logger: logger)
        var row: ShelterRow?
        for try await (zone, lat, lon, version, bed, capacity, occupied) in rows.decode(
            (String, Double, Double, Int64, String, Int32, Int32).self)
        {
            var current =
                row
                ?? ShelterRow(
                    shelterID: shelterID, zone: zone, latitude: lat, longitude: lon, version: version, beds: [:])
            current.version = max(current.version, version)
            current.beds[bed] = (Int(capacity), Int(occupied))
            row = current
        }
        return row
    }

    /// What the shelter page shows for these shelters, as JSON: counts by bed type (with samu's
    /// holds), when they were last reported, who the shelter takes in, and the people samu sends
    /// (bed type, beds, the crew and where it is; no personal notes).
    public func shelterBoard(_ shelterIDs: [String]) async throws -> String {
        let rows = try await client.query(
            """
            select coalesce(json_agg(s order by s.shelter_id), '[]'::json)::text from (
                select b.shelter_id, min(b.zone) as zone, max(b.version) as version, max(b.reported_at) as reported_at,
                       json_build_object('lat', min(b.lat), 'lon', min(b.lon)) as position,
                       json_object_agg(b.bed_type, json_build_object(
                           'capacity', b.capacity, 'occupied', b.occupied, 'held', b.held)) as beds,
                       (select p.profile from shelter_profiles p where p.shelter_id = b.shelter_id) as profile,
                       (select coalesce(json_agg(json_build_object(
                                   'case_id', h.case_id, 'bed_type', h.bed_type, 'beds', h.beds, 'held_at', h.at,
                                   'priority', c.priority, 'case_status', c.status, 'unit_id', c.unit_id,
                                   'unit_status', u.status,
                                   'unit_position', case when u.unit_id is null then null
                                                    else json_build_object('lat', u.lat, 'lon', u.lon) end)
                                   order by h.at), '[]'::json)
                        from (
                            select distinct on (l.case_id) l.case_id, l.bed_type, l.beds, l.action, l.at
                            from bed_ledger l where l.shelter_id = b.shelter_id
                              and l.at > now() - interval '2 days'
                            order by l.case_id, l.entry_id desc
                        ) h
                        join cases c on c.case_id = h.case_id
                        left join units u on u.unit_id = c.unit_id
                        where h.action = 'hold') as incoming
                from shelter_beds b where b.shelter_id = any(\(shelterIDs))
                group by b.shelter_id
            ) s
            """, logger: logger)
        for try await text in rows.decode(String.self) { return text }
        return "[]"
    }

    /// The beds a case holds at a shelter now (nil: it holds none there).
    /// What the shelter page sent last for a shelter: its counts, version, and the people it
    /// admitted or declined in it. Until the worker stores a newer version, the next change is made
    /// on these counts, not on the stored ones, so that two changes a moment apart do not undo
    /// each other.
    public struct SentShelterReport: Sendable {
        public var version: Int64
        public var beds: [String: (capacity: Int, occupied: Int)]
        public var cases: Set<UUID>

        public init(version: Int64, beds: [String: (capacity: Int, occupied: Int)], cases: Set<UUID>) {
            self.version = version
            self.beds = beds
            self.cases = cases
        }
    }

    /// Runs `body` while no other change of this shelter from the page runs (a row lock held for
    /// the transaction), with the page's last report, and stores the report `body` sent, if any.
    public func changingShelter<Result: Sendable>(
        _ shelterID: String,
        _ body:
            @Sendable (_ lastSent: SentShelterReport?, _ reads: ShelterReads) async throws -> (
                Result, SentShelterReport?
            )
    ) async throws -> Result {
        do {
            return try await changingShelter(shelterID, body: body)
        } catch let error as PostgresTransactionError {
            // The change's own error (a stale action, the broker down) as it was thrown.
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    func changingShelter<Result: Sendable>(
        _ shelterID: String,
        body:
            @Sendable (_ lastSent: SentShelterReport?, _ reads: ShelterReads) async throws -> (
                Result, SentShelterReport?
            )
    ) async throws -> Result {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "insert into shelter_page_reports (shelter_id) values (\(shelterID)) on conflict do nothing",
                logger: logger)
            let rows = try await connection.query(
                "select version, beds::text, cases from shelter_page_reports where shelter_id = \(shelterID) for update",
                logger: logger)
            var last: SentShelterReport?
            for try await (version, bedsText, cases) in rows.decode((Int64, String, [UUID]).self) where version > 0 {
                var beds: [String: (capacity: Int, occupied: Int)] = [:]
                if case .object(let object)? = try? JSONParser.parse(bedsText) {
                    for entry in object.entries {
                        guard case .array(let pair) = entry.value, pair.count == 2,
                            let capacity = pair[0].integerValue, let occupied = pair[1].integerValue
                        else { continue }
                        beds[entry.key] = (Int(capacity), Int(occupied))
                    }
                }
                last = SentShelterReport(version: version, beds: beds, cases: Set(cases))
            }
            let (result, sent) = try await body(last, ShelterReads(repository: self, connection: connection))
            if let sent {
                var object = JSONObject()
                for (bed, count) in sent.beds.sorted(by: { $0.key < $1.key }) {
                    object.append(bed, .array([.integer(Int64(count.capacity)), .integer(Int64(count.occupied))]))
                }
                try await connection.query(
                    """
                    update shelter_page_reports set version = \(sent.version),
                        beds = \(JSONValue.object(object).serialized)::jsonb, cases = \(Array(sent.cases))
                    where shelter_id = \(shelterID)
                    """, logger: logger)
            }
            return result
        }
    }

    /// What a shelter's change reads, on the connection of the transaction that holds its lock.
    /// Never from the pool: a change waiting for a second connection while holding one would, with
    /// a few changes at once, leave none free for anyone (the pool's connections all held by
    /// changes each waiting for another).
    public struct ShelterReads: Sendable {
        let repository: CrewRepository
        let connection: PostgresConnection

        public func shelter(_ shelterID: String) async throws -> ShelterRow? {
            try await repository.shelter(shelterID, on: .connection(connection))
        }

        public func admitted(caseID: UUID, shelterID: String) async throws -> Bool {
            try await repository.admitted(caseID: caseID, shelterID: shelterID, on: .connection(connection))
        }

        public func heldBeds(caseID: UUID, shelterID: String) async throws -> (bedType: String, beds: Int)? {
            try await repository.heldBeds(caseID: caseID, shelterID: shelterID, on: .connection(connection))
        }

        /// The change claimed before under this id, if any: by whom, for which shelter, its
        /// version and event, and whether the broker took it.
        public func claimedChange(_ eventID: UUID) async throws -> ClaimedShelterChange? {
            let rows = try await connection.query(
                "select operator_id, shelter_id, version, event, sent from shelter_changes where event_id = \(eventID)",
                logger: repository.logger)
            for try await (operatorID, shelterID, version, event, sent) in rows.decode(
                (String, String, Int64, ByteBuffer, Bool).self)
            {
                return ClaimedShelterChange(
                    operatorID: operatorID, shelterID: shelterID, version: version,
                    event: Array(event.readableBytesView), sent: sent)
            }
            return nil
        }

        /// Claims a change's id with the event it will send, in the transaction that holds the
        /// shelter's lock (so a retry of it waits for this claim and finds it).
        public func claimChange(
            _ eventID: UUID, operatorID: String, shelterID: String, version: Int64, event: [UInt8]
        ) async throws {
            try await connection.query(
                """
                insert into shelter_changes (event_id, operator_id, shelter_id, version, event)
                values (\(eventID), \(operatorID), \(shelterID), \(version), \(ByteBuffer(bytes: event)))
                """, logger: repository.logger)
        }
    }

    /// A shelter page's change claimed under the id its page made.
    public struct ClaimedShelterChange: Sendable {
        public var operatorID: String
        public var shelterID: String
        public var version: Int64
        public var event: [UInt8]
        public var sent: Bool
    }

    /// The broker took the change claimed under this id: a retry of it sends nothing again.
    public func shelterChangeSent(_ eventID: UUID) async throws {
        try await client.query("update shelter_changes set sent = true where event_id = \(eventID)", logger: logger)
    }

    /// The page's report of this version was not sent: the next change starts from the stored
    /// counts again (unless a later report, made on this one and carrying it, replaced it).
    public func forgetShelterReport(_ shelterID: String, version: Int64) async throws {
        try await client.query(
            """
            update shelter_page_reports set version = 0, beds = '{}', cases = '{}'
            where shelter_id = \(shelterID) and version = \(version)
            """, logger: logger)
    }

    /// Whether the case's person was admitted at this shelter (its last entry there).
    public func admitted(caseID: UUID, shelterID: String) async throws -> Bool {
        try await admitted(caseID: caseID, shelterID: shelterID, on: .pool(client))
    }

    func admitted(caseID: UUID, shelterID: String, on reader: Reader) async throws -> Bool {
        let rows = try await reader.query(
            """
            select action from bed_ledger where case_id = \(caseID) and shelter_id = \(shelterID)
            order by entry_id desc limit 1
            """, logger: logger)
        for try await action in rows.decode(String.self) { return action == "admit" }
        return false
    }

    public func heldBeds(caseID: UUID, shelterID: String) async throws -> (bedType: String, beds: Int)? {
        try await heldBeds(caseID: caseID, shelterID: shelterID, on: .pool(client))
    }

    func heldBeds(caseID: UUID, shelterID: String, on reader: Reader) async throws -> (bedType: String, beds: Int)? {
        let rows = try await reader.query(
            """
            select bed_type, beds, action from bed_ledger where case_id = \(caseID) and shelter_id = \(shelterID)
            order by entry_id desc limit 1
            """, logger: logger)
        for try await (bed, beds, action) in rows.decode((String, Int32, String).self) {
            return action == "hold" ? (bed, Int(beds)) : nil
        }
        return nil
    }
}
