import Foundation
import SamuModel

/// Decides a report's priority, the crew skills and bed it needs, and whom to inform, from the
/// rules file alone: pure and deterministic (the same report and rules give the same decision).
public struct TriageEngine: Sendable {
    public let rules: TriageRules
    private let calendar: Calendar
    /// The rules, each behind one reference: walking them retains nothing but the reference (a
    /// rule's sets and texts copied out of the array for every report cost a fifth of triage).
    private let compiled: [Compiled]
    /// The first reason of every decision, by category (its texts built once).
    private let baseReasons: [BeneficiaryCategory: (priority: Priority, reason: TriageReason)]

    /// A rule, read in place.
    private final class Compiled: Sendable {
        let rule: TriageRules.Rule
        init(_ rule: TriageRules.Rule) { self.rule = rule }
    }

    public init(rules: TriageRules) {
        self.rules = rules
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = rules.timeZone
        self.calendar = calendar
        self.compiled = rules.rules.map(Compiled.init)
        var base: [BeneficiaryCategory: (Priority, TriageReason)] = [:]
        for category in BeneficiaryCategory.allCases {
            base[category] = Self.baseReason(category, priority: rules.basePriority[category] ?? .p3)
        }
        self.baseReasons = base
    }

    static func baseReason(_ category: BeneficiaryCategory, priority base: Priority) -> (Priority, TriageReason) {
        (
            base,
            TriageReason(
                rule: "base", english: "Category \(category.rawValue): base \(base.code).",
                french: "Catégorie \(category.rawValue) : base \(base.code).",
                arabic: "الفئة \(category.rawValue): الأولوية الأساسية \(base.code).")
        )
    }

    /// The facts triage looks at, derived once from a report.
    struct Facts {
        var category: BeneficiaryCategory
        var factors: Set<ReportFactor>
        var age: Int?
        var minor: Bool
        var elderly: Bool
        var sex: Sex
        var night: Bool
        var temperature: Double?
        var count: Int
        var language: String?
    }

    public func triage(_ report: Report) -> TriageDecision {
        let facts = facts(of: report)
        // Every category has its entry (built from `allCases`).
        let (base, baseReason) = baseReasons[facts.category]!
        var priority = base
        var raise = 0
        var skills = Set<CrewSkill>()
        var preferred = Set<CrewSkill>()
        var notify = Set<Authority>()
        var beds = Set<BedType>()
        var holdsBed = true
        var shelterNeeds = Set<ShelterRequirement>()
        var reasons = [baseReason]
        for compiled in compiled where holds(compiled.rule.when, facts) {
            let then = compiled.rule.then
            if let floor = then.priorityAtLeast { priority = min(priority, floor) }
            raise += then.raise
            if !then.skills.isEmpty { skills.formUnion(then.skills) }
            if !then.preferSkills.isEmpty { preferred.formUnion(then.preferSkills) }
            if !then.notify.isEmpty { notify.formUnion(then.notify) }
            if let bed = then.bed { beds.insert(bed) }
            if then.holdBed == false { holdsBed = false }
            if !then.shelterNeeds.isEmpty { shelterNeeds.formUnion(then.shelterNeeds) }
            reasons.append(compiled.rule.reason)
        }
        let bed = rules.bedPrecedence.first { beds.contains($0) } ?? rules.defaultBed[facts.sex] ?? .men
        // The first referral rule that holds: a minor, or children in a case of danger.
        let referral = rules.referrals.first { holds($0.when, facts) }
        if let referral { reasons.append(referral.reason) }
        return TriageDecision(
            priority: priority.raised(by: raise), requiredSkills: skills,
            preferredSkills: preferred.subtracting(skills),
            bedType: bed, holdsBed: holdsBed, notify: notify, reasons: reasons, rulesVersion: rules.version,
            minor: facts.minor,
            referral: referral.map {
                ReferralPlan(destination: $0.destination, deadlineMinutes: $0.deadlineMinutes, rule: $0.id)
            },
            shelterNeed: ShelterNeed(
                beds: facts.count, sex: Self.shelterSex(facts.sex, bed: bed), age: facts.age, minor: facts.minor,
                elderly: facts.elderly, womenOnly: shelterNeeds.contains(.womenOnly),
                wheelchair: shelterNeeds.contains(.wheelchairAccess)))
    }

    /// The sex a shelter must take: a women's or mothers' bed means a woman, a men's bed a man
    /// (triage gives a men's bed to an unknown sex only with a rule's reason); minors' and elderly
    /// beds keep the report's sex.
    static func shelterSex(_ reported: Sex, bed: BedType) -> Sex {
        switch bed {
        case .women, .womenWithChildren: .female
        case .men: .male
        case .minors, .elderly: reported
        }
    }

    func facts(of report: Report) -> Facts {
        let age = report.person.age
        let minor = age.map { $0 < rules.minorAgeBelow } ?? rules.minorCategories.contains(report.category)
        let elderly = age.map { $0 >= rules.elderlyAgeAtLeast } ?? rules.elderlyCategories.contains(report.category)
        let components = calendar.dateComponents([.hour, .minute], from: report.reportedAt)
        let minuteOfDay = (components.hour ?? 0) * 60 + (components.minute ?? 0)
        let night =
            rules.nightFromMinutes > rules.nightToMinutes
            ? (minuteOfDay >= rules.nightFromMinutes || minuteOfDay < rules.nightToMinutes)
            : (minuteOfDay >= rules.nightFromMinutes && minuteOfDay < rules.nightToMinutes)
        return Facts(
            category: report.category, factors: Set(report.factors), age: age, minor: minor, elderly: elderly,
            sex: report.person.sex,
            night: night, temperature: report.temperatureCelsius, count: report.person.count, language: report.language)
    }

    func holds(_ condition: TriageRules.Condition, _ facts: Facts) -> Bool {
        if let categories = condition.categoryIn, !categories.contains(facts.category) { return false }
        if let any = condition.anyFactor, any.isDisjoint(with: facts.factors) { return false }
        if let all = condition.allFactors, !all.isSubset(of: facts.factors) { return false }
        if let minor = condition.minor, minor != facts.minor { return false }
        if let elderly = condition.elderly, elderly != facts.elderly { return false }
        if let known = condition.ageKnown, known != (facts.age != nil) { return false }
        if let atLeast = condition.ageAtLeast {
            guard let age = facts.age, age >= atLeast else { return false }
        }
        if let below = condition.ageBelow {
            guard let age = facts.age, age < below else { return false }
        }
        if let sexes = condition.sexIn, !sexes.contains(facts.sex) { return false }
        if let night = condition.night, night != facts.night { return false }
        if let atMost = condition.temperatureAtMost {
            guard let temperature = facts.temperature, temperature <= atMost else { return false }
        }
        if let atLeast = condition.temperatureAtLeast {
            guard let temperature = facts.temperature, temperature >= atLeast else { return false }
        }
        if let count = condition.countAtLeast, facts.count < count { return false }
        if let languages = condition.languageIn {
            guard let language = facts.language, languages.contains(language) else { return false }
        }
        return true
    }
}
