import Foundation
import Logging
import PostgresNIO
import SamuModel

/// What the console's board shows for a set of zones, read from what the worker committed.
public struct Board: Encodable, Sendable, Equatable {
    public struct Case: Encodable, Sendable, Equatable {
        public var case_id: String
        public var zone: String
        public var category: String
        public var priority: String?
        public var status: String
        public var opened_at: Date
        /// When the hotline took the call: the person has waited since then.
        public var reported_at: Date
        public var unit_id: String?
        public var bed_type: String?
        public var shelter_id: String?
        public var lat: Double?
        public var lon: Double?
        public var claimed_by: String?
        /// What the operator should check before trusting the report (``ReportFlag``).
        public var flags: [String] = []
    }

    public struct Unit: Encodable, Sendable, Equatable {
        public var unit_id: String
        public var zone: String
        public var status: String
        public var lat: Double
        public var lon: Double
        public var case_id: String?
        public var skills: [String]
        public var reported_at: Date
    }

    public struct Beds: Encodable, Sendable, Equatable {
        public var bed_type: String
        public var capacity: Int
        public var occupied: Int
        public var held: Int
        public var free: Int
    }

    public struct Shelter: Encodable, Sendable, Equatable {
        public var shelter_id: String
        public var zone: String
        public var lat: Double
        public var lon: Double
        public var reported_at: Date
        public var beds: [Beds]
        /// Who the shelter takes in, as it last declared (nil: never declared).
        public var profile: Profile? = nil
    }

    /// A shelter's profile as the board shows it.
    public struct Profile: Encodable, Sendable, Equatable {
        public var facility_type: String?
        public var sex: String
        public var age_min: Int?
        public var age_max: Int?
        public var wheelchair_access: Bool
        public var confidential_address: Bool

        init(_ profile: ShelterProfile) {
            facility_type = profile.facilityType
            sex = profile.sexes.rawValue
            age_min = profile.ageMin
            age_max = profile.ageMax
            wheelchair_access = profile.wheelchairAccess
            confidential_address = profile.confidentialAddress
        }
    }

    /// Tonight's unmet demand in one zone: cases waiting for a unit, active cases that need a bed
    /// and hold none, and cases closed tonight with no bed.
    public struct Unmet: Encodable, Sendable, Equatable {
        public var zone: String
        public var waiting_for_unit: Int
        public var waiting_for_bed: Int
        public var no_bed_tonight: Int
    }

    public internal(set) var generated_at: Date
    public internal(set) var zones: [String]
    public internal(set) var cases: [Case]
    public internal(set) var units: [Unit]
    public internal(set) var shelters: [Shelter]
    public internal(set) var unmet: [Unmet]
    /// Follow-up tasks still to do in the board's zones, the soonest due first (at most 200).
    public internal(set) var follow_ups: [FollowUp] = []
    /// Child-protection referrals not yet decided in the board's zones, the soonest due first (at
    /// most 200); `late`: unacknowledged past its deadline (escalated to the zone's supervisors).
    public internal(set) var referrals: [Referral] = []
    /// More open cases than the board shows (the most urgent and oldest 500 are shown).
    public var cases_truncated: Bool
    /// The last command each operator sent that the worker has applied or refused (for the page
    /// to tell an operator what became of an action).
    public var commands: [CommandResult]

    /// A task a case that ended without help left: a street re-visit or a day follow-up.
    public struct FollowUp: Encodable, Sendable, Equatable {
        public var case_id: String
        public var zone: String
        public var kind: String
        public var resolution: String
        public var due_at: Date
        /// `due_at` in Morocco's time, for the page.
        public var due_local: String
        public var assignee: String?
        /// Visits made that found the person refusing again or not at all.
        public var visits: Int
        /// Times help was refused: the case's own refusal and the re-visits'.
        public var refusals: Int
    }

    public struct Referral: Encodable, Sendable, Equatable {
        public var case_id: String
        public var zone: String
        public var destination: String
        public var status: String
        public var opened_at: Date
        public var due_at: Date
        public var due_local: String
        public var late: Bool
        /// When the worker escalated it to the zone's supervisors (unacknowledged at its deadline).
        public var escalated_at: Date?
    }

    public struct CommandResult: Encodable, Sendable, Equatable {
        public var event_id: String
        public var case_id: String
        public var command: String
        public var operator_id: String
        public var outcome: String
        public var rejection: String?
        public var at: Date
    }

    /// Everything except the time it was read: the page is sent a board only when this changed.
    public func sameContent(as other: Board) -> Bool {
        var copy = other
        copy.generated_at = generated_at
        return copy == self
    }
}

/// A case's detail: its timeline and its decision records (why this unit and this bed, the
/// candidates, the rules version).
/// One read of a case's personal data.
/// An open case near a call being taken (`GET /api/calls/nearby`): what tells the operator
/// whether the call is about the same person, without personal data.
public struct NearbyCase: Encodable, Sendable, Equatable {
    public var case_id: String
    public var zone: String
    public var category: String
    public var priority: String
    public var status: String
    public var opened_at: Date
    public var distance_m: Int
    public var unit_id: String?
    /// Calls already linked to the case.
    public var linked_calls: Int
    /// The same category as the call, or one a caller easily confuses with it.
    public var compatible: Bool
}

public struct PersonalDataRead: Encodable, Sendable {
    public var operator_id: String
    public var read_at: Date
}

public struct CaseDetail: Encodable, Sendable {
    public struct Entry: Encodable, Sendable {
        public var at: Date
        public var status: String
        public var actor: String
        public var detail: String
    }

    public struct Decision: Encodable, Sendable {
        public var decided_at: Date
        public var kind: String
        public var priority: String
        public var unit_id: String?
        public var shelter_id: String?
        public var bed_type: String
        public var rules_version: String
        public var reason: String
        public var operator_id: String?
        public var operator_reason: String?
        public var record: String
    }

    /// A step of the person's social path (Entraide Nationale's: reception, listening, diagnosis,
    /// orientation, follow-up): recorded by somebody, or read from the timeline (`recorded` false:
    /// the call received, the crew on scene, the case resolved, the follow-up done).
    public struct Step: Encodable, Sendable, Equatable {
        public var step: String
        public var at: Date
        public var by: String
        public var note: String?
        public var recorded: Bool
    }

    /// The task a case that ended without help left (`follow_ups`).
    public struct FollowUp: Encodable, Sendable, Equatable {
        public var kind: String
        public var resolution: String
        public var created_at: Date
        public var due_at: Date
        /// `due_at` in Morocco's time, for the page.
        public var due_local: String
        public var assignee: String?
        public var done_at: Date?
        public var done_by: String?
        public var note: String?
        /// Visits made that found the person refusing again or not at all.
        public var visits: Int
        /// Times help was refused: the case's own refusal and the re-visits'.
        public var refusals: Int
    }

    public var case_id: String
    public var zone: String
    public var category: String
    public var status: String
    public var priority: String?
    public var triage: String?
    public var timeline: [Entry]
    public var decisions: [Decision]
    public var social_path: [Step] = []
    public var follow_up: FollowUp?
    public var referral: Referral?

    /// The case's child-protection referral (`referrals`).
    public struct Referral: Encodable, Sendable, Equatable {
        public var destination: String
        public var rule: String
        public var status: String
        public var opened_at: Date
        public var due_at: Date
        public var due_local: String
        public var late: Bool
        public var escalated_at: Date?
        public var acknowledged_at: Date?
        public var acknowledged_by: String?
        public var decided_at: Date?
        public var decided_by: String?
        public var decision: String?
        public var note: String?
    }

    /// This detail without what its people said or wrote (law 09-08's minimisation, for an account
    /// whose work does not need it: a child-protection body on an adult's case): the crews' notes,
    /// the operators' and shelters' reasons, follow-up and referral notes, and the exact age kept
    /// for the shelter's fit. What happened, when and by whom stays; so does what the purge keeps.
    public func withoutFreeText() -> CaseDetail {
        var copy = self
        copy.triage = triage.map { text in
            guard case .object(var object)? = try? JSONParser.parse(text),
                case .object(let need)? = object["shelter_need"]
            else { return text }
            object.set("shelter_need", .object(JSONObject(need.entries.filter { $0.key != "age" })))
            return JSONValue.object(object).serialized
        }
        copy.timeline = timeline.map { entry in
            var entry = entry
            guard case .object(let object)? = try? JSONParser.parse(entry.detail) else { return entry }
            let kept = object.entries.compactMap { key, value -> (String, JSONValue)? in
                if key == "note" || key == "reason" { return nil }
                if key == "detail", let text = value.stringValue { return (key, .string(Self.withoutWords(text))) }
                return (key, value)
            }
            entry.detail = JSONValue.object(JSONObject(kept)).serialized
            return entry
        }
        copy.social_path = Self.socialPath(copy.timeline)
        copy.follow_up?.note = nil
        copy.referral?.note = nil
        copy.decisions = decisions.map { decision in
            var decision = decision
            decision.operator_reason = nil
            decision.reason = Self.withoutWords(decision.reason)
            if case .object(let record)? = try? JSONParser.parse(decision.record) {
                decision.record =
                    JSONValue.object(
                        JSONObject(
                            record.entries.compactMap { key, value in
                                if key == "operator_reason" { return nil }
                                if key == "reason", let text = value.stringValue {
                                    return (key, .string(Self.withoutWords(text)))
                                }
                                return (key, value)
                            })
                    ).serialized
            }
            return decision
        }
        return copy
    }

    /// A status's wording without the words someone added to it: "closed by op as sheltered:
    /// <reason>", "cancelled by op: <reason>", "priority P3 → P1 by op: <reason>", "declined by
    /// the shelter: <reason>", "… (crew's note: <note>)".
    static func withoutWords(_ text: String) -> String {
        var text = text
        if text.hasSuffix(")"), let note = text.range(of: " (crew's note: ") { text = String(text[..<note.lowerBound]) }
        let worded = ["closed by ", "cancelled by ", "priority ", "bed ", "declined by the shelter"]
        if worded.contains(where: text.hasPrefix), let colon = text.range(of: ": ") {
            text = String(text[..<colon.lowerBound])
        }
        return text
    }

    /// The social path read from the timeline: derived steps and recorded ones, in time order.
    static func socialPath(_ timeline: [Entry]) -> [Step] {
        var steps: [Step] = []
        var derived: Set<String> = []
        func derive(_ step: SocialStep, _ entry: Entry) {
            guard derived.insert(step.rawValue).inserted else { return }
            steps.append(Step(step: step.rawValue, at: entry.at, by: entry.actor, note: nil, recorded: false))
        }
        for entry in timeline {
            switch entry.status {
            // Received and triaged are one entry since a report's first write made one row of them.
            case CaseStatus.received.rawValue, CaseStatus.triaged.rawValue: derive(.reception, entry)
            case CaseStatus.onScene.rawValue: derive(.listening, entry)
            case CaseStatus.resolved.rawValue: derive(.orientation, entry)
            case TimelineEntryKind.followUpDone.rawValue: derive(.followUp, entry)
            case TimelineEntryKind.socialStep.rawValue:
                guard let detail = try? JSONParser.parse(entry.detail), let step = detail["step"]?.stringValue
                else { continue }
                let note = detail["note"]?.stringValue
                steps.append(Step(step: step, at: entry.at, by: entry.actor, note: note, recorded: true))
            default: continue
            }
        }
        return steps.sorted { $0.at < $1.at }
    }
}

/// The console's reads (the board, a case's detail, its personal data through the logged door, the
/// labels). Every query takes the zones the account may see: scope is enforced in SQL, not by
/// filtering afterwards.
public struct BoardRepository: StoreRepository {
    /// Bed-ledger entries that mean a case has its bed (held or occupied).
    static let bedTaken = [BedLedgerAction.hold, .admit].map(\.rawValue)

    let store: SamuStore
    let logger: Logger
    /// The zones' outlines, to flag a position far outside its zone (none: not checked) and for
    /// the console's map.
    public let outlines: ZoneOutlines?

    public init(store: SamuStore, logger: Logger, outlines: ZoneOutlines? = nil) {
        self.store = store
        self.logger = logger
        self.outlines = outlines
    }
    static let caseLimit = 500

    public func board(zones: [String], now: Date = Date()) async throws -> Board {
        async let cases = cases(zones: zones)
        async let units = units(zones: zones)
        async let shelters = shelters(zones: zones)
        async let unmet = unmet(zones: zones, since: now.addingTimeInterval(-12 * 3600))
        async let commands = commands(zones: zones, since: now.addingTimeInterval(-3600))
        async let followUps = followUps(zones: zones)
        async let referrals = referrals(zones: zones, now: now)
        var open = try await cases
        let truncated = open.count > Self.caseLimit
        if truncated { open.removeLast(open.count - Self.caseLimit) }
        return Board(
            generated_at: now, zones: zones, cases: open, units: try await units, shelters: try await shelters,
            unmet: try await unmet, follow_ups: try await followUps, referrals: try await referrals,
            cases_truncated: truncated,
            commands: try await commands)
    }

    func referrals(zones: [String], now: Date) async throws -> [Board.Referral] {
        let rows = try await client.query(
            """
            select case_id, zone, destination, status, opened_at, due_at, escalated_at from referrals
            where zone = any(\(zones)) and status <> \(ReferralStatus.decided.rawValue) order by due_at, case_id limit 200
            """, logger: logger)
        var referrals: [Board.Referral] = []
        for try await (caseID, zone, destination, status, opened, due, escalated) in rows.decode(
            (UUID, String, String, String, Date, Date, Date?).self)
        {
            referrals.append(
                Board.Referral(
                    case_id: caseID.lowercased, zone: zone, destination: destination, status: status, opened_at: opened,
                    due_at: due, due_local: MoroccoTime.format(due),
                    late: status == ReferralStatus.open.rawValue && due < now, escalated_at: escalated))
        }
        return referrals
    }

    func followUps(zones: [String]) async throws -> [Board.FollowUp] {
        let rows = try await client.query(
            """
            select case_id, zone, kind, resolution, due_at, assignee, visits, refusals from follow_ups
            where zone = any(\(zones)) and done_at is null order by due_at, case_id limit 200
            """, logger: logger)
        var tasks: [Board.FollowUp] = []
        for try await (caseID, zone, kind, resolution, due, assignee, visits, refusals) in rows.decode(
            (UUID, String, String, String, Date, String?, Int32, Int32).self)
        {
            tasks.append(
                Board.FollowUp(
                    case_id: caseID.lowercased, zone: zone, kind: kind, resolution: resolution, due_at: due,
                    due_local: MoroccoTime.format(due), assignee: assignee, visits: Int(visits),
                    refusals: Int(refusals)))
        }
        return tasks
    }

    func cases(zones: [String]) async throws -> [Board.Case] {
        let rows = try await client.query(
            """
            select c.case_id, c.zone, c.category, c.priority, c.status, c.opened_at, r.reported_at, c.unit_id,
                   c.bed_type, h.shelter_id, c.location_lat, c.location_lon, k.claimant
            from cases c join report_facts r using (report_id)
            left join lateral (
                select l.shelter_id, l.action from bed_ledger l
                where l.case_id = c.case_id order by l.entry_id desc limit 1
            ) h on h.action = any(\(Self.bedTaken))
            \(unescaped: SamuStore.claimJoin(case: "c.case_id"))
            where c.zone = any(\(zones)) and c.open
            order by c.priority nulls last, c.opened_at
            limit \(Self.caseLimit + 1)
            """, logger: logger)
        var cases: [Board.Case] = []
        for try await row in rows.decode(
            (
                UUID, String, String, String?, String, Date, Date, String?, String?, String?, Double?, Double?, String?
            ).self)
        {
            cases.append(
                Board.Case(
                    case_id: row.0.lowercased, zone: row.1, category: row.2, priority: row.3, status: row.4,
                    opened_at: row.5, reported_at: row.6, unit_id: row.7, bed_type: row.8, shelter_id: row.9,
                    lat: row.10, lon: row.11, claimed_by: row.12,
                    flags: ReportFlag.flags(
                        reportedAt: row.6, received: row.5,
                        position: row.10.flatMap { lat in row.11.map { GeoPoint(latitude: lat, longitude: $0) } },
                        zone: row.1, outlines: outlines
                    ).map(\.rawValue)))
        }
        return cases
    }

    func units(zones: [String]) async throws -> [Board.Unit] {
        let rows = try await client.query(
            """
            select unit_id, zone, status, lat, lon, case_id, skills, reported_at from units
            where zone = any(\(zones)) order by zone, unit_id
            """, logger: logger)
        var units: [Board.Unit] = []
        for try await (id, zone, status, lat, lon, caseID, skills, reported) in rows.decode(
            (String, String, String, Double, Double, UUID?, [String], Date).self)
        {
            units.append(
                Board.Unit(
                    unit_id: id, zone: zone, status: status, lat: lat, lon: lon, case_id: caseID?.lowercased,
                    skills: skills, reported_at: reported))
        }
        return units
    }

    func shelters(zones: [String]) async throws -> [Board.Shelter] {
        let rows = try await client.query(
            """
            select shelter_id, zone, min(lat), min(lon), max(reported_at),
                   array_agg(bed_type order by bed_type), array_agg(capacity order by bed_type),
                   array_agg(occupied order by bed_type), array_agg(held order by bed_type),
                   (select p.profile::text from shelter_profiles p where p.shelter_id = b.shelter_id)
            from shelter_beds b where zone = any(\(zones)) group by shelter_id, zone order by zone, shelter_id
            """, logger: logger)
        var shelters: [Board.Shelter] = []
        for try await (id, zone, lat, lon, reported, types, capacities, occupied, held, profile) in rows.decode(
            (String, String, Double, Double, Date, [String], [Int32], [Int32], [Int32], String?).self)
        {
            let beds = types.indices.map { index in
                Board.Beds(
                    bed_type: types[index], capacity: Int(capacities[index]), occupied: Int(occupied[index]),
                    held: Int(held[index]),
                    free: max(0, Int(capacities[index]) - Int(occupied[index]) - Int(held[index])))
            }
            let declared = profile.flatMap { try? JSONParser.parse(Array($0.utf8)) }.flatMap(ShelterProfile.init(json:))
            shelters.append(
                Board.Shelter(
                    shelter_id: id, zone: zone, lat: lat, lon: lon, reported_at: reported, beds: beds,
                    profile: declared.map(Board.Profile.init)))
        }
        return shelters
    }

    func unmet(zones: [String], since: Date) async throws -> [Board.Unmet] {
        let rows = try await client.query(
            """
            select z.zone,
                (select count(*) from cases c where c.zone = z.zone and c.open and c.status = \(CaseStatus.queued.rawValue)),
                (select count(*) from cases c
                 left join lateral (
                     select l.action from bed_ledger l where l.case_id = c.case_id order by l.entry_id desc limit 1
                 ) h on true
                 where c.zone = z.zone and c.open and c.bed_type is not null
                   and c.status = any(\(CaseStatus.allCases.filter(\.keepsUnit).map(\.rawValue)))
                   and coalesce(h.action, '') <> all(\(Self.bedTaken))),
                (select count(*) from cases c
                 where c.zone = z.zone and c.resolution = \(Resolution.noBedTonight.rawValue) and c.updated_at >= \(since))
            from unnest(\(zones)::text[]) as z(zone)
            order by z.zone
            """, logger: logger)
        var unmet: [Board.Unmet] = []
        for try await (zone, unit, bed, none) in rows.decode((String, Int, Int, Int).self) {
            unmet.append(Board.Unmet(zone: zone, waiting_for_unit: unit, waiting_for_bed: bed, no_bed_tonight: none))
        }
        return unmet
    }

    /// Timeline entries that record an operator's command: dispatch commands and case work.
    static let commandEntries = [
        TimelineEntryKind.operatorCommand, .socialStep, .followUpTaken, .followUpDone, .referralAcknowledged,
        .referralDecided,
    ].map(
        \.rawValue)

    func commands(zones: [String], since: Date) async throws -> [Board.CommandResult] {
        let rows = try await client.query(
            """
            select t.detail->>'event_id', t.case_id, t.detail->>'command', t.detail->>'operator',
                   t.detail->>'outcome', t.detail->>'rejection', t.at
            from case_timeline t join cases c using (case_id)
            where t.status = any(\(Self.commandEntries)) and t.at >= \(since) and c.zone = any(\(zones))
              and t.detail ? 'event_id'
            order by t.entry_id desc limit 50
            """, logger: logger)
        var results: [Board.CommandResult] = []
        for try await (eventID, caseID, command, operatorID, outcome, rejection, at) in rows.decode(
            (String, UUID, String, String, String, String?, Date).self)
        {
            results.append(
                Board.CommandResult(
                    event_id: eventID, case_id: caseID.lowercased, command: command, operator_id: operatorID,
                    outcome: outcome, rejection: rejection, at: at))
        }
        return results
    }

    /// The operator holding a case (its last applied claim or release), if any.
    public func claimant(of caseID: UUID) async throws -> String? {
        let rows = try await client.query(
            """
            select k.claimant from cases c \(unescaped: SamuStore.claimJoin(case: "c.case_id"))
            where c.case_id = \(caseID)
            """, logger: logger)
        for try await claimant in rows.decode(String?.self) { return claimant }
        return nil
    }

    /// Open cases of `zones` opened in the last `hours` whose position lies within a box of
    /// `kilometres` around the point (the caller sorts them by true distance): the cases a new
    /// call may be about.
    public func openCases(
        near point: GeoPoint, kilometres: Double, hours: Int, zones: [String]
    ) async throws -> [NearbyCase] {
        let dLat = kilometres / 111.19
        let dLon = kilometres / (111.19 * max(0.1, cos(point.latitude * .pi / 180)))
        let rows = try await client.query(
            """
            select case_id, zone, category, priority, status, opened_at, location_lat, location_lon,
                coalesce(unit_id, ''),
                (select count(*)::int8 from case_timeline t where t.case_id = c.case_id and t.status = 'report_linked')
            from cases c
            where open and zone = any(\(zones)) and opened_at > now() - \(Double(hours) * 3600) * interval '1 second'
              and location_lat between \(point.latitude - dLat) and \(point.latitude + dLat)
              and location_lon between \(point.longitude - dLon) and \(point.longitude + dLon)
            order by opened_at desc limit 50
            """, logger: logger)
        var found: [NearbyCase] = []
        for try await (id, zone, category, priority, status, opened, lat, lon, unit, calls) in rows.decode(
            (UUID, String, String, String, String, Date, Double, Double, String, Int64).self)
        {
            let distance = point.haversineKilometres(to: GeoPoint(latitude: lat, longitude: lon))
            guard distance <= kilometres else { continue }
            found.append(
                NearbyCase(
                    case_id: id.lowercased, zone: zone, category: category, priority: priority, status: status,
                    opened_at: opened, distance_m: Int((distance * 1000).rounded()), unit_id: unit.isEmpty ? nil : unit,
                    linked_calls: Int(calls), compatible: false))
        }
        return found
    }

    /// The zone of a case and whether it is still open, or `nil` when it is unknown.
    /// A command claimed under an id before: by whom, for which case, its event, and whether the
    /// broker took it.
    public struct ClaimedCommand: Sendable {
        public var operatorID: String
        public var caseID: UUID
        public var event: [UInt8]
        public var sent: Bool
    }

    public func claimedCommand(_ eventID: UUID) async throws -> ClaimedCommand? {
        let rows = try await client.query(
            "select operator_id, case_id, event, sent from console_commands where event_id = \(eventID)",
            logger: logger)
        for try await (operatorID, caseID, event, sent) in rows.decode((String, UUID, ByteBuffer, Bool).self) {
            return ClaimedCommand(
                operatorID: operatorID, caseID: caseID, event: Array(event.readableBytesView), sent: sent)
        }
        return nil
    }

    /// Claims a command's id with the event it will send: false if the id was claimed already.
    public func claimCommand(_ eventID: UUID, operatorID: String, caseID: UUID, event: [UInt8]) async throws -> Bool {
        let rows = try await client.query(
            """
            insert into console_commands (event_id, operator_id, case_id, event)
            values (\(eventID), \(operatorID), \(caseID), \(ByteBuffer(bytes: event))) on conflict do nothing returning 1
            """, logger: logger)
        for try await _ in rows.decode(Int32.self) { return true }
        return false
    }

    public func commandSent(_ eventID: UUID) async throws {
        try await client.query("update console_commands set sent = true where event_id = \(eventID)", logger: logger)
    }

    public func zone(of caseID: UUID) async throws -> (zone: String, open: Bool)? {
        let rows = try await client.query("select zone, open from cases where case_id = \(caseID)", logger: logger)
        for try await (zone, open) in rows.decode((String, Bool).self) { return (zone, open) }
        return nil
    }

    /// Where the case's child-protection referral stands (`nil`: it has none).
    public func referralStatus(_ caseID: UUID) async throws -> ReferralStatus? {
        let rows = try await client.query("select status from referrals where case_id = \(caseID)", logger: logger)
        for try await status in rows.decode(String.self) { return ReferralStatus(rawValue: status) }
        return nil
    }

    /// Whether the case has a follow-up task still to do.
    public func hasOpenFollowUp(_ caseID: UUID) async throws -> Bool {
        let rows = try await client.query(
            "select count(*) from follow_ups where case_id = \(caseID) and done_at is null", logger: logger)
        for try await count in rows.decode(Int.self) { return count > 0 }
        return false
    }

    public func detail(caseID: UUID, zones: [String]) async throws -> CaseDetail? {
        let rows = try await client.query(
            """
            select case_id, zone, category, status, priority, triage::text from cases
            where case_id = \(caseID) and zone = any(\(zones))
            """, logger: logger)
        var found: CaseDetail?
        for try await (id, zone, category, status, priority, triage) in rows.decode(
            (UUID, String, String, String, String?, String?).self)
        {
            found = CaseDetail(
                case_id: id.lowercased, zone: zone, category: category, status: status, priority: priority,
                triage: triage, timeline: [], decisions: [])
        }
        guard var detail = found else { return nil }
        let entries = try await client.query(
            """
            select at, status, actor, detail::text from case_timeline where case_id = \(caseID) order by entry_id
            """, logger: logger)
        for try await (at, status, actor, text) in entries.decode((Date, String, String, String).self) {
            detail.timeline.append(CaseDetail.Entry(at: at, status: status, actor: actor, detail: text))
        }
        detail.social_path = CaseDetail.socialPath(detail.timeline)
        let tasks = try await client.query(
            """
            select kind, resolution, created_at, due_at, assignee, done_at, done_by, note, visits, refusals
            from follow_ups where case_id = \(caseID)
            """, logger: logger)
        for try await row in tasks.decode(
            (String, String, Date, Date, String?, Date?, String?, String?, Int32, Int32).self)
        {
            detail.follow_up = CaseDetail.FollowUp(
                kind: row.0, resolution: row.1, created_at: row.2, due_at: row.3,
                due_local: MoroccoTime.format(row.3), assignee: row.4, done_at: row.5,
                done_by: row.6, note: row.7, visits: Int(row.8), refusals: Int(row.9))
        }
        let referrals = try await client.query(
            """
            select destination, rule, status, opened_at, due_at, acknowledged_at, acknowledged_by, decided_at, decided_by,
                   decision, note, escalated_at
            from referrals where case_id = \(caseID)
            """, logger: logger)
        for try await row in referrals.decode(
            (String, String, String, Date, Date, Date?, String?, Date?, String?, String?, String?, Date?).self)
        {
            detail.referral = CaseDetail.Referral(
                destination: row.0, rule: row.1, status: row.2, opened_at: row.3, due_at: row.4,
                due_local: MoroccoTime.format(row.4), late: row.2 == ReferralStatus.open.rawValue && row.4 < Date(),
                escalated_at: row.11,
                acknowledged_at: row.5, acknowledged_by: row.6, decided_at: row.7, decided_by: row.8, decision: row.9,
                note: row.10)
        }
        let decisions = try await client.query(
            """
            select decided_at, kind, priority, unit_id, shelter_id, bed_type, rules_version, reason, operator_id,
                   operator_reason, record::text
            from decisions where case_id = \(caseID) order by decided_at, decision_id
            """, logger: logger)
        for try await row in decisions.decode(
            (Date, String, String, String?, String?, String, String, String, String?, String?, String).self)
        {
            detail.decisions.append(
                CaseDetail.Decision(
                    decided_at: row.0, kind: row.1, priority: row.2, unit_id: row.3, shelter_id: row.4, bed_type: row.5,
                    rules_version: row.6, reason: row.7, operator_id: row.8, operator_reason: row.9, record: row.10))
        }
        return detail
    }

    /// A case's personal data (notes, reporter, the place's description) for this operator, read
    /// through the database's logged door (`samu_read_personal_data`): `nil` when the operator may
    /// not see the case. Each call is one entry in the case's access log.
    public func personalData(caseID: UUID, operatorID: String) async throws -> String? {
        let rows = try await client.query(
            "select samu_read_personal_data(\(caseID), \(operatorID))::text", logger: logger)
        for try await text in rows.decode(String?.self) { return text }
        return nil
    }

    /// Who read a case's personal data, and when (newest first): for supervisors.
    public func personalDataReads(caseID: UUID) async throws -> [PersonalDataRead] {
        let rows = try await client.query(
            """
            select operator_id, read_at from personal_data_reads where case_id = \(caseID)
            order by read_at desc, read_id desc limit 200
            """, logger: logger)
        var reads: [PersonalDataRead] = []
        for try await (operatorID, at) in rows.decode((String, Date).self) {
            reads.append(PersonalDataRead(operator_id: operatorID, read_at: at))
        }
        return reads
    }

    /// Names in Arabic, French and English: regions, zones, and the labels seeded from `seeds/`.
    public func labels() async throws -> [String: [String: [String: String]]] {
        var labels: [String: [String: [String: String]]] = [:]
        let zones = try await client.query(
            "select 'zone', code, name_ar, name_fr, name_en from ref_zones union all select 'region', code, name_ar, name_fr, name_en from ref_regions union all select kind, code, name_ar, name_fr, name_en from ref_labels",
            logger: logger)
        for try await (kind, code, ar, fr, en) in zones.decode((String, String, String, String, String).self) {
            labels[kind, default: [:]][code] = ["ar": ar, "fr": fr, "en": en]
        }
        return labels
    }

    /// Zones of a region (for a region's board).
    public func zones(inRegion region: String) async throws -> [String] {
        let rows = try await client.query(
            "select code from ref_zones where region = \(region) order by code", logger: logger)
        var zones: [String] = []
        for try await code in rows.decode(String.self) { zones.append(code) }
        return zones
    }

    /// Zones and their regions, for the zone picker.
    public func zoneRegions(_ zones: [String]) async throws -> [String: String] {
        let rows = try await client.query(
            "select code, region from ref_zones where code = any(\(zones))", logger: logger)
        var result: [String: String] = [:]
        for try await (code, region) in rows.decode((String, String).self) { result[code] = region }
        return result
    }
}
