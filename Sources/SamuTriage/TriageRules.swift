import Foundation
import SamuModel

/// The triage rules file (`seeds/triage/rules.json`), parsed and checked.
///
/// Loading refuses unknown keys, unknown categories, factors, skills, beds and authorities, so a
/// typo in the file is an error at start-up rather than a rule that silently never applies.
public struct TriageRules: Sendable {
    public struct Condition: Sendable, Equatable {
        public var categoryIn: Set<BeneficiaryCategory>?
        public var anyFactor: Set<ReportFactor>?
        public var allFactors: Set<ReportFactor>?
        public var minor: Bool?
        public var elderly: Bool?
        /// Whether the report gives an age at all.
        public var ageKnown: Bool?
        public var ageAtLeast: Int?
        public var ageBelow: Int?
        public var sexIn: Set<Sex>?
        public var night: Bool?
        public var temperatureAtMost: Double?
        public var temperatureAtLeast: Double?
        public var countAtLeast: Int?
        public var languageIn: Set<String>?
    }

    public struct Effect: Sendable, Equatable {
        public var priorityAtLeast: Priority?
        public var raise: Int = 0
        public var skills: Set<CrewSkill> = []
        public var preferSkills: Set<CrewSkill> = []
        public var bed: BedType?
        /// `false`: no bed is held for the case (a person reported dead).
        public var holdBed: Bool?
        public var notify: Set<Authority> = []
        /// What the shelter must offer (a women-only house, wheelchair access).
        public var shelterNeeds: Set<ShelterRequirement> = []
    }

    public struct Rule: Sendable, Equatable {
        public var id: String
        public var when: Condition
        public var then: Effect
        public var reason: TriageReason
    }

    /// A referral rule: the first whose conditions hold decides a case's referral.
    public struct ReferralRule: Sendable, Equatable {
        public var id: String
        public var when: Condition
        public var destination: ReferralDestination
        public var deadlineMinutes: Int
        public var reason: TriageReason
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "triage rules: \(message)" }
    }

    public var version: String
    public var nightFromMinutes: Int
    public var nightToMinutes: Int
    public var timeZone: TimeZone
    public var minorAgeBelow: Int
    public var minorCategories: Set<BeneficiaryCategory>
    /// From this age a person is elderly (60: the national statistics office's threshold).
    public var elderlyAgeAtLeast: Int
    /// Categories whose person is taken as elderly when the report gives no age.
    public var elderlyCategories: Set<BeneficiaryCategory>
    public var basePriority: [BeneficiaryCategory: Priority]
    public var defaultBed: [Sex: BedType]
    public var bedPrecedence: [BedType]
    public var rules: [Rule]
    /// Child-protection referrals, in order: the first that holds decides (none: no referral).
    public var referrals: [ReferralRule]

    /// Parses the rules file.
    public init(json: JSONValue) throws(LoadError) {
        func fail(_ message: String) -> LoadError { LoadError(message: message) }
        guard case .object(let root) = json else { throw fail("the file must hold a JSON object") }
        let topKeys: Set<String> = [
            "version", "description", "night", "minor_age_below", "minor_categories", "elderly_age_at_least",
            "elderly_categories", "base_priority", "default_bed", "bed_precedence", "rules", "referrals",
        ]
        if let unknown = root.keys.first(where: { !topKeys.contains($0) }) { throw fail("unknown key '\(unknown)'") }
        guard let version = json["version"]?.stringValue, !version.isEmpty else { throw fail("'version' is required") }
        self.version = version
        guard let from = json["night"]?["from"]?.stringValue.flatMap(Self.minutes),
            let to = json["night"]?["to"]?.stringValue.flatMap(Self.minutes),
            let zoneName = json["night"]?["time_zone"]?.stringValue, let zone = TimeZone(identifier: zoneName)
        else { throw fail("'night' needs 'from' and 'to' as HH:MM and a known 'time_zone'") }
        nightFromMinutes = from
        nightToMinutes = to
        timeZone = zone
        guard let minorAge = json["minor_age_below"]?.integerValue else { throw fail("'minor_age_below' is required") }
        minorAgeBelow = Int(minorAge)
        minorCategories = try Self.set(json["minor_categories"], BeneficiaryCategory.init, "minor_categories")
        guard let elderlyAge = json["elderly_age_at_least"]?.integerValue else {
            throw fail("'elderly_age_at_least' is required")
        }
        elderlyAgeAtLeast = Int(elderlyAge)
        elderlyCategories = try Self.set(json["elderly_categories"], BeneficiaryCategory.init, "elderly_categories")
        var base: [BeneficiaryCategory: Priority] = [:]
        guard case .object(let bases)? = json["base_priority"] else { throw fail("'base_priority' is required") }
        for entry in bases.entries {
            guard let category = BeneficiaryCategory(rawValue: entry.key) else {
                throw fail("unknown category '\(entry.key)'")
            }
            guard let priority = entry.value.stringValue.flatMap(Priority.init(code:)) else {
                throw fail("base priority of \(entry.key) must be P1…P4")
            }
            base[category] = priority
        }
        if let missing = BeneficiaryCategory.allCases.first(where: { base[$0] == nil }) {
            throw fail("no base priority for \(missing.rawValue)")
        }
        basePriority = base
        var beds: [Sex: BedType] = [:]
        guard case .object(let defaults)? = json["default_bed"] else { throw fail("'default_bed' is required") }
        for entry in defaults.entries {
            guard let sex = Sex(rawValue: entry.key), let bed = entry.value.stringValue.flatMap(BedType.init(rawValue:))
            else { throw fail("default_bed: '\(entry.key)' → \(entry.value.serialized) is not a sex and a bed type") }
            beds[sex] = bed
        }
        if let missing = Sex.allCases.first(where: { beds[$0] == nil }) { throw fail("no default bed for \(missing)") }
        defaultBed = beds
        guard case .array(let order)? = json["bed_precedence"] else { throw fail("'bed_precedence' is required") }
        bedPrecedence = try order.map { value throws(LoadError) in
            guard let bed = value.stringValue.flatMap(BedType.init(rawValue:)) else {
                throw fail("unknown bed type \(value.serialized) in bed_precedence")
            }
            return bed
        }
        if Set(bedPrecedence) != Set(BedType.allCases) { throw fail("bed_precedence must list every bed type once") }
        guard case .array(let ruleValues)? = json["rules"] else { throw fail("'rules' is required") }
        var rules: [Rule] = []
        for value in ruleValues {
            let rule = try Self.rule(value)
            if rules.contains(where: { $0.id == rule.id }) { throw fail("rule id '\(rule.id)' is used twice") }
            rules.append(rule)
        }
        self.rules = rules
        var referrals: [ReferralRule] = []
        if case .array(let values)? = json["referrals"] {
            for value in values {
                let rule = try Self.rule(value, extraKeys: ["destination", "deadline_minutes"], needsEffect: false)
                guard let destination = value["destination"]?.stringValue.flatMap(ReferralDestination.init(rawValue:))
                else {
                    throw fail(
                        "referral '\(rule.id)': unknown destination \(value["destination"]?.serialized ?? "none")")
                }
                guard let minutes = value["deadline_minutes"]?.integerValue, (5...10_080).contains(minutes) else {
                    throw fail("referral '\(rule.id)': 'deadline_minutes' must be 5…10080")
                }
                if referrals.contains(where: { $0.id == rule.id }) {
                    throw fail("referral id '\(rule.id)' is used twice")
                }
                referrals.append(
                    ReferralRule(
                        id: rule.id, when: rule.when, destination: destination, deadlineMinutes: Int(minutes),
                        reason: rule.reason))
            }
        } else if json["referrals"] != nil {
            throw fail("'referrals' must be an array")
        }
        self.referrals = referrals
    }

    /// Loads and parses a rules file.
    public static func load(_ url: URL) throws(LoadError) -> TriageRules {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw LoadError(message: "cannot read \(url.path)")
        }
        do {
            return try TriageRules(json: try JSONParser.parse(Array(data)))
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(message: "\(url.lastPathComponent) is not valid JSON: \(error)")
        }
    }

    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<24).contains(hours),
            (0..<60).contains(minutes)
        else { return nil }
        return hours * 60 + minutes
    }

    static func set<T: Hashable>(
        _ value: JSONValue?, _ make: (String) -> T?, _ name: String
    ) throws(LoadError) -> Set<T> {
        guard case .array(let items)? = value else { throw LoadError(message: "'\(name)' must be an array") }
        var result = Set<T>()
        for item in items {
            guard let text = item.stringValue, let element = make(text) else {
                throw LoadError(message: "unknown value \(item.serialized) in '\(name)'")
            }
            result.insert(element)
        }
        return result
    }

    static func rule(_ value: JSONValue, extraKeys: [String] = [], needsEffect: Bool = true) throws(LoadError) -> Rule {
        guard let id = value["id"]?.stringValue, !id.isEmpty else { throw LoadError(message: "a rule has no 'id'") }
        func fail(_ message: String) -> LoadError { LoadError(message: "rule '\(id)': \(message)") }
        guard case .object(let object) = value else { throw fail("must be an object") }
        let keys =
            (needsEffect
                ? ["id", "when", "then", "reason_en", "reason_fr", "reason_ar"]
                : ["id", "when", "reason_en", "reason_fr", "reason_ar"]) + extraKeys
        if let unknown = object.keys.first(where: { !keys.contains($0) }) {
            throw fail("unknown key '\(unknown)'")
        }
        guard let english = value["reason_en"]?.stringValue, let french = value["reason_fr"]?.stringValue,
            let arabic = value["reason_ar"]?.stringValue, !english.isEmpty, !french.isEmpty, !arabic.isEmpty
        else {
            throw fail("'reason_en', 'reason_fr' and 'reason_ar' are required")
        }
        guard case .object(let when)? = value["when"], !when.entries.isEmpty else {
            throw fail("'when' must be a non-empty object")
        }
        var condition = Condition()
        for entry in when.entries {
            let name = "\(id).when.\(entry.key)"
            switch entry.key {
            case "category_in": condition.categoryIn = try set(entry.value, BeneficiaryCategory.init, name)
            case "any_factor": condition.anyFactor = try set(entry.value, ReportFactor.init, name)
            case "all_factors": condition.allFactors = try set(entry.value, ReportFactor.init, name)
            case "sex_in": condition.sexIn = try set(entry.value, Sex.init, name)
            case "language_in": condition.languageIn = try set(entry.value, { $0 }, name)
            case "minor", "night", "elderly", "age_known":
                guard case .bool(let flag) = entry.value else { throw fail("'\(entry.key)' must be true or false") }
                switch entry.key {
                case "minor": condition.minor = flag
                case "elderly": condition.elderly = flag
                case "age_known": condition.ageKnown = flag
                default: condition.night = flag
                }
            case "age_at_least", "age_below", "count_at_least":
                guard let number = entry.value.integerValue else { throw fail("'\(entry.key)' must be an integer") }
                switch entry.key {
                case "age_at_least": condition.ageAtLeast = Int(number)
                case "age_below": condition.ageBelow = Int(number)
                default: condition.countAtLeast = Int(number)
                }
            case "temperature_at_most", "temperature_at_least":
                guard let number = entry.value.doubleValue else { throw fail("'\(entry.key)' must be a number") }
                if entry.key == "temperature_at_most" {
                    condition.temperatureAtMost = number
                } else {
                    condition.temperatureAtLeast = number
                }
            default:
                throw fail("unknown condition '\(entry.key)'")
            }
        }
        if !needsEffect {
            return Rule(
                id: id, when: condition, then: Effect(),
                reason: TriageReason(rule: id, english: english, french: french, arabic: arabic))
        }
        guard case .object(let then)? = value["then"], !then.entries.isEmpty else {
            throw fail("'then' must be a non-empty object")
        }
        var effect = Effect()
        for entry in then.entries {
            let name = "\(id).then.\(entry.key)"
            switch entry.key {
            case "priority_at_least":
                guard let priority = entry.value.stringValue.flatMap(Priority.init(code:)) else {
                    throw fail("'priority_at_least' must be P1…P4")
                }
                effect.priorityAtLeast = priority
            case "raise":
                guard let levels = entry.value.integerValue, (1...3).contains(levels) else {
                    throw fail("'raise' must be 1, 2 or 3")
                }
                effect.raise = Int(levels)
            case "skills": effect.skills = try set(entry.value, CrewSkill.init, name)
            case "prefer_skills": effect.preferSkills = try set(entry.value, CrewSkill.init, name)
            case "notify": effect.notify = try set(entry.value, Authority.init, name)
            case "bed":
                guard let bed = entry.value.stringValue.flatMap(BedType.init(rawValue:)) else {
                    throw fail("unknown bed type \(entry.value.serialized)")
                }
                effect.bed = bed
            case "hold_bed":
                guard case .bool(let flag) = entry.value else { throw fail("'hold_bed' must be true or false") }
                effect.holdBed = flag
            case "shelter_needs": effect.shelterNeeds = try set(entry.value, ShelterRequirement.init, name)
            default:
                throw fail("unknown effect '\(entry.key)'")
            }
        }
        return Rule(
            id: id, when: condition, then: effect,
            reason: TriageReason(rule: id, english: english, french: french, arabic: arabic))
    }
}
