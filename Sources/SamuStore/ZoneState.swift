import Foundation
import PostgresNIO
import SamuModel

extension SamuStore {
    /// An open case as stored, for rebuilding a zone.
    public struct StoredCase: Sendable {
        public var triaged: TriagedCase
        public var status: CaseStatus
        public var unitID: String?
        /// Beds held for the case (several shelters when a family was split).
        public var holds: [BedHold]
        public var decisions: Int
        /// The operator holding the case on the console (its last applied claim or release).
        public var claimedBy: String?
        /// A child's referral not decided yet.
        public var referralPending: Bool
        /// What the crew reported when it left a child whose referral was pending (the case closes
        /// so once the referral is decided).
        public var crewResolution: Resolution? = nil
        /// When the child's referral is due, while it is open and not yet escalated.
        public var referralDue: Date? = nil
        /// When the case's last decision was taken (queued, assigned): its timers run from then.
        public var decidedAt: Date? = nil
        /// When its beds were last held.
        public var heldAt: Date? = nil
        /// Escalated already (a long wait): never escalated twice.
        public var escalated = false
    }

    /// What a worker needs to take a zone over.
    public struct ZoneState: Sendable {
        public var units: [UnitUpdate] = []
        public var shelters: [BedUpdate] = []
        public var cases: [StoredCase] = []

        public init() {}
    }

    /// The mutual-aid exchanges these areas' workers left open, by area.
    public func openAidExchanges(areas: [String]) async throws -> [String: [AidExchange]] {
        var result: [String: [AidExchange]] = [:]
        if areas.isEmpty { return result }
        let rows = try await client.query(
            """
            select request_id, side, area, peer_area, case_id, unit_id, status from aid_exchanges
            where area = any(\(areas)) and status <> \(AidExchange.Status.ended.rawValue)
            """, logger: logger)
        for try await (requestID, side, area, peer, caseID, unitID, status) in rows.decode(
            (UUID, String, String, String, UUID, String?, String).self)
        {
            guard let side = AidExchange.Side(rawValue: side), let status = AidExchange.Status(rawValue: status) else {
                continue
            }
            result[area, default: []].append(
                AidExchange(
                    requestID: requestID, side: side, area: area, peerArea: peer, caseID: caseID, unitID: unitID,
                    status: status))
        }
        return result
    }

    /// Zones that have units, shelters or open cases.
    public func knownZones() async throws -> [String] {
        let rows = try await client.query(
            """
            select zone from units union select zone from shelter_beds
            union select zone from cases where open
            """, logger: logger)
        var zones: [String] = []
        for try await zone in rows.decode(String.self) { zones.append(zone) }
        return zones.sorted()
    }

    /// The stored state of these zones: the latest report of each unit and shelter, the open cases.
    public func zoneStates(_ zones: [String]) async throws -> [String: ZoneState] {
        var states: [String: ZoneState] = [:]
        if zones.isEmpty { return states }
        let unitRows = try await client.query(
            """
            select zone, unit_id, version, status, lat, lon, array_to_string(skills, ',') from units
            where zone = any(\(zones))
            """, logger: logger)
        for try await (zone, unitID, version, status, lat, lon, skills) in unitRows.decode(
            (String, String, Int64, String, Double, Double, String).self)
        {
            guard let status = UnitStatus(rawValue: status) else { continue }
            states[zone, default: ZoneState()].units.append(
                UnitUpdate(
                    unitID: unitID, version: version, status: status, position: GeoPoint(latitude: lat, longitude: lon),
                    skills: Set(skills.split(separator: ",").compactMap { CrewSkill(rawValue: String($0)) })))
        }
        let bedRows = try await client.query(
            """
            select b.zone, b.shelter_id, max(b.version), min(b.lat), min(b.lon),
                   array_agg(b.bed_type order by b.bed_type), array_agg(b.capacity order by b.bed_type),
                   array_agg(b.occupied order by b.bed_type),
                   coalesce((select p.profile::text from shelter_profiles p where p.shelter_id = b.shelter_id), '')
            from shelter_beds b where b.zone = any(\(zones)) group by b.zone, b.shelter_id
            """, logger: logger)
        for try await (zone, shelterID, version, lat, lon, types, capacities, occupied, profileText) in bedRows.decode(
            (String, String, Int64, Double, Double, [String], [Int32], [Int32], String).self)
        {
            var beds: [BedType: BedCount] = [:]
            for (index, type) in types.enumerated() {
                guard let bed = BedType(rawValue: type) else { continue }
                beds[bed] = BedCount(capacity: Int(capacities[index]), occupied: Int(occupied[index]))
            }
            states[zone, default: ZoneState()].shelters.append(
                BedUpdate(
                    shelterID: shelterID, version: version, position: GeoPoint(latitude: lat, longitude: lon),
                    beds: beds,
                    profile: profileText.isEmpty
                        ? nil : (try? JSONParser.parse(Array(profileText.utf8))).flatMap(ShelterProfile.init(json:)),
                    zone: zone))
        }
        let caseRows = try await client.query(
            """
            select c.case_id, c.report_id, c.zone, c.category, c.status, coalesce(c.unit_id, ''), c.triage::text,
                   coalesce(c.location_lat, 0), coalesce(c.location_lon, 0), r.reported_at,
                   (select count(*) from decisions d where d.case_id = c.case_id),
                   coalesce((
                       select json_agg(json_build_object('s', h.shelter_id, 'b', h.bed_type, 'n', h.beds))::text
                       from (
                           select distinct on (l.shelter_id) l.shelter_id, l.bed_type, l.beds, l.action
                           from bed_ledger l where l.case_id = c.case_id order by l.shelter_id, l.entry_id desc
                       ) h where h.action = \(BedLedgerAction.hold.rawValue)), '[]'),
                   (select max(d.decided_at) from decisions d where d.case_id = c.case_id),
                   (select max(l.at) from bed_ledger l
                      where l.case_id = c.case_id and l.action = \(BedLedgerAction.hold.rawValue)),
                   exists (select 1 from case_timeline t
                           where t.case_id = c.case_id and t.status = \(CaseStatus.escalated.rawValue)),
                   coalesce(k.claimant, ''),
                   exists (select 1 from referrals x where x.case_id = c.case_id and x.status <> \(ReferralStatus.decided.rawValue)),
                   coalesce(c.resolution, ''),
                   (select x.due_at from referrals x where x.case_id = c.case_id
                      and x.status = \(ReferralStatus.open.rawValue) and x.escalated_at is null)
            from cases c
            join reports r on r.report_id = c.report_id
            \(unescaped: Self.claimJoin(case: "c.case_id"))
            where c.zone = any(\(zones)) and c.open
            """, logger: logger)
        for try await (
            caseID, reportID, zone, category, status, unitID, triageText, lat, lon, reportedAt, decisions, holdsText,
            decidedAt, heldAt, escalated, claimant, referralPending, crewResolution, referralDue
        )
            in caseRows.decode(
                (
                    UUID, UUID, String, String, String, String, String, Double, Double, Date, Int64, String, Date?,
                    Date?, Bool, String, Bool, String, Date?
                )
                .self)
        {
            guard let category = BeneficiaryCategory(rawValue: category), let status = CaseStatus(rawValue: status),
                let triage = Self.triage(from: (try? JSONParser.parse(triageText)) ?? .null)
            else {
                logger.warning("open case not restorable", metadata: ["case.id": "\(caseID)"])
                continue
            }
            let triaged = TriagedCase(
                caseID: caseID, reportID: reportID, zone: zone, location: GeoPoint(latitude: lat, longitude: lon),
                category: category, triage: triage, receivedAt: reportedAt)
            states[zone, default: ZoneState()].cases.append(
                StoredCase(
                    triaged: triaged, status: status, unitID: unitID.isEmpty ? nil : unitID,
                    holds: Self.holds(from: holdsText),
                    decisions: Int(decisions), claimedBy: claimant.isEmpty ? nil : claimant,
                    referralPending: referralPending, crewResolution: Resolution(rawValue: crewResolution),
                    referralDue: referralDue, decidedAt: decidedAt, heldAt: heldAt, escalated: escalated))
        }
        return states
    }

    /// `left join lateral (…) k`: the operator holding the case (`k.claimant`, null when none), from
    /// the case's last applied claim or release in the timeline (the worker's and the console's
    /// one definition of a claim).
    public static func claimJoin(case caseColumn: String) -> String {
        """
        left join lateral (
            select case when t.detail->>'command' = 'claim' then t.detail->>'operator' end as claimant
            from case_timeline t
            where t.case_id = \(caseColumn) and t.status = '\(TimelineEntryKind.operatorCommand.rawValue)' and t.detail->>'outcome' = 'applied'
              and t.detail->>'command' in ('claim', 'release')
            order by t.entry_id desc limit 1
        ) k on true
        """
    }

    /// Holds as the restore query lists them (`[{"s": shelter, "b": bed type, "n": beds}]`).
    static func holds(from text: String) -> [BedHold] {
        guard case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return [] }
        return items.compactMap { item in
            guard let shelter = item["s"]?.stringValue,
                let bed = item["b"]?.stringValue.flatMap(BedType.init(rawValue:))
            else { return nil }
            return BedHold(shelterID: shelter, bed: bed, beds: max(1, Int(item["n"]?.integerValue ?? 1)))
        }
    }

    /// The triage decision stored with a case (the inverse of ``triageText(_:)``).
    public static func triage(from json: JSONValue) -> TriageDecision? {
        func set<T>(_ key: String, _ make: (String) -> T?) -> Set<T> {
            guard case .array(let items)? = json[key] else { return [] }
            return Set(items.compactMap { $0.stringValue.flatMap(make) })
        }
        guard let priority = json["priority"]?.stringValue.flatMap(Priority.init(code:)),
            let bed = json["bed_type"]?.stringValue.flatMap(BedType.init(rawValue:)),
            let version = json["rules_version"]?.stringValue
        else { return nil }
        var reasons: [TriageReason] = []
        if case .array(let items)? = json["reasons"] {
            reasons = items.compactMap { item in
                guard let rule = item["rule"]?.stringValue else { return nil }
                return TriageReason(
                    rule: rule, english: item["en"]?.stringValue ?? "", french: item["fr"]?.stringValue ?? "",
                    arabic: item["ar"]?.stringValue ?? "")
            }
        }
        return TriageDecision(
            priority: priority, requiredSkills: set("required_skills", CrewSkill.init(rawValue:)),
            preferredSkills: set("preferred_skills", CrewSkill.init(rawValue:)), bedType: bed,
            holdsBed: json["holds_bed"] != .bool(false),
            notify: set("notify", Authority.init(rawValue:)), reasons: reasons, rulesVersion: version,
            minor: json["minor"] == .bool(true),
            referral: json["referral"].flatMap { value -> ReferralPlan? in
                guard let destination = value["destination"]?.stringValue.flatMap(ReferralDestination.init(rawValue:)),
                    let minutes = value["deadline_minutes"]?.integerValue, let rule = value["rule"]?.stringValue
                else { return nil }
                return ReferralPlan(destination: destination, deadlineMinutes: Int(minutes), rule: rule)
            }, shelterNeed: json["shelter_need"].map(ShelterNeed.init(json:)) ?? .single)
    }
}
