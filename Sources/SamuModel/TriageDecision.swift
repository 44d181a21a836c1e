import Foundation

/// How urgent a case is: P1 (life or safety at stake now) to P4 (can wait for the next round).
public enum Priority: Int, Sendable, CaseIterable, Comparable, Codable, CustomStringConvertible {
    case p1 = 1
    case p2 = 2
    case p3 = 3
    case p4 = 4

    public init?(code: String) {
        guard code.count == 2, code.first == "P", let number = Int(code.dropFirst()),
            let value = Priority(rawValue: number)
        else { return nil }
        self = value
    }

    public var code: String { "P\(rawValue)" }
    public var description: String { code }

    /// More urgent sorts first.
    public static func < (lhs: Priority, rhs: Priority) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `levels` steps more urgent, never past P1.
    public func raised(by levels: Int) -> Priority {
        Priority(rawValue: Swift.max(1, Swift.min(4, rawValue - levels)))!
    }
}

/// What a crew must be able to do for a case (seeds/crew-skills.json).
public enum CrewSkill: String, Sendable, CaseIterable, Codable, Comparable {
    case childProtection = "child_protection"
    case femaleStaff = "female_staff"
    case nurse
    case socialWorker = "social_worker"
    case speaksArabic = "speaks_arabic"
    case speaksDarija = "speaks_darija"
    case speaksFrench = "speaks_french"
    case speaksTamazight = "speaks_tamazight"
    case speaksSpanish = "speaks_spanish"
    case speaksEnglish = "speaks_english"

    public static func < (lhs: CrewSkill, rhs: CrewSkill) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The kind of shelter bed a case needs (seeds/bed-types.json).
public enum BedType: String, Sendable, CaseIterable, Codable, Comparable {
    case men
    case women
    case womenWithChildren = "women_with_children"
    case minors
    case elderly

    public static func < (lhs: BedType, rhs: BedType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An authority samu must inform about a case.
public enum Authority: String, Sendable, CaseIterable, Codable, Comparable {
    /// The child-protection system (public prosecutor for minors, child-protection units).
    case childProtection = "child_protection_authority"
    case police
    case health = "health_services"
    /// The public prosecutor (procureur du Roi): a death, a child exploited.
    case prosecutor = "public_prosecutor"

    public static func < (lhs: Authority, rhs: Authority) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Why triage decided what it did: one line per rule that applied.
public struct TriageReason: Sendable, Equatable, Codable {
    public let rule: String
    public let english: String
    public let french: String
    public let arabic: String
    /// The reason as it is stored with a case: a JSON object of `rule`, `en`, `fr` and `ar`. Written
    /// once, when the rules are read: the same rule's reason is stored with every case it decides,
    /// and escaping its three texts again for every report was a twentieth of the worker's deciding.
    public let json: String

    public init(rule: String, english: String, french: String, arabic: String) {
        self.rule = rule
        self.english = english
        self.french = french
        self.arabic = arabic
        var writer = JSONWriter(
            capacity: 64 + rule.utf8.count + english.utf8.count + french.utf8.count + arabic.utf8.count)
        writer.append("rule", rule)
        writer.append("en", english)
        writer.append("fr", french)
        writer.append("ar", arabic)
        json = writer.finished()
    }

    private enum CodingKeys: String, CodingKey { case rule, english, french, arabic }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            rule: try container.decode(String.self, forKey: .rule),
            english: try container.decode(String.self, forKey: .english),
            french: try container.decode(String.self, forKey: .french),
            arabic: try container.decode(String.self, forKey: .arabic))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rule, forKey: .rule)
        try container.encode(english, forKey: .english)
        try container.encode(french, forKey: .french)
        try container.encode(arabic, forKey: .arabic)
    }
}

/// Triage's verdict on a report: how urgent, what help, why, under which rules.
public struct TriageDecision: Sendable, Equatable, Codable {
    public var priority: Priority
    public var requiredSkills: Set<CrewSkill>
    /// Skills that make a crew a better match without being required (languages, for example).
    public var preferredSkills: Set<CrewSkill>
    public var bedType: BedType
    /// Whether a bed is held for the case at all (not for a person reported dead).
    public var holdsBed: Bool
    public var notify: Set<Authority>
    public var reasons: [TriageReason]
    /// The version of the rules file that decided.
    public var rulesVersion: String
    /// Whether triage considered the person a minor.
    public var minor: Bool
    /// The child-protection referral the case opens (a minor, or children in danger), if any.
    public var referral: ReferralPlan?
    /// What the person needs of a shelter: beds (one per person), who they are, what the house
    /// must offer.
    public var shelterNeed: ShelterNeed

    public init(
        priority: Priority, requiredSkills: Set<CrewSkill>, preferredSkills: Set<CrewSkill> = [], bedType: BedType,
        holdsBed: Bool = true, notify: Set<Authority>, reasons: [TriageReason], rulesVersion: String, minor: Bool,
        referral: ReferralPlan? = nil, shelterNeed: ShelterNeed = .single
    ) {
        self.shelterNeed = shelterNeed
        self.referral = referral
        self.holdsBed = holdsBed
        self.priority = priority
        self.requiredSkills = requiredSkills
        self.preferredSkills = preferredSkills
        self.bedType = bedType
        self.notify = notify
        self.reasons = reasons
        self.rulesVersion = rulesVersion
        self.minor = minor
    }
}
