import Foundation
import PropertyBased
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuTriage

/// A report as a call taker would enter it.
struct Situation: Sendable, CustomTestStringConvertible {
    var name: String
    var category: String
    var age: Int64?
    var sex: String = "male"
    var factors: [String] = []
    var temperature: Double?
    /// Local time in Morocco (UTC+1).
    var localTime: String
    var language: String?
    var count: Int64?

    var testDescription: String { name }

    /// The factors schema version 1 knows; a report naming another is a version 2 report.
    static let versionOneFactors: Set<String> = [
        "injury", "pregnancy", "disability", "alone_at_night", "violence_in_progress", "immediate_danger",
        "mental_distress", "with_children", "cold_exposure", "illness",
    ]

    var document: JSONValue {
        var person = JSONObject()
        if let age { person.append("age", .integer(age)) }
        person.append("sex", .string(sex))
        if let count { person.append("count", .integer(count)) }
        var object = JSONObject()
        object.append("schema_version", .integer(factors.allSatisfy(Self.versionOneFactors.contains) ? 1 : 2))
        object.append("event_id", .string(UUID().uuidString.lowercased()))
        object.append("reported_at", .string("2026-01-15T\(localTime):00+01:00"))
        object.append("zone", "rabat")
        object.append("category", .string(category))
        object.append("location", ["lat": 34.02, "lon": -6.84])
        object.append("person", .object(person))
        object.append("factors", .array(factors.map { .string($0) }))
        if let temperature { object.append("temperature_c", .number(temperature)) }
        if let language { object.append("language", .string(language)) }
        return .object(object)
    }
}

enum Fixtures {
    static let rules: TriageRules = {
        do {
            return try TriageRules.load(Repository.seeds.appendingPathComponent("triage/rules.json"))
        } catch {
            fatalError("the shipped rules file must load: \(error)")
        }
    }()
    static let engine = TriageEngine(rules: rules)
    static let decoder: ReportDecoder = {
        do {
            return ReportDecoder(definition: try Repository.catalog().definition(.reports))
        } catch {
            fatalError("the topic catalog must load: \(error)")
        }
    }()

    static func report(_ document: JSONValue) throws -> Report {
        try decoder.decode(value: Array(document.serialized.utf8)).get()
    }
}

@Suite("Triage of realistic situations")
struct TriageTableTests {
    struct Expectation: Sendable {
        var situation: Situation
        var priority: Priority
        var skills: Set<CrewSkill>
        var bed: BedType
        var notify: Set<Authority> = []
        var rules: [String] = []
    }

    static let cases: [Expectation] = [
        Expectation(
            situation: Situation(
                name: "a 9-year-old alone near the port at 02:10, 6 °C", category: "child_street_situation", age: 9,
                factors: ["alone_at_night", "cold_exposure"], temperature: 6, localTime: "02:10"),
            priority: .p1, skills: [.childProtection], bed: .minors, notify: [.childProtection],
            rules: ["minor", "minor-at-night", "minor-alone-at-night", "cold-exposure"]),
        Expectation(
            situation: Situation(
                name: "a 16-year-old begging in the afternoon, 20 °C", category: "child_street_situation", age: 16,
                localTime: "15:00"),
            priority: .p2, skills: [.childProtection], bed: .minors, notify: [.childProtection], rules: ["minor"]),
        Expectation(
            situation: Situation(
                name: "a child of unknown age seen at 23:30", category: "child_street_situation", sex: "female",
                localTime: "23:30"),
            priority: .p1, skills: [.childProtection], bed: .minors, notify: [.childProtection]),
        Expectation(
            situation: Situation(
                name: "a minor reported in another category keeps the child rules", category: "mental_distress",
                age: 15,
                factors: ["mental_distress"], localTime: "11:00"),
            priority: .p2, skills: [.childProtection, .nurse], bed: .minors, notify: [.childProtection]),
        Expectation(
            situation: Situation(
                name: "a homeless man, 47, coughing, on cardboard at 02:25, 7.5 °C", category: "homeless_adult",
                age: 47,
                factors: ["illness"], temperature: 7.5, localTime: "02:25"),
            priority: .p2, skills: [.nurse], bed: .men, rules: ["injury-or-illness", "homeless-at-night"]),
        Expectation(
            situation: Situation(
                name: "a homeless man at noon, 22 °C, nothing else", category: "homeless_adult", age: 40,
                temperature: 22,
                localTime: "12:00"),
            priority: .p4, skills: [], bed: .men),
        Expectation(
            situation: Situation(
                name: "a woman of 78 alone at a bus stop at 01:40, 5 °C", category: "isolated_elderly", age: 78,
                sex: "female", factors: ["alone_at_night", "cold_exposure"], temperature: 5, localTime: "01:40"),
            priority: .p1, skills: [.nurse], bed: .elderly),
        Expectation(
            situation: Situation(
                name: "an old man in a wheelchair at the souk at 20:05, 12 °C, Tamazight only",
                category: "isolated_elderly", age: 82, factors: ["disability"], temperature: 12, localTime: "20:05",
                language: "zgh"),
            priority: .p2, skills: [.nurse, .socialWorker], bed: .elderly),
        Expectation(
            situation: Situation(
                name: "a mother and two children threatened in the street", category: "woman_violence_victim", age: 31,
                sex: "female", factors: ["violence_in_progress", "with_children", "immediate_danger"], temperature: 8,
                localTime: "23:05"),
            priority: .p1, skills: [.femaleStaff], bed: .womenWithChildren, notify: [.police]),
        Expectation(
            situation: Situation(
                name: "a pregnant woman beaten and thrown out", category: "woman_violence_victim", age: 26,
                sex: "female",
                factors: ["violence_in_progress", "pregnancy"], temperature: 14, localTime: "01:30"),
            priority: .p1, skills: [.femaleStaff, .nurse], bed: .women, notify: [.police]),
        Expectation(
            situation: Situation(
                name: "a woman who fled violence, safe now, at 10:00", category: "woman_violence_victim", age: 35,
                sex: "female", temperature: 18, localTime: "10:00"),
            priority: .p2, skills: [.femaleStaff], bed: .women),
        Expectation(
            situation: Situation(
                name: "a man of 60 under a bus shelter in Ifrane, −9 °C (elderly from 60)", category: "homeless_adult",
                age: 60, factors: ["cold_exposure", "illness"], temperature: -9, localTime: "05:20"),
            priority: .p1, skills: [.nurse], bed: .elderly, rules: ["cold-wave", "freezing", "elderly"]),
        Expectation(
            situation: Situation(
                name: "a man of 59 at −2 °C is not elderly", category: "homeless_adult", age: 59, temperature: -2,
                localTime: "04:10"),
            priority: .p1, skills: [], bed: .men, rules: ["freezing"]),
        Expectation(
            situation: Situation(
                name: "an isolated elderly woman, age not given, at 22:00", category: "isolated_elderly",
                sex: "female", temperature: 12, localTime: "22:00"),
            priority: .p2, skills: [.nurse], bed: .elderly, rules: ["elderly", "elderly-at-night"]),
        Expectation(
            situation: Situation(
                name: "a boy of 12 sniffing glue at 22:30", category: "child_street_situation", age: 12,
                factors: ["substance_use"], temperature: 11, localTime: "22:30"),
            priority: .p1, skills: [.childProtection, .nurse], bed: .minors, notify: [.childProtection, .health],
            rules: ["substance-use", "substance-use-minor"]),
        Expectation(
            situation: Situation(
                name: "a girl of 8 made to beg by an adult at 14:00", category: "child_street_situation", age: 8,
                sex: "female", factors: ["begging_exploitation"], temperature: 24, localTime: "14:00"),
            priority: .p1, skills: [.childProtection], bed: .minors, notify: [.childProtection, .prosecutor],
            rules: ["begging-exploitation"]),
        Expectation(
            situation: Situation(
                name: "a man reported dead under a bridge at 06:10", category: "homeless_adult", age: 50,
                factors: ["deceased"], temperature: 9, localTime: "06:10"),
            priority: .p1, skills: [], bed: .men, notify: [.police, .prosecutor, .health], rules: ["deceased"]),
        Expectation(
            situation: Situation(
                name: "a man in a psychiatric crisis threatening passers-by at 16:00", category: "mental_distress",
                age: 30, factors: ["psychiatric_emergency", "danger_to_others"], temperature: 20, localTime: "16:00"),
            priority: .p1, skills: [.nurse], bed: .men, notify: [.health, .police],
            rules: ["psychiatric-emergency", "danger-to-others"]),
        Expectation(
            situation: Situation(
                name: "an elderly woman, age not given, alone at 15:00 in a 47 °C heat wave",
                category: "isolated_elderly",
                sex: "female", temperature: 47, localTime: "15:00"),
            priority: .p1, skills: [.nurse], bed: .elderly, rules: ["heat", "heat-wave", "elderly"]),
        Expectation(
            situation: Situation(
                name: "a man of 35 showing heat-stroke signs at 13:00, 38 °C", category: "homeless_adult", age: 35,
                factors: ["heat_exposure"], temperature: 38, localTime: "13:00"),
            priority: .p2, skills: [.nurse], bed: .men, rules: ["heat-exposure"]),
        Expectation(
            situation: Situation(
                name: "a man sleeping out at −2 °C in Errachidia", category: "homeless_adult", age: 52, temperature: -2,
                localTime: "04:10"),
            priority: .p1, skills: [], bed: .men, rules: ["freezing", "cold", "homeless-at-night"]),
        Expectation(
            situation: Situation(
                name: "an agitated man at 21:15, 4 °C", category: "mental_distress", age: 35,
                factors: ["mental_distress"],
                temperature: 4, localTime: "21:15"),
            priority: .p2, skills: [.nurse], bed: .men),
        Expectation(
            situation: Situation(
                name: "a young woman with an intellectual disability lost at night", category: "person_with_disability",
                age: 24, sex: "female", factors: ["disability", "alone_at_night"], temperature: 6.5, localTime: "23:45"),
            priority: .p2, skills: [.socialWorker], bed: .women, rules: ["vulnerable-alone-at-night"]),
        Expectation(
            situation: Situation(
                name: "a disoriented Spanish-speaking woman, 40, at 03:05", category: "mental_distress", age: 40,
                sex: "female", factors: ["mental_distress", "cold_exposure"], temperature: 9.5, localTime: "03:05",
                language: "es"),
            priority: .p2, skills: [.nurse], bed: .women),
    ]

    @Test("each situation gets the expected priority, crew skills, bed and notifications", arguments: cases)
    func situation(_ expected: Expectation) throws {
        let decision = Fixtures.engine.triage(try Fixtures.report(expected.situation.document))
        let why = decision.reasons.map(\.rule).joined(separator: ", ")
        #expect(decision.priority == expected.priority, "\(expected.situation.name): \(why)")
        #expect(decision.requiredSkills == expected.skills, "\(expected.situation.name): \(why)")
        #expect(decision.bedType == expected.bed, "\(expected.situation.name)")
        #expect(decision.notify == expected.notify, "\(expected.situation.name)")
        for rule in expected.rules {
            #expect(decision.reasons.contains { $0.rule == rule }, "\(expected.situation.name): \(rule) not in \(why)")
        }
        #expect(decision.reasons.first?.rule == "base")
        #expect(decision.rulesVersion == Fixtures.rules.version)
    }

    @Test(
        "each child's case opens a referral to the body the rules name, with its deadline",
        arguments: [
            (
                Situation(
                    name: "a 9-year-old alone at 02:10", category: "child_street_situation", age: 9,
                    factors: ["alone_at_night"], localTime: "02:10"), ReferralDestination.familyTracing, 1440
            ),
            (
                Situation(
                    name: "a boy of 12 sniffing glue", category: "child_street_situation", age: 12,
                    factors: ["substance_use"], localTime: "22:30"), .hospitalUnit, 240
            ),
            (
                Situation(
                    name: "a girl of 8 made to beg", category: "child_street_situation", age: 8, sex: "female",
                    factors: ["begging_exploitation", "alone_at_night"], localTime: "14:00"), .prosecutor, 120
            ),
            (
                Situation(
                    name: "a mother and two children threatened", category: "woman_violence_victim", age: 31,
                    sex: "female", factors: ["violence_in_progress", "with_children"], localTime: "23:05"),
                .prosecutor, 120
            ),
            (
                Situation(
                    name: "a woman who fled violence with her children", category: "woman_violence_victim", age: 35,
                    sex: "female", factors: ["with_children"], localTime: "10:00"), .prosecutor, 240
            ),
            (
                Situation(
                    name: "a 16-year-old in the afternoon", category: "child_street_situation", age: 16,
                    localTime: "15:00"), .provincialCommittee, 1440
            ),
        ])
    func referral(_ situation: Situation, destination: ReferralDestination, minutes: Int) throws {
        let decision = Fixtures.engine.triage(try Fixtures.report(situation.document))
        let referral = try #require(decision.referral, "\(situation.name)")
        #expect(referral.destination == destination, "\(situation.name): \(referral.rule)")
        #expect(referral.deadlineMinutes == minutes)
        #expect(decision.reasons.last?.rule == referral.rule, "the referral's reason closes the list")
        #expect(decision.reasons.last?.arabic.isEmpty == false)
    }

    @Test("an adult's case without children opens no referral")
    func noReferral() throws {
        let situation = Situation(
            name: "adult", category: "homeless_adult", age: 40, factors: ["violence_in_progress"], localTime: "23:00")
        #expect(Fixtures.engine.triage(try Fixtures.report(situation.document)).referral == nil)
    }

    @Test("a person reported dead: no bed is held")
    func deceasedHoldsNoBed() throws {
        let situation = Situation(
            name: "deceased", category: "homeless_adult", age: 50, factors: ["deceased"], localTime: "06:10")
        #expect(!Fixtures.engine.triage(try Fixtures.report(situation.document)).holdsBed)
        let alive = Situation(name: "alive", category: "homeless_adult", age: 50, localTime: "06:10")
        #expect(Fixtures.engine.triage(try Fixtures.report(alive.document)).holdsBed)
    }

    @Test("what the shelter must offer: women-only for a woman victim, wheelchair access, one bed per person")
    func shelterNeeds() throws {
        var victim = Situation(
            name: "victim", category: "woman_violence_victim", age: 29, sex: "female", localTime: "23:00")
        victim.count = 3
        let decision = Fixtures.engine.triage(try Fixtures.report(victim.document))
        #expect(decision.shelterNeed == ShelterNeed(beds: 3, sex: .female, age: 29, womenOnly: true))
        let wheelchair = Situation(
            name: "wheelchair", category: "isolated_elderly", sex: "male", factors: ["wheelchair"], localTime: "22:00")
        let need = Fixtures.engine.triage(try Fixtures.report(wheelchair.document)).shelterNeed
        #expect(need == ShelterNeed(beds: 1, sex: .male, elderly: true, wheelchair: true))
        let child = Situation(
            name: "child", category: "child_street_situation", age: 12, sex: "unknown", localTime: "02:00")
        let childNeed = Fixtures.engine.triage(try Fixtures.report(child.document)).shelterNeed
        #expect(
            childNeed == ShelterNeed(beds: 1, sex: .unknown, age: 12, minor: true),
            "a minors' bed keeps the report's sex")
        let man = Situation(name: "man", category: "homeless_adult", age: 40, sex: "unknown", localTime: "23:00")
        let manNeed = Fixtures.engine.triage(try Fixtures.report(man.document))
        #expect(manNeed.shelterNeed.sex == (manNeed.bedType == .men ? .male : .female), "the bed type implies the sex")
    }

    @Test("a migrant calling in English: a social worker and an English speaker preferred, neither required")
    func migrantInEnglish() throws {
        let situation = Situation(
            name: "migrant", category: "homeless_adult", age: 25, factors: ["migrant"], temperature: 10,
            localTime: "23:00", language: "en")
        let decision = Fixtures.engine.triage(try Fixtures.report(situation.document))
        #expect(decision.preferredSkills == [.socialWorker, .speaksEnglish])
        #expect(decision.requiredSkills.isEmpty)
        #expect(decision.priority == .p3)
    }

    @Test("an unknown sex gets the default bed only with a reason saying so, and female staff preferred")
    func unknownSex() throws {
        let situation = Situation(
            name: "unknown", category: "homeless_adult", sex: "unknown", temperature: 10, localTime: "03:00")
        let decision = Fixtures.engine.triage(try Fixtures.report(situation.document))
        #expect(decision.reasons.contains { $0.rule == "sex-unknown" })
        #expect(decision.preferredSkills.contains(.femaleStaff))
        let known = Situation(name: "known", category: "homeless_adult", sex: "male", localTime: "03:00")
        #expect(
            !Fixtures.engine.triage(try Fixtures.report(known.document)).reasons.contains { $0.rule == "sex-unknown" })
    }

    @Test("every reason is given in Arabic, French and English")
    func reasonsInThreeLanguages() throws {
        for rule in Fixtures.rules.rules {
            #expect(
                !rule.reason.arabic.isEmpty && !rule.reason.french.isEmpty && !rule.reason.english.isEmpty, "\(rule.id)"
            )
            #expect(rule.reason.arabic.unicodeScalars.contains { (0x0600...0x06FF).contains($0.value) }, "\(rule.id)")
        }
        let situation = Situation(name: "base", category: "homeless_adult", localTime: "12:00")
        #expect(Fixtures.engine.triage(try Fixtures.report(situation.document)).reasons[0].arabic.contains("الفئة"))
    }

    @Test("a call in Tamazight prefers a Tamazight speaker without requiring one")
    func languagePreferred() throws {
        let situation = Situation(
            name: "tamazight", category: "isolated_elderly", age: 82, localTime: "20:05", language: "zgh")
        let decision = Fixtures.engine.triage(try Fixtures.report(situation.document))
        #expect(decision.preferredSkills == [.speaksTamazight])
        #expect(!decision.requiredSkills.contains(.speaksTamazight))
    }
}

@Suite("Triage invariants (property-based)")
struct TriagePropertyTests {
    static let categories = BeneficiaryCategory.allCases.map(\.rawValue)
    static let factors = ReportFactor.allCases.map(\.rawValue)

    static let situations = zip(
        Gen.element(of: categories), Gen.int(in: -1...100), Gen.element(of: ["female", "male", "unknown"]),
        Gen.element(of: factors).set(ofAtMost: 0...5), Gen.int(in: -150...350), Gen.int(in: 0...1439),
        Gen.element(of: ["ar", "ary", "fr", "zgh", "es", "en"])
    ).map { category, age, sex, factors, tenthsOfDegree, minute, language in
        let time = String(format: "%02d:%02d", minute / 60, minute % 60)
        return Situation(
            name: "generated", category: category ?? "homeless_adult", age: age < 0 ? nil : Int64(age),
            sex: sex ?? "male",
            factors: factors.compactMap { $0 }.sorted(),
            temperature: tenthsOfDegree == 350 ? nil : Double(tenthsOfDegree) / 10,
            localTime: time, language: language)
    }

    @Test("a minor is never below P2, always needs child protection, a minors' bed, and a notification")
    func minors() async {
        await propertyCheck(count: 500, input: Self.situations) { situation in
            guard let report = try? Fixtures.report(situation.document) else {
                Issue.record("generated an invalid report")
                return
            }
            let decision = Fixtures.engine.triage(report)
            let minor = report.person.age.map { $0 < 18 } ?? (report.category == .childStreetSituation)
            #expect(decision.minor == minor)
            if minor {
                #expect(decision.priority <= .p2)
                #expect(decision.requiredSkills.contains(.childProtection))
                #expect(decision.notify.contains(.childProtection))
                #expect(decision.bedType == .minors)
                #expect(decision.referral != nil, "every child's case opens a referral")
            } else {
                #expect(!decision.notify.contains(.childProtection))
                // An adult's case refers children only when they are there.
                if !report.factors.contains(.withChildren) { #expect(decision.referral == nil) }
            }
        }
    }

    @Test("the same report gives the same decision, and every decision explains itself")
    func deterministic() async {
        await propertyCheck(count: 300, input: Self.situations) { situation in
            guard let report = try? Fixtures.report(situation.document) else { return }
            let first = Fixtures.engine.triage(report)
            #expect(first == Fixtures.engine.triage(report))
            #expect(first.reasons.first?.rule == "base")
            #expect(first.rulesVersion == Fixtures.rules.version)
        }
    }

    @Test("one more danger factor, or a colder night, never makes a case less urgent")
    func monotone() async {
        await propertyCheck(count: 300, input: Self.situations, Gen.element(of: Self.factors)) { situation, extra in
            guard let report = try? Fixtures.report(situation.document) else { return }
            var worse = situation
            if let extra, !worse.factors.contains(extra) { worse.factors.append(extra) }
            worse.temperature = (situation.temperature ?? 10) - 5
            guard let worseReport = try? Fixtures.report(worse.document) else { return }
            let before = Fixtures.engine.triage(report).priority
            let after = Fixtures.engine.triage(worseReport).priority
            if situation.temperature != nil {
                #expect(after <= before, "\(situation.factors) + \(extra ?? "-"), \(situation.temperature ?? 0) °C")
            }
        }
    }
}

@Suite("Triage rules file")
struct TriageRulesFileTests {
    @Test("the shipped file loads, covers every category, and names its version")
    func shipped() {
        #expect(Fixtures.rules.version.hasPrefix("triage-"))
        #expect(Fixtures.rules.rules.count >= 15)
        #expect(Set(Fixtures.rules.basePriority.keys) == Set(BeneficiaryCategory.allCases))
    }

    @Test(
        "mistakes in the file are refused with the rule and key named",
        arguments: [
            (#""then": { "raise": 1 }"#, #""then": { "rise": 1 }"#, "unknown effect 'rise'"),
            (#""skills": ["nurse"]"#, #""skills": ["doctor"]"#, "unknown value \"doctor\""),
            (#""temperature_at_most": 5"#, #""temperature_below": 5"#, "unknown condition 'temperature_below'"),
            (#""priority_at_least": "P1", "notify""#, #""priority_at_least": "P0", "notify""#, "must be P1…P4"),
            (#""bed": "elderly""#, #""bed": "suite""#, "unknown bed type"),
        ])
    func refused(original: String, replacement: String, message: String) throws {
        let url = Repository.seeds.appendingPathComponent("triage/rules.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.contains(original), "fixture no longer matches the rules file")
        let broken = text.replacingOccurrences(of: original, with: replacement)
        let error = #expect(throws: TriageRules.LoadError.self) {
            try TriageRules(json: try JSONParser.parse(broken))
        }
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }
}
