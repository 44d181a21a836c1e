import Foundation

/// What a municipal partner may learn about how a case ended (docs/reliability.md §5.1).
public enum PartnerOutcome: String, Sendable, CaseIterable, Comparable {
    case sheltered
    case hospital
    case referredSocial = "referred_social"
    case refused
    case notFound = "not_found"
    case noBed = "no_bed"
    case closedOther = "closed_other"
    /// Aggregates only: cases of the day still open when the day was counted.
    case open

    public init(resolution: Resolution?) {
        switch resolution {
        case .sheltered?: self = .sheltered
        case .hospital?: self = .hospital
        case .referredChildProtection?, .referredPolice?, .referredFamily?: self = .referredSocial
        case .helpRefused?: self = .refused
        case .personNotFound?: self = .notFound
        case .noBedTonight?: self = .noBed
        // A death is never told apart to a partner: it would single the person out.
        case .deceased?, nil: self = .closedOther
        }
    }

    public static func < (lhs: PartnerOutcome, rhs: PartnerOutcome) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The coarse categories of individual partner records. There is no class for disability or
/// mental distress: any such class would single out a health condition, so those people reach
/// partners only as counts (``ProtectedGroup/otherVulnerable``).
public enum PartnerCategory: String, Sendable, CaseIterable {
    case homelessAdult = "homeless_adult"
    case elderly
    case family
}

/// People who reach partners only as counts, never as individual records.
public enum ProtectedGroup: String, Sendable, CaseIterable {
    case minors
    case violenceVictims = "violence_victims"
    /// Disability or mental distress (the name does not say which): health data.
    case otherVulnerable = "other_vulnerable"
}

/// The kind of bed a sheltered person got, in classes that reveal neither sex (men's and women's
/// beds are both `adult`) nor a facility.
public enum PartnerShelterType: String, Sendable, CaseIterable {
    case adult
    case family
    case elderly

    /// `nil` for minors' beds (minors never reach individual records). A household's beds are
    /// `family` whatever their type, and anyone else's are never: a family bed is a mother's (the
    /// service's "women with children"), so naming it by the bed would tell a household's sex, or a
    /// single woman's.
    public init?(_ bed: BedType?, household: Bool) {
        switch bed {
        case .minors?, nil: return nil
        case _ where household: self = .family
        case .elderly?: self = .elderly
        case .men?, .women?, .womenWithChildren?: self = .adult
        }
    }
}

/// How coarse a partner record is: its time bucket, and what it leaves out.
public enum Generalisation: Int, Sendable, CaseIterable, Comparable {
    /// Commune, the hour, age band, bed class and response band.
    case hour = 1
    /// Province only (no commune), a 6-hour bucket.
    case sixHours = 6
    /// Province only, the day; no age band, bed class or response band.
    case day = 24

    public static func < (lhs: Generalisation, rhs: Generalisation) -> Bool { lhs.rawValue < rhs.rawValue }
}

public enum AgeBand: String, Sendable, CaseIterable {
    case from18To34 = "18-34"
    case from35To64 = "35-64"
    case from65 = "65+"

    /// `nil` for minors (who never get a band) and unknown ages.
    public init?(age: Int?) {
        guard let age, age >= 18 else { return nil }
        self = age < 35 ? .from18To34 : age < 65 ? .from35To64 : .from65
    }
}

/// Time from the report to a unit on scene.
public enum ResponseTimeBand: String, Sendable, CaseIterable {
    case under15Minutes = "under_15_min"
    case from15To30Minutes = "15_30_min"
    case from30To60Minutes = "30_60_min"
    case from1To2Hours = "1_2_h"
    case over2Hours = "over_2_h"
    case notReached = "not_reached"

    public init(seconds: Double?) {
        guard let seconds else {
            self = .notReached
            return
        }
        switch seconds {
        case ..<900: self = .under15Minutes
        case ..<1800: self = .from15To30Minutes
        case ..<3600: self = .from30To60Minutes
        case ..<7200: self = .from1To2Hours
        default: self = .over2Hours
        }
    }
}

/// A finished case as the partner projection reads it back from PostgreSQL.
public struct FinishedCase: Sendable, Equatable {
    public var caseID: UUID
    public var zone: String
    public var category: BeneficiaryCategory
    public var age: Int?
    public var personCount: Int
    public var factors: Set<ReportFactor>
    /// Triage's own finding that the person is a minor.
    public var minor: Bool
    public var status: CaseStatus
    public var resolution: Resolution?
    public var bedType: BedType?
    public var reportedAt: Date
    /// When samu opened the case (reports may arrive long after they were taken).
    public var openedAt: Date
    public var onSceneAt: Date?
    public var location: GeoPoint?
    public var communeName: String?

    public init(
        caseID: UUID, zone: String, category: BeneficiaryCategory, age: Int?, personCount: Int,
        factors: Set<ReportFactor>, minor: Bool, status: CaseStatus, resolution: Resolution?, bedType: BedType?,
        reportedAt: Date, openedAt: Date? = nil, onSceneAt: Date?, location: GeoPoint?, communeName: String?
    ) {
        self.openedAt = openedAt ?? reportedAt
        self.caseID = caseID
        self.zone = zone
        self.category = category
        self.age = age
        self.personCount = personCount
        self.factors = factors
        self.minor = minor
        self.status = status
        self.resolution = resolution
        self.bedType = bedType
        self.reportedAt = reportedAt
        self.onSceneAt = onSceneAt
        self.location = location
        self.communeName = communeName
    }

    /// Minors and victims of violence never appear in individual records.
    public var protectedGroup: ProtectedGroup? {
        if minor || category == .childStreetSituation || (age.map { $0 < 18 } ?? false) || bedType == .minors {
            return .minors
        }
        if category == .womanViolenceVictim || factors.contains(.violenceInProgress) { return .violenceVictims }
        if category == .personWithDisability || category == .mentalDistress { return .otherVulnerable }
        return nil
    }

    public var partnerCategory: PartnerCategory {
        if factors.contains(.withChildren) || personCount > 1 { return .family }
        // The other categories are protected groups: they never reach an individual record.
        return category == .isolatedElderly ? .elderly : .homelessAdult
    }

    /// Finished (resolved, closed or cancelled) and not open.
    public var outcome: PartnerOutcome {
        status.isFinished ? PartnerOutcome(resolution: resolution) : .open
    }
}

/// The hour a time falls in, floored, as an ISO 8601 interval (`2026-01-15T02:00:00Z/PT1H`).
public enum HourBucket {
    public static func start(of time: Date) -> Date {
        Date(timeIntervalSince1970: (time.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
    }

    public static func label(of time: Date) -> String {
        label(of: time, hours: 1)
    }

    /// The start of the `hours`-long bucket (1, 6 or 24, aligned on UTC midnight) `time` falls in.
    public static func start(of time: Date, hours: Int) -> Date {
        let length = Double(hours) * 3600
        return Date(timeIntervalSince1970: (time.timeIntervalSince1970 / length).rounded(.down) * length)
    }

    /// `2026-01-15T06:00:00Z/PT6H`, `2026-01-15T00:00:00Z/P1D`.
    public static func label(of time: Date, hours: Int) -> String {
        RFC3339.format(start(of: time, hours: hours)).replacingOccurrences(of: ".000", with: "")
            + (hours == 24 ? "/P1D" : "/PT\(hours)H")
    }

    /// The UTC day, `2026-01-15`.
    public static func day(of time: Date) -> String {
        String(RFC3339.format(time).prefix(10))
    }
}

/// One pseudonymised record for a partner's topic (`samu.partner.<partner>.outcomes.v1`): built field by field from an
/// allow-list, never by copying an internal outcome.
public struct PartnerRecord: Sendable, Equatable {
    public var eventID: UUID
    public var partner: String
    public var pseudonym: String
    public var pseudonymEpoch: String
    public var provinceCode: String
    public var communeCode: String?
    public var category: PartnerCategory
    public var ageBand: AgeBand?
    public var outcome: PartnerOutcome
    public var shelterType: PartnerShelterType?
    public var timeBucket: Date
    public var responseTimeBand: ResponseTimeBand?
    public var generalisation: Generalisation = .hour

    /// This record made coarser (never finer): the bucket widened, fields left out.
    public func generalised(to level: Generalisation) -> PartnerRecord {
        var copy = self
        guard level > generalisation else { return copy }
        copy.generalisation = level
        copy.timeBucket = HourBucket.start(of: timeBucket, hours: level.rawValue)
        copy.communeCode = nil
        if level == .day {
            copy.ageBand = nil
            copy.shelterType = nil
            copy.responseTimeBand = nil
        }
        return copy
    }

    /// The quasi-identifiers a partner sees: what k-anonymity counts.
    public var quasiIdentifiers: String {
        [
            provinceCode, communeCode ?? "-", HourBucket.label(of: timeBucket, hours: generalisation.rawValue),
            ageBand?.rawValue ?? "-", category.rawValue, outcome.rawValue, shelterType?.rawValue ?? "-",
            responseTimeBand?.rawValue ?? "-",
        ].joined(separator: "|")
    }

    /// The partner record of a finished case, or `nil` when the case may only be counted
    /// (minors, victims of violence), is not finished, or the partner has no key for its period.
    public static func make(
        _ finished: FinishedCase, partner: Partner, commune: Commune?, keyring: PseudonymKeyring
    ) -> PartnerRecord? {
        guard finished.protectedGroup == nil, finished.outcome != .open,
            let (pseudonym, epoch) = keyring.pseudonym(
                partner: partner.id, subject: finished.caseID, at: HourBucket.start(of: finished.reportedAt))
        else { return nil }
        let outcome = finished.outcome
        return PartnerRecord(
            // From the pseudonym, not the case: an id anyone could derive from a case or report id
            // (a hotline's, an outcome consumer's) would tie the record back to its case without
            // the key. Stable for the case and period, so a republished record keeps its id.
            eventID: UUID(v5: "partner-outcome/\(partner.id)/\(epoch)/\(pseudonym)"), partner: partner.id,
            pseudonym: pseudonym, pseudonymEpoch: epoch, provinceCode: finished.zone, communeCode: commune?.code,
            category: finished.partnerCategory, ageBand: AgeBand(age: finished.age), outcome: outcome,
            // A bed class that says neither sex nor facility; minors' beds never reach here.
            shelterType: outcome == .sheltered
                ? PartnerShelterType(finished.bedType, household: finished.partnerCategory == .family) : nil,
            timeBucket: HourBucket.start(of: finished.reportedAt),
            responseTimeBand: ResponseTimeBand(
                seconds: finished.onSceneAt.map { $0.timeIntervalSince(finished.reportedAt) }))
    }

    public var json: JSONValue {
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(eventID.lowercased))
        object.append("record", "case_outcome")
        object.append("partner", .string(partner))
        object.append("pseudonym", .string(pseudonym))
        object.append("pseudonym_epoch", .string(pseudonymEpoch))
        object.append("province_code", .string(provinceCode))
        if let communeCode { object.append("commune_code", .string(communeCode)) }
        object.append("category", .string(category.rawValue))
        if let ageBand { object.append("age_band", .string(ageBand.rawValue)) }
        object.append("outcome", .string(outcome.rawValue))
        if let shelterType { object.append("shelter_type", .string(shelterType.rawValue)) }
        object.append("time_bucket", .string(HourBucket.label(of: timeBucket, hours: generalisation.rawValue)))
        if let responseTimeBand { object.append("response_time_band", .string(responseTimeBand.rawValue)) }
        return .object(object)
    }
}

/// k-anonymity for a partner's individual records of one zone and day: each record is published
/// at the finest ``Generalisation`` at which its quasi-identifiers (commune, time bucket, age
/// band, category, outcome, bed class, response band) are shared by at least `threshold`
/// records of the set; a record that is unique even as (province, day, category, outcome) is
/// suppressed. Every member of a class that reaches the threshold is published (at that level or
/// a finer one), so the property holds on what the partner receives, not only on the input.
public enum KAnonymity {
    public static func apply(
        _ records: [PartnerRecord], threshold: Int
    ) -> (published: [PartnerRecord], suppressed: Int) {
        var chosen: [Generalisation?] = Array(repeating: nil, count: records.count)
        for level in Generalisation.allCases {
            let generalised = records.map { $0.generalised(to: level) }
            var sizes: [String: Int] = [:]
            for record in generalised { sizes[record.quasiIdentifiers, default: 0] += 1 }
            for index in records.indices where chosen[index] == nil {
                if sizes[generalised[index].quasiIdentifiers, default: 0] >= threshold { chosen[index] = level }
            }
        }
        var published: [PartnerRecord] = []
        for (record, level) in zip(records, chosen) {
            if let level { published.append(record.generalised(to: level)) }
        }
        return (published, records.count - published.count)
    }
}

/// Small-cell suppression for the counts partners receive (docs/reliability.md §5.4).
public enum SmallCellSuppression {
    /// Publishes the cells of one table row and its total so that no published count is below
    /// `threshold` and nothing below it can be derived: the total is published only when it
    /// reaches the threshold; a suppressed cell is never alone and the suppressed cells never sum
    /// to less than the threshold (complementary suppression of the next smallest cells).
    /// Zero cells are not published. Returns `nil` when nothing may be published.
    public static func apply<Key: Hashable & Comparable>(
        _ cells: [Key: Int], threshold: Int
    ) -> (
        published: [Key: Int], total: Int
    )? {
        let total = cells.values.reduce(0, +)
        guard total >= threshold else { return nil }
        var published = cells.filter { $0.value >= threshold }
        var suppressed = cells.filter { $0.value > 0 && $0.value < threshold }
        func suppressedSum() -> Int { suppressed.values.reduce(0, +) }
        while suppressedSum() > 0 && (suppressedSum() < threshold || suppressed.count < 2) {
            guard let smallest = published.min(by: { ($0.value, $0.key) < ($1.value, $1.key) }) else { break }
            published.removeValue(forKey: smallest.key)
            suppressed[smallest.key] = smallest.value
        }
        return (published, total)
    }
}

/// A day's counts for a protected group in one commune, for one partner.
public struct PartnerAggregate: Sendable, Equatable {
    public var eventID: UUID
    public var partner: String
    public var provinceCode: String
    public var communeCode: String?
    public var day: String
    public var group: ProtectedGroup
    public var minimumCell: Int
    public var total: Int
    public var outcomes: [PartnerOutcome: Int]

    /// The published aggregate for these cases, or `nil` when suppression leaves nothing.
    public static func make(
        partner: Partner, zone: String, commune: String?, day: String, group: ProtectedGroup,
        cases: [FinishedCase]
    ) -> PartnerAggregate? {
        var counts: [PartnerOutcome: Int] = [:]
        for finished in cases { counts[finished.outcome, default: 0] += 1 }
        guard let (published, total) = SmallCellSuppression.apply(counts, threshold: partner.minimumCell) else {
            return nil
        }
        return PartnerAggregate(
            eventID: UUID(v5: "partner-aggregate/\(partner.id)/\(zone)/\(commune ?? "-")/\(day)/\(group.rawValue)"),
            partner: partner.id, provinceCode: zone, communeCode: commune, day: day, group: group,
            minimumCell: partner.minimumCell, total: total, outcomes: published)
    }

    public var json: JSONValue {
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(eventID.lowercased))
        object.append("record", "daily_aggregate")
        object.append("partner", .string(partner))
        object.append("province_code", .string(provinceCode))
        if let communeCode { object.append("commune_code", .string(communeCode)) }
        object.append("day", .string(day))
        object.append("group", .string(group.rawValue))
        object.append("min_cell", .integer(Int64(minimumCell)))
        object.append("total", .integer(Int64(total)))
        var cells = JSONObject()
        for (outcome, count) in outcomes.sorted(by: { $0.key < $1.key }) {
            cells.append(outcome.rawValue, .integer(Int64(count)))
        }
        object.append("outcomes", .object(cells))
        return .object(object)
    }
}

/// Looks for anything a partner event must never carry (docs/reliability.md §5.2). Used by the
/// tests on every partner event and by `samu partners scan` on the live topic.
public enum PartnerPrivacyScanner {
    /// Key fragments that name personal or internal data.
    static let forbiddenKeyFragments = [
        "name", "phone", "cin", "birth", "address", "landmark", "note", "description", "lat", "lon", "location",
        "position", "unit", "crew", "call", "case_id", "report", "diagnos", "injur", "pregnan", "disab", "mental",
        "illness", "violence", "nationality", "ethnic", "religio", "shelter_id", "facility", "email", "zone",
        "occurred", "reported_at", "priority", "factor", "sex",
    ]
    // Regex values are not Sendable; these are never mutated after initialisation.
    nonisolated(unsafe) static let phone = /(\+212|0)[5-7][0-9]{8}/
    nonisolated(unsafe) static let cin = /\b[A-Z]{1,2}[0-9]{5,7}\b/
    nonisolated(unsafe) static let email = /[^@\s]+@[^@\s]+\.[a-z]{2,}/
    nonisolated(unsafe) static let fineNumber = /[0-9]+\.[0-9]{3,}/
    /// The statistics office's commune code (`06.141.01.07`): dotted digits, not a coordinate.
    nonisolated(unsafe) static let communeCode = /[0-9]{2}\.[0-9]{3}\.[0-9]{2}\.[0-9]{1,2}/
    nonisolated(unsafe) static let timestamp = /[0-9]{4}-[0-9]{2}-[0-9]{2}T([0-9]{2}):([0-9]{2}):([0-9]{2})/
    nonisolated(unsafe) static let uuid = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/

    /// Every violation in one event, as `path: what`.
    public static func scan(_ event: JSONValue) -> [String] {
        var found: [String] = []
        visit(event, path: "", found: &found)
        if event["record"]?.stringValue == "case_outcome" {
            for value in ["minors", "violence_victims", "minor", "child_street_situation", "woman_violence_victim"]
            where event.serialized.contains("\"\(value)\"") {
                found.append("/: an individual record mentions '\(value)'")
            }
        }
        return found
    }

    private static func visit(_ value: JSONValue, path: String, found: inout [String]) {
        switch value {
        case .object(let object):
            for entry in object.entries {
                let key = entry.key.lowercased()
                if let fragment = forbiddenKeyFragments.first(where: { key.contains($0) }) {
                    found.append("\(path)/\(entry.key): forbidden field ('\(fragment)')")
                }
                visit(entry.value, path: "\(path)/\(entry.key)", found: &found)
            }
        case .array(let items):
            for (index, item) in items.enumerated() { visit(item, path: "\(path)/\(index)", found: &found) }
        case .number(let number):
            if unsafe String(number).contains(fineNumber) { found.append("\(path): number with more than 2 decimals") }
        case .string(let text):
            // An id is opaque: its hex digits may spell a telephone or a decimal number (a random
            // event id did, once in a few thousand). Only where ids may not appear is it one.
            if unsafe text.wholeMatch(of: uuid) != nil {
                if path != "/event_id" { found.append("\(path): an identifier (UUID)") }
                return
            }
            if unsafe text.contains(phone) { found.append("\(path): phone number") }
            if unsafe text.contains(cin) { found.append("\(path): national identity card number") }
            if unsafe text.contains(email) { found.append("\(path): e-mail address") }
            let officialCode = unsafe path == "/commune_code" && text.wholeMatch(of: communeCode) != nil
            if unsafe !officialCode && text.contains(fineNumber) {
                found.append("\(path): number with more than 2 decimals")
            }
            if unsafe path != "/event_id" && text.contains(uuid) { found.append("\(path): an identifier (UUID)") }
            if let match = unsafe text.firstMatch(of: timestamp), match.output.2 != "00" || match.output.3 != "00" {
                found.append("\(path): a time finer than the hour")
            }
        default:
            break
        }
    }
}
