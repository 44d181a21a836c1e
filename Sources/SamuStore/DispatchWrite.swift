import Foundation
import Logging
import PostgresNIO
import SamuModel

/// Everything one batch of events changed, written in one transaction: the inbox rows (so a
/// redelivered event changes nothing), new reports and cases, decisions, assignments, case state,
/// the timeline, the bed ledger, follow-ups, the latest unit and bed state, and the outbox.
public struct DispatchWrite: Sendable {
    public struct Processed: Sendable {
        public var eventID: UUID
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        /// The SHA-256 of the event's payload, in hexadecimal (empty when unknown).
        public var digest: String

        public init(eventID: UUID, topic: String, partition: Int32, offset: Int64, digest: String = "") {
            self.eventID = eventID
            self.topic = topic
            self.partition = partition
            self.offset = offset
            self.digest = digest
        }
    }

    public struct NewCase: Sendable {
        public var report: AcceptedReport
        public var caseID: UUID
        public var triage: TriageDecision

        public init(report: AcceptedReport, caseID: UUID, triage: TriageDecision) {
            self.report = report
            self.caseID = caseID
            self.triage = triage
        }
    }

    public struct Decision: Sendable {
        public var decisionID: UUID
        public var caseID: UUID
        public var zone: String
        public var kind: String
        public var priority: Priority
        public var unitID: String?
        public var shelterID: String?
        public var bedType: BedType
        public var rulesVersion: String
        public var reason: String
        public var operatorID: String?
        public var operatorReason: String?
        /// The decision record as JSON text.
        public var record: String
        public var at: Date

        public init(
            decisionID: UUID, caseID: UUID, zone: String, kind: String, priority: Priority, unitID: String?,
            shelterID: String?, bedType: BedType, rulesVersion: String, reason: String, operatorID: String?,
            operatorReason: String?, record: String, at: Date
        ) {
            self.decisionID = decisionID
            self.caseID = caseID
            self.zone = zone
            self.kind = kind
            self.priority = priority
            self.unitID = unitID
            self.shelterID = shelterID
            self.bedType = bedType
            self.rulesVersion = rulesVersion
            self.reason = reason
            self.operatorID = operatorID
            self.operatorReason = operatorReason
            self.record = record
            self.at = at
        }
    }

    /// The state of a case after the batch (the last change wins).
    public struct CaseState: Sendable {
        public var status: CaseStatus
        public var unitID: String?
        public var resolution: Resolution?

        public init(status: CaseStatus, unitID: String?, resolution: Resolution?) {
            self.status = status
            self.unitID = unitID
            self.resolution = resolution
        }
    }

    public struct TimelineEntry: Sendable {
        public var caseID: UUID
        public var status: String
        public var actor: String
        /// JSON text.
        public var detail: String
        public var at: Date
    }

    public struct LedgerEntry: Sendable {
        public var shelterID: String
        public var bedType: BedType
        public var caseID: UUID
        public var action: BedLedgerAction
        public var reason: String
        /// Beds the entry is about (one per person of the case at that shelter).
        public var beds: Int
        public var at: Date
    }

    public struct UnitRow: Sendable {
        public var unitID: String
        public var zone: String
        public var update: UnitUpdate
        public var skills: [String]
        public var caseID: UUID?
        public var at: Date
    }

    public struct BedRow: Sendable {
        public var shelterID: String
        public var zone: String
        public var bedType: BedType
        public var capacity: Int
        public var occupied: Int
        public var held: Int
        public var position: GeoPoint
        public var version: Int64
        public var at: Date
    }

    public var processed: [Processed] = []
    public var newCases: [NewCase] = []
    public var decisions: [Decision] = []
    /// Assignments started in this batch: (case, unit, decision, time).
    public var assignmentsStarted: [(caseID: UUID, unitID: String, decisionID: UUID, at: Date)] = []
    /// Cases whose active assignment (from an earlier batch or this one) ends.
    public var assignmentsEnded: Set<UUID> = []
    public var cases: [UUID: CaseState] = [:]
    public var timeline: [TimelineEntry] = []
    public var ledger: [LedgerEntry] = []
    public var followUps: [(caseID: UUID, zone: String, resolution: Resolution, at: Date, task: FollowUpTask)] = []
    public var units: [String: UnitRow] = [:]
    public var beds: [String: BedRow] = [:]
    /// Mutual-aid exchanges whose side's state changed, by request and side (the last state).
    public var exchanges: [String: AidExchange] = [:]
    /// Shelters' profiles (who they take in) reported in the batch, by shelter.
    public var profiles: [String: (zone: String, profile: ShelterProfile, version: Int64)] = [:]
    public var outbox: [OutboxRecord] = []
    /// The lease epoch the writer holds for each zone the batch touches: the write is refused if
    /// another worker has taken one of these zones since (a fencing token).
    public var leases: [String: Int64] = [:]
    /// Outbox rows the relay has delivered since the last write: marked published in this commit.
    public var published: [UUID] = []

    public init() {}

    /// Child-protection referrals opened with their case: due for acknowledgement at `due`.
    public var referrals: [(caseID: UUID, zone: String, plan: ReferralPlan, at: Date, due: Date)] = []

    /// Case work (social path steps, follow-up tasks taken and done): written only for a case the
    /// database has, so that an unknown case id holds nothing back.
    public var caseWork: [(caseID: UUID, kind: TimelineEntryKind, operatorID: String, detail: JSONValue, at: Date)] = []

    public var isEmpty: Bool {
        processed.isEmpty && newCases.isEmpty && decisions.isEmpty && cases.isEmpty && timeline.isEmpty
            && ledger.isEmpty && units.isEmpty && beds.isEmpty && outbox.isEmpty && followUps.isEmpty
            && caseWork.isEmpty && referrals.isEmpty && profiles.isEmpty && exchanges.isEmpty
    }

    /// A case's move to a status, in its timeline.
    public mutating func addTimeline(_ caseID: UUID, status: CaseStatus, actor: String, detail: JSONValue, at: Date) {
        addTimeline(caseID, status: status, actor: actor, detailText: detail.serialized, at: at)
    }

    /// A case's move to a status, its detail already JSON text.
    public mutating func addTimeline(
        _ caseID: UUID, status: CaseStatus, actor: String, detailText: String, at: Date
    ) {
        timeline.append(
            TimelineEntry(caseID: caseID, status: status.rawValue, actor: actor, detail: detailText, at: at))
    }

    /// An entry of a case's timeline that is not a move to a status.
    public mutating func addTimeline(
        _ caseID: UUID, entry: TimelineEntryKind, actor: String, detail: JSONValue, at: Date
    ) {
        timeline.append(
            TimelineEntry(caseID: caseID, status: entry.rawValue, actor: actor, detail: detail.serialized, at: at))
    }

    public mutating func addLedger(
        _ shelterID: String, _ bedType: BedType, _ caseID: UUID, action: BedLedgerAction, reason: String,
        beds: Int = 1, at: Date
    ) {
        ledger.append(
            LedgerEntry(
                shelterID: shelterID, bedType: bedType, caseID: caseID, action: action, reason: reason, beds: beds,
                at: at))
    }

    public mutating func setUnit(_ update: UnitUpdate, zone: String, caseID: UUID?, at: Date) {
        let skills = (update.skills ?? units[update.unitID]?.update.skills ?? []).sorted().map(\.rawValue)
        units[update.unitID] = UnitRow(
            unitID: update.unitID, zone: zone, update: update, skills: skills, caseID: caseID, at: at)
    }

    public mutating func setBeds(
        _ shelterID: String, zone: String, bedType: BedType, count: BedCount, held: Int, position: GeoPoint,
        version: Int64, at: Date
    ) {
        beds["\(shelterID)/\(bedType.rawValue)"] = BedRow(
            shelterID: shelterID, zone: zone, bedType: bedType, capacity: count.capacity, occupied: count.occupied,
            held: held, position: position, version: version, at: at)
    }
}

/// The write was refused: one of the batch's events was processed before (a redelivery, or a
/// producer's retry). Nothing was written.
public struct AlreadyProcessed: Error, Sendable, CustomStringConvertible {
    public var description: String { "an event of the batch was processed before" }
}

/// The write was refused: another worker holds a newer lease on these zones.
public struct ZoneFenced: Error, Sendable, CustomStringConvertible {
    public var zones: [String]
    public var description: String { "zones taken over by another worker: \(zones.joined(separator: ", "))" }
}

extension SamuStore {
    /// Takes the lease of these zones for `owner`: each zone's epoch goes up by one, so that a
    /// previous owner's writes are refused from now on. Returns the new epochs.
    public func takeLeases(_ zones: [String], owner: String) async throws -> [String: Int64] {
        if zones.isEmpty { return [:] }
        let rows = try await client.query(
            """
            insert into zone_leases (zone, epoch, owner, taken_at)
            select z, 1, \(owner), now() from unnest(\(zones)::text[]) as t(z)
            on conflict (zone) do update set epoch = zone_leases.epoch + 1, owner = excluded.owner, taken_at = now()
            returning zone, epoch
            """, logger: logger)
        var epochs: [String: Int64] = [:]
        for try await (zone, epoch) in rows.decode((String, Int64).self) { epochs[zone] = epoch }
        return epochs
    }

    /// Which worker holds each zone's lease.
    public func leaseOwners() async throws -> [String: String] {
        let rows = try await client.query("select zone, owner from zone_leases", logger: logger)
        var owners: [String: String] = [:]
        for try await (zone, owner) in rows.decode((String, String).self) { owners[zone] = owner }
        return owners
    }

    /// A topic's outbox rows in commit order, each with its case id: the order in
    /// which a case's outcomes must reach the topic.
    public func outboxOrder(topic: String) async throws -> [(key: String, id: UUID)] {
        let rows = try await client.query(
            """
            select payload::jsonb ->> 'case_id', outbox_id from outbox
            where topic = \(topic) and payload::jsonb ? 'case_id' order by seq
            """, logger: logger)
        var order: [(key: String, id: UUID)] = []
        for try await (caseID, id) in rows.decode((String, UUID).self) { order.append((caseID, id)) }
        return order
    }

    /// The events among these that were processed before (the inbox), with the SHA-256 of the
    /// payload processed then (hexadecimal; empty for events processed before digests were kept).
    public func alreadyProcessed(_ eventIDs: [UUID]) async throws -> [UUID: String] {
        if eventIDs.isEmpty { return [:] }
        let rows = try await client.query(
            """
            select event_id, coalesce(encode(payload_sha256, 'hex'), '') from processed_events
            where event_id = any(\(eventIDs))
            """, logger: logger)
        var found: [UUID: String] = [:]
        for try await (id, digest) in rows.decode((UUID, String).self) { found[id] = digest }
        return found
    }

    /// Keeps a dead letter the broker refused (too large, or refused by the topic) in PostgreSQL,
    /// so that its partition can move on; parking the same one again changes nothing.
    public func park(
        deadLetter id: UUID, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64, reason: String,
        document: String, error: String
    ) async throws {
        // What samu refused may name a key or carry text with U+0000 (the reason it was refused),
        // which PostgreSQL refuses in jsonb and text: parked with U+FFFD instead, so that parking
        // never fails for good and holds its partition back.
        let document = (try? JSONParser.parse(document)).map { $0.replacingNUL().serialized } ?? document
        let reason = reason.replacingNUL()
        let error = error.replacingNUL()
        try await client.query(
            """
            insert into parked_dead_letters (dead_letter_id, source_topic, source_partition, source_offset, reason,
                                             dead_letter, error)
            values (\(id), \(sourceTopic), \(sourcePartition), \(sourceOffset), \(reason), \(document)::jsonb, \(error))
            on conflict (dead_letter_id) do nothing
            """, logger: logger)
    }

    /// How many dead letters are parked in PostgreSQL (an alert when above zero).
    public func parkedDeadLetterCount() async throws -> Int {
        let rows = try await client.query("select count(*)::int8 from parked_dead_letters", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// Writes a batch in one transaction and one round trip (`samu_write_batch`, migration 7);
    /// returns the outbox rows to publish (those not already in the outbox).
    ///
    /// - Throws: ``ZoneFenced`` when another worker took one of the batch's zones, and
    ///   ``AlreadyProcessed`` when one of its events was processed before; nothing is written then.
    public func write(_ batch: DispatchWrite) async throws -> [OutboxRecord] {
        if batch.isEmpty && batch.published.isEmpty { return [] }
        return try await write(Self.encode(batch), published: batch.published)
    }

    /// Encodes a batch's rows for ``write(_:published:)``: the worker does it while the previous
    /// batch's write runs, so that the database's turn starts with the rows ready.
    public static func encode(_ batch: DispatchWrite) -> EncodedWrite {
        EncodedWrite(binds: batchHead(batch).binds, outbox: batch.outbox, isEmpty: batch.isEmpty)
    }

    /// Writes an encoded batch with the relay's "published" marks (rows delivered since the last
    /// write): one transaction, one round trip. Returns the outbox rows to publish (those not
    /// already in the outbox).
    ///
    /// - Throws: ``ZoneFenced`` when another worker took one of the batch's zones, and
    ///   ``AlreadyProcessed`` when one of its events was processed before; nothing is written then.
    public func write(_ encoded: EncodedWrite, published: [UUID]) async throws -> [OutboxRecord] {
        if encoded.isEmpty && published.isEmpty { return [] }
        var binds = encoded.binds
        binds.append(published)
        binds.append(Date())
        do {
            let rows = try await client.execute(WriteBatchStatement(binds: binds), logger: logger)
            var created = Set<UUID>()
            for try await id in rows { created.insert(id) }
            let outbox = encoded.outbox
            return created.count == outbox.count ? outbox : outbox.filter { created.contains($0.id) }
        } catch let error as PSQLError {
            switch error.serverInfo?[.sqlState] {
            case "SM001":
                let zones = (error.serverInfo?[.detail] ?? "").split(separator: ",").map(String.init)
                throw ZoneFenced(zones: zones)
            case "SM002": throw AlreadyProcessed()
            default: throw error
            }
        }
    }

    /// The batch write as a prepared statement: its text is the same for every batch (only the
    /// bound arrays differ), so each connection parses and plans it once. The last two parameters
    /// are the relay's marks and the time, bound when the write starts.
    struct WriteBatchStatement: PostgresPreparedStatement {
        typealias Row = UUID
        static let name = "samu_write_batch_v15"
        static let sql: String = {
            let head = SamuStore.batchHead(DispatchWrite())
            let count = head.binds.count
            return head.sql + " $\(count + 1)::uuid[], $\(count + 2)::timestamptz)"
        }()
        let binds: PostgresBindings

        func makeBindings() throws -> PostgresBindings { binds }
        func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
    }

    /// `samu_write_batch`'s call with every parameter but the last two (the relay's marks and the
    /// time), its text ending with the comma after the outbox rows' areas.
    static func batchHead(_ batch: DispatchWrite) -> PostgresQuery {
        let p = batch.processed
        let c = batch.newCases
        let r = c.map(\.report)
        let d = batch.decisions
        let ended = Array(batch.assignmentsEnded)
        // Only the last assignment of a case in the batch stays active (if it did not end).
        var lastIndex: [UUID: Int] = [:]
        for (index, row) in batch.assignmentsStarted.enumerated() { lastIndex[row.caseID] = index }
        let a = batch.assignmentsStarted
        let active = a.indices.map {
            lastIndex[a[$0].caseID] == $0 && batch.cases[a[$0].caseID]?.unitID == a[$0].unitID
        }
        // A new case is inserted in its final state; only earlier cases are updated.
        let newIDs = Set(c.map(\.caseID))
        let final = c.map {
            batch.cases[$0.caseID] ?? DispatchWrite.CaseState(status: .triaged, unitID: nil, resolution: nil)
        }
        let sIDs = batch.cases.keys.filter { !newIDs.contains($0) }
        let s = sIDs.map { batch.cases[$0]! }
        let t = batch.timeline
        let g = batch.ledger
        let f = batch.followUps
        let caseWorkJSON = JSONValue.array(
            batch.caseWork.enumerated().map { index, row in
                [
                    "c": .string(row.caseID.lowercased), "k": .string(row.kind.rawValue), "o": .string(row.operatorID),
                    "d": row.detail, "at": .string(RFC3339.format(row.at)), "n": .integer(Int64(index)),
                ]
            }
        ).serialized
        let referralsJSON = JSONValue.array(
            batch.referrals.map { row in
                [
                    "c": .string(row.caseID.lowercased), "z": .string(row.zone),
                    "dest": .string(row.plan.destination.rawValue), "rule": .string(row.plan.rule),
                    "opened": .string(RFC3339.format(row.at)), "due": .string(RFC3339.format(row.due)),
                ]
            }
        ).serialized
        let profilesJSON = JSONValue.array(
            batch.profiles.sorted { $0.key < $1.key }.map { shelterID, row in
                [
                    "s": .string(shelterID), "z": .string(row.zone), "p": row.profile.json,
                    "v": .integer(row.version),
                ]
            }
        ).serialized
        let exchangesJSON = JSONValue.array(
            batch.exchanges.keys.sorted().compactMap { batch.exchanges[$0] }.map { row in
                [
                    "r": .string(row.requestID.lowercased), "s": .string(row.side.rawValue), "a": .string(row.area),
                    "p": .string(row.peerArea), "c": .string(row.caseID.lowercased),
                    "u": row.unitID.map { .string($0) } ?? .null, "st": .string(row.status.rawValue),
                ]
            }
        ).serialized
        let u = Array(batch.units.values)
        let b = Array(batch.beds.values)
        let o = batch.outbox
        let zones = Array(batch.leases.keys)
        let epochs = zones.map { batch.leases[$0]! }
        return """
            select * from samu_write_batch(
                \(zones)::text[], \(epochs)::int8[],
                \(p.map(\.eventID))::uuid[], \(p.map(\.topic))::text[], \(p.map(\.partition))::int4[], \(p.map(\.offset))::int8[],
                \(p.map(\.digest))::text[],
                \(r.map(\.report.id))::uuid[], \(r.map(\.report.zone))::text[], \(r.map(\.report.category.rawValue))::text[],
                \(r.map(\.report.reportedAt))::timestamptz[], \(r.map { $0.payload ?? $0.report.document.serialized })::text[],
                \(r.map(\.sourceTopic))::text[], \(r.map(\.sourcePartition))::int4[], \(r.map(\.sourceOffset))::int8[],
                \(c.map(\.caseID))::uuid[], \(c.map(\.triage.priority.code))::text[], \(c.map(\.triage.bedType.rawValue))::text[],
                \(c.map { triageText($0.triage) })::text[],
                \(r.map(\.report.location.latitude))::float8[], \(r.map(\.report.location.longitude))::float8[],
                \(final.map(\.status.rawValue))::text[], \(final.map { $0.unitID ?? "" })::text[],
                \(final.map { $0.resolution?.rawValue ?? "" })::text[],
                \(d.map(\.decisionID))::uuid[], \(d.map(\.caseID))::uuid[], \(d.map(\.zone))::text[], \(d.map(\.kind))::text[],
                \(d.map(\.priority.code))::text[], \(d.map { $0.unitID ?? "" })::text[], \(d.map { $0.shelterID ?? "" })::text[],
                \(d.map(\.bedType.rawValue))::text[], \(d.map(\.rulesVersion))::text[], \(d.map(\.reason))::text[],
                \(d.map { $0.operatorID ?? "" })::text[], \(d.map { $0.operatorReason ?? "" })::text[],
                \(d.map(\.record))::text[], \(d.map(\.at))::timestamptz[],
                \(ended)::uuid[],
                \(a.map(\.caseID))::uuid[], \(a.map(\.unitID))::text[], \(a.map(\.decisionID))::uuid[], \(active)::bool[],
                \(a.map(\.at))::timestamptz[],
                \(sIDs)::uuid[], \(s.map(\.status.rawValue))::text[], \(s.map { $0.unitID ?? "" })::text[],
                \(s.map { $0.resolution?.rawValue ?? "" })::text[],
                \(t.map(\.caseID))::uuid[], \(t.map(\.at))::timestamptz[], \(t.map(\.status))::text[], \(t.map(\.actor))::text[],
                \(t.map(\.detail))::text[],
                \(g.map(\.shelterID))::text[], \(g.map(\.bedType.rawValue))::text[], \(g.map(\.caseID))::uuid[],
                \(g.map(\.action.rawValue))::text[], \(g.map(\.reason))::text[], \(g.map(\.at))::timestamptz[],
                \(g.map(\.beds))::int4[],
                \(f.map(\.caseID))::uuid[], \(f.map(\.zone))::text[], \(f.map(\.resolution.rawValue))::text[],
                \(f.map(\.at))::timestamptz[], \(f.map(\.task.kind.rawValue))::text[], \(f.map(\.task.due))::timestamptz[],
                \(caseWorkJSON)::jsonb, \(referralsJSON)::jsonb, \(profilesJSON)::jsonb, \(exchangesJSON)::jsonb,
                \(u.map(\.unitID))::text[], \(u.map(\.zone))::text[], \(u.map(\.update.status.rawValue))::text[],
                \(u.map { $0.skills.joined(separator: ",") })::text[], \(u.map(\.update.position.latitude))::float8[],
                \(u.map(\.update.position.longitude))::float8[], \(u.map(\.update.version))::int8[],
                \(u.map { $0.caseID?.lowercased ?? "" })::text[], \(u.map(\.at))::timestamptz[],
                \(b.map(\.shelterID))::text[], \(b.map(\.zone))::text[], \(b.map(\.bedType.rawValue))::text[],
                \(b.map(\.capacity))::int4[], \(b.map(\.occupied))::int4[], \(b.map(\.held))::int4[],
                \(b.map(\.position.latitude))::float8[], \(b.map(\.position.longitude))::float8[], \(b.map(\.version))::int8[],
                \(b.map(\.at))::timestamptz[],
                \(o.map(\.id))::uuid[], \(o.map(\.topic))::text[], \(o.map { $0.key ?? "" })::text[], \(o.map(\.payload))::text[],
                \(o.map(\.createdAt))::timestamptz[], \(o.map { $0.area ?? "" })::text[],
            """
    }

    /// Inserts outbox rows (a row already there is left alone); returns the rows inserted.
    static func insertOutbox(
        _ o: [OutboxRecord], connection: PostgresConnection, logger: Logger
    ) async throws -> [OutboxRecord] {
        if o.isEmpty { return [] }
        let rows = try await connection.query(
            """
            insert into outbox (outbox_id, topic, key, payload, created_at, record_time)
            select i, t, nullif(k, ''), p, c, case when r < '1900-01-01' then null else r end from unnest(\(o.map(\.id))::uuid[], \(o.map(\.topic))::text[],
                \(o.map { $0.key ?? "" })::text[], \(o.map(\.payload))::text[], \(o.map(\.createdAt))::timestamptz[],
                \(o.map { $0.recordTime ?? Date.distantPast })::timestamptz[])
                as x(i, t, k, p, c, r)
            on conflict (outbox_id) do nothing
            returning outbox_id, topic, key, payload, created_at, record_time, area
            """, logger: logger)
        var created: [OutboxRecord] = []
        for try await (id, topic, key, payload, createdAt, recordTime, area) in rows.decode(
            (UUID, String, String?, String, Date, Date?, String?).self)
        {
            created.append(
                OutboxRecord(
                    id: id, topic: topic, key: key, payload: payload, createdAt: createdAt,
                    recordTime: recordTime, area: area))
        }
        return created
    }

    /// Triage as stored with the case (and shown on the console), written straight into its text:
    /// this runs for every report. ``SamuStore/triage(from:)`` reads it back.
    public static func triageText(_ triage: TriageDecision) -> String {
        var writer = JSONWriter(capacity: 1024)
        writer.append("priority", triage.priority.code)
        writer.append("required_skills", strings: triage.requiredSkills.map(\.rawValue).sorted())
        writer.append("preferred_skills", strings: triage.preferredSkills.map(\.rawValue).sorted())
        writer.append("bed_type", triage.bedType.rawValue)
        writer.append("holds_bed", bool: triage.holdsBed)
        writer.append("notify", strings: triage.notify.map(\.rawValue).sorted())
        writer.append("minor", bool: triage.minor)
        if let referral = triage.referral {
            writer.append("referral") {
                $0.append("destination", referral.destination.rawValue)
                $0.append("deadline_minutes", integer: Int64(referral.deadlineMinutes))
                $0.append("rule", referral.rule)
            }
        } else {
            writer.appendNull("referral")
        }
        writer.append("rules_version", triage.rulesVersion)
        writer.append("shelter_need") { triage.shelterNeed.write(to: &$0) }
        writer.append("reasons", jsonTexts: triage.reasons.lazy.map(\.json))
        return writer.finished()
    }
}

extension SamuStore {
    /// Counts for the dispatch summary: cases by status and priority, decisions by kind, active
    /// assignments, held beds, follow-ups.
    public func dispatchSummary() async throws -> [String: Int] {
        var summary: [String: Int] = [:]
        let rows = try await client.query(
            """
            select 'cases.' || status || '.' || coalesce(priority, '-'), count(*)::int8 from cases group by 1
            union all select 'decisions.' || kind, count(*)::int8 from decisions group by 1
            union all select 'assignments.active', count(*)::int8 from assignments where active
            union all select 'beds.held', coalesce(sum(held), 0)::int8 from shelter_beds
            union all select 'beds.free', coalesce(sum(greatest(capacity - occupied - held, 0)), 0)::int8 from shelter_beds
            union all select 'units.known', count(*)::int8 from units
            union all select 'follow_ups', count(*)::int8 from follow_ups
            union all select 'follow_ups.open.' || kind, count(*)::int8 from follow_ups where done_at is null group by kind
            union all select 'follow_ups.overdue', count(*)::int8 from follow_ups where done_at is null and due_at < now()
            """, logger: logger)
        for try await (key, count) in rows.decode((String, Int64).self) { summary[key] = Int(count) }
        return summary
    }
}

/// A batch's rows encoded for `samu_write_batch` (``SamuStore/encode(_:)``), without the relay's
/// marks: what the worker prepares while the previous batch's write runs.
public struct EncodedWrite: Sendable {
    let binds: PostgresBindings
    /// The batch's outbox rows (those the write inserts are returned by it).
    public let outbox: [OutboxRecord]
    let isEmpty: Bool
}
