import Foundation
import PropertyBased
import SamuTestSupport
import Testing

@testable import SamuModel

@Suite("Partner outcomes: projection, pseudonyms, suppression, scanner (F16)")
struct PartnerOutcomeTests {
    static let casablanca = Partner(id: "casablanca", nameFrench: "Commune de Casablanca", zones: ["casablanca-anfa"])
    static let rabat = Partner(id: "rabat", nameFrench: "Commune de Rabat", zones: ["casablanca-anfa"])
    static let keyring = PseudonymKeyring.generate(partners: ["casablanca", "rabat"])
    static let reportedAt = RFC3339.parse("2026-01-15T02:10:37.250Z")!

    static func finished(
        _ category: BeneficiaryCategory = .homelessAdult, age: Int? = 44, factors: Set<ReportFactor> = [],
        minor: Bool = false, resolution: Resolution? = .sheltered, bed: BedType? = .men, status: CaseStatus = .resolved,
        caseID: UUID = UUID()
    ) -> FinishedCase {
        FinishedCase(
            caseID: caseID, zone: "casablanca-anfa", category: category, age: age, personCount: 1, factors: factors,
            minor: minor, status: status, resolution: resolution, bedType: bed, reportedAt: reportedAt,
            onSceneAt: reportedAt.addingTimeInterval(1_260), location: GeoPoint(latitude: 33.5951, longitude: -7.6328),
            communeName: nil)
    }

    @Test("an adult's finished case becomes a coarse record; its JSON passes the closed schema and the scanner")
    func adultRecord() throws {
        let commune = Commune(
            code: "sidi-belyout", zone: "casablanca-anfa", nameArabic: "سيدي بليوط", nameFrench: "Sidi Belyout",
            centroid: GeoPoint(latitude: 33.598, longitude: -7.615))
        let record = try #require(
            PartnerRecord.make(Self.finished(), partner: Self.casablanca, commune: commune, keyring: Self.keyring))
        #expect(record.category == .homelessAdult)
        #expect(record.ageBand == .from35To64)
        #expect(record.outcome == .sheltered)
        #expect(record.shelterType == .adult, "a men's bed must not tell the partner the person's sex")
        #expect(record.responseTimeBand == .from15To30Minutes)
        #expect(HourBucket.label(of: record.timeBucket) == "2026-01-15T02:00:00Z/PT1H")
        let json = record.json
        #expect(PartnerPrivacyScanner.scan(json) == [])
        let catalog = try TopicCatalog.load(directory: Repository.root.appendingPathComponent("topics"))
        let definition = catalog.definition(.partnerOutcomes)
        try definition.schemas[1]!.validate(json)
        for example in definition.examples { #expect(PartnerPrivacyScanner.scan(example) == []) }
    }

    @Test(
        "the bed class says neither sex nor facility: a household's beds are family whatever their type, a single woman's family bed is adult"
    )
    func bedClass() throws {
        func shelterType(_ bed: BedType, children: Bool) throws -> PartnerShelterType? {
            try #require(
                PartnerRecord.make(
                    Self.finished(factors: children ? [.withChildren] : [], bed: bed), partner: Self.casablanca,
                    commune: nil, keyring: Self.keyring)
            ).shelterType
        }
        #expect(try shelterType(.womenWithChildren, children: true) == .family)
        #expect(try shelterType(.men, children: true) == .family, "a father's household is a family too")
        #expect(try shelterType(.womenWithChildren, children: false) == .adult, "never a woman's bed by its name")
        #expect(try shelterType(.women, children: false) == .adult)
        #expect(try shelterType(.elderly, children: false) == .elderly)
    }

    @Test("a record's id cannot be derived from its case's id without the partner's key, and is stable for the case")
    func recordIDKeyed() throws {
        let caseID = UUID()
        let record = try #require(
            PartnerRecord.make(
                Self.finished(caseID: caseID), partner: Self.casablanca, commune: nil, keyring: Self.keyring))
        let again = try #require(
            PartnerRecord.make(
                Self.finished(caseID: caseID), partner: Self.casablanca, commune: nil, keyring: Self.keyring))
        #expect(record.eventID == again.eventID, "a republished record keeps its id")
        // What anyone who knows the case could compute: never the record's id.
        for guess in [
            "partner-outcome/casablanca/\(caseID.lowercased)", "partner-outcome/casablanca/\(caseID.uuidString)",
            "casablanca/\(caseID.lowercased)", caseID.lowercased,
        ] {
            #expect(record.eventID != UUID(v5: guess))
        }
        // Another key (another deployment, a rotation), another id for the same case.
        let otherKeys = PseudonymKeyring.generate(partners: ["casablanca"])
        let other = try #require(
            PartnerRecord.make(
                Self.finished(caseID: caseID), partner: Self.casablanca, commune: nil, keyring: otherKeys))
        #expect(other.eventID != record.eventID)
    }

    @Test("minors and victims of violence never get an individual record")
    func protectedGroups() {
        let cases = [
            Self.finished(.childStreetSituation, age: 9, bed: .minors),
            Self.finished(.homelessAdult, age: 16),
            Self.finished(.homelessAdult, age: nil, minor: true),
            Self.finished(.womanViolenceVictim, age: 30, bed: .women),
            Self.finished(.homelessAdult, age: 40, factors: [.violenceInProgress]),
            Self.finished(.mentalDistress, age: 50), Self.finished(.personWithDisability, age: 50),
        ]
        for item in cases {
            #expect(item.protectedGroup != nil)
            #expect(PartnerRecord.make(item, partner: Self.casablanca, commune: nil, keyring: Self.keyring) == nil)
        }
        #expect(Self.finished(.isolatedElderly, age: 81).protectedGroup == nil)
        // Health categories are counted only, under a name that does not say which; open cases wait.
        #expect(Self.finished(.mentalDistress, age: 50).protectedGroup == .otherVulnerable)
        #expect(Self.finished(.personWithDisability, age: 50).protectedGroup == .otherVulnerable)
        // Bed classes say neither sex nor facility.
        #expect(PartnerShelterType(.men, household: false) == PartnerShelterType(.women, household: false))
        #expect(PartnerShelterType(.minors, household: true) == nil)
        #expect(
            PartnerRecord.make(
                Self.finished(status: .onScene), partner: Self.casablanca, commune: nil, keyring: Self.keyring) == nil
        )
    }

    @Test("pseudonyms: stable, different per partner, per quarter and after a key rotation")
    func pseudonyms() throws {
        let subject = UUID()
        let january = RFC3339.parse("2026-01-15T02:00:00Z")!
        let (first, epoch) = try #require(Self.keyring.pseudonym(partner: "casablanca", subject: subject, at: january))
        #expect(first.count == 26 && first.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        #expect(epoch == "2026Q1.k1")
        #expect(Self.keyring.pseudonym(partner: "casablanca", subject: subject, at: january)?.pseudonym == first)
        #expect(Self.keyring.pseudonym(partner: "rabat", subject: subject, at: january)?.pseudonym != first)
        let april = RFC3339.parse("2026-04-02T10:00:00Z")!
        #expect(Self.keyring.pseudonym(partner: "casablanca", subject: subject, at: april)?.pseudonym != first)
        let rotated = Self.keyring.rotated(partner: "casablanca", at: RFC3339.parse("2026-02-01T00:00:00Z")!)
        #expect(rotated.pseudonym(partner: "casablanca", subject: subject, at: january)?.pseudonym == first)
        let february = RFC3339.parse("2026-02-10T00:00:00Z")!
        let after = try #require(rotated.pseudonym(partner: "casablanca", subject: subject, at: february))
        #expect(after.epoch == "2026Q1.k2")
        #expect(
            after.pseudonym != Self.keyring.pseudonym(partner: "casablanca", subject: subject, at: february)?.pseudonym)
        #expect(Self.keyring.pseudonym(partner: "nobody", subject: subject, at: january) == nil)
        // The key file round-trips.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID()).json")
        try Data(rotated.json.serialized.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try PseudonymKeyring.load(file).keys == rotated.keys)
    }

    @Test("base32 matches RFC 4648's test vectors")
    func base32() {
        #expect(Base32.encode(Array("f".utf8)) == "my")
        #expect(Base32.encode(Array("fooba".utf8)) == "mzxw6ytb")
        #expect(Base32.encode(Array("foobar".utf8)) == "mzxw6ytboi")
    }

    static let cells = Gen.int(in: 0...30).array(of: 1...8)
    static let thresholds = Gen.int(in: 3...11)

    @Test("suppression: nothing below the threshold is published or derivable (property-based)")
    func suppression() async {
        await propertyCheck(count: 1000, input: Self.cells, Self.thresholds) { counts, threshold in
            let cells = Dictionary(uniqueKeysWithValues: counts.enumerated().map { ($0.offset, $0.element) })
            let total = counts.reduce(0, +)
            guard let (published, publishedTotal) = SmallCellSuppression.apply(cells, threshold: threshold) else {
                #expect(total < threshold)
                return
            }
            #expect(publishedTotal == total && total >= threshold)
            #expect(published.values.allSatisfy { $0 >= threshold })
            for (key, value) in published { #expect(cells[key] == value) }
            let hidden = cells.filter { $0.value > 0 && published[$0.key] == nil }
            let hiddenSum = hidden.values.reduce(0, +)
            #expect(hiddenSum == 0 || (hiddenSum >= threshold && hidden.count >= 2))
        }
    }

    @Test("suppression hides a complementary cell so that a total cannot reveal a small one")
    func complementary() throws {
        let (published, total) = try #require(SmallCellSuppression.apply(["a": 1, "b": 12, "c": 30], threshold: 3))
        #expect(total == 43)
        #expect(published == ["c": 30])
        #expect(SmallCellSuppression.apply(["a": 1, "b": 1], threshold: 3) == nil)
    }

    static let records = Gen.int(in: 0...2_591).array(of: 0...60)

    /// A record whose quasi-identifiers are the digits of `seed` in mixed radix (commune 3,
    /// category 3, age band 3, outcome 2, hour 24, response band 2): few values each, so that
    /// classes of every size occur.
    static func record(_ seed: Int, index: Int) -> PartnerRecord {
        let base = RFC3339.parse("2026-01-15T00:00:00Z")!
        return PartnerRecord(
            eventID: UUID(), partner: "casablanca", pseudonym: "p\(index)", pseudonymEpoch: "2026Q1.k1",
            provinceCode: "casablanca-anfa", communeCode: ["anfa", "maarif", "sidi-belyout"][seed % 3],
            category: PartnerCategory.allCases[(seed / 3) % 3], ageBand: AgeBand.allCases[(seed / 9) % 3],
            outcome: [.sheltered, .refused][(seed / 27) % 2],
            shelterType: (seed / 27) % 2 == 0 ? .adult : nil,
            timeBucket: base.addingTimeInterval(Double((seed / 54) % 24) * 3600),
            responseTimeBand: [.under15Minutes, .notReached][(seed / 1_296) % 2])
    }

    @Test("k-anonymity: every published record's quasi-identifiers are shared by k published records (property-based)")
    func kAnonymity() async {
        await propertyCheck(count: 200, input: Self.records, Self.thresholds) { seeds, threshold in
            let records = seeds.enumerated().map { Self.record($1, index: $0) }
            let (published, suppressed) = KAnonymity.apply(records, threshold: threshold)
            #expect(published.count + suppressed == records.count)
            // What the partner sees: for each record, the published records that generalise to its class.
            for record in published {
                let shared = published.filter {
                    $0.generalised(to: record.generalisation).quasiIdentifiers == record.quasiIdentifiers
                }
                #expect(
                    shared.count >= threshold, "\(record.quasiIdentifiers) shared by \(shared.count) < \(threshold)")
                #expect(record.generalisation == .hour || record.communeCode == nil)
                if record.generalisation == .day {
                    #expect(record.ageBand == nil && record.responseTimeBand == nil && record.shelterType == nil)
                }
            }
            // Nothing is suppressed that a coarsest class of k could have carried.
            let coarsest = Dictionary(grouping: records) { $0.generalised(to: .day).quasiIdentifiers }
            #expect(suppressed == coarsest.values.filter { $0.count < threshold }.map(\.count).reduce(0, +))
        }
    }

    @Test("k-anonymity keeps the finest level a class allows and buckets time on UTC boundaries")
    func kAnonymityLevels() {
        let alike = (0..<5).map { Self.record(0, index: $0) }
        let (fine, none) = KAnonymity.apply(alike, threshold: 5)
        #expect(none == 0 && fine.allSatisfy { $0.generalisation == .hour && $0.communeCode == "anfa" })
        let json = fine[0].json
        #expect(json["time_bucket"] == "2026-01-15T00:00:00Z/PT1H")
        // Two communes and two hours: together only in the 6-hour class, without a commune.
        // Three more in another commune an hour later: too few alone, enough with the first five
        // in the 6-hour class (which has no commune).
        let mixed = alike + (0..<3).map { Self.record(1 + 54, index: 10 + $0) }
        let (coarser, _) = KAnonymity.apply(mixed, threshold: 5)
        #expect(coarser.count == 8)
        #expect(coarser.filter { $0.generalisation == .sixHours }.count == 3)
        #expect(coarser.first { $0.generalisation == .sixHours }?.json["time_bucket"] == "2026-01-15T00:00:00Z/PT6H")
        #expect(coarser.allSatisfy { PartnerPrivacyScanner.scan($0.json) == [] })
        // One of a kind: held back.
        #expect(KAnonymity.apply([Self.record(5, index: 0)], threshold: 3).published.isEmpty)
    }

    @Test("the scanner finds personal data, positions, fine times and identifiers")
    func scanner() {
        let leaks: [(JSONValue, String)] = [
            (["record": "case_outcome", "phone_number": "x"], "phone"),
            (["record": "case_outcome", "category": "homeless_adult", "extra": "appelez 0612345678"], "phone number"),
            (["record": "case_outcome", "lat": .number(33.5951)], "lat"),
            (["record": "case_outcome", "bucket": "2026-01-15T02:10:00Z"], "finer than the hour"),
            (["record": "case_outcome", "ref": "0d9f6a9e-3c1b-4f5e-9a0b-2b7f3c1d8e01"], "identifier"),
            (["record": "case_outcome", "who": "BK123456"], "identity card"),
            (["record": "case_outcome", "group": "minors"], "minors"),
            (["record": "case_outcome", "contact": "a.b@example.ma"], "e-mail"),
            (["record": "case_outcome", "score": .number(12.345)], "decimals"),
            (["record": "case_outcome", "case_id": "x"], "case_id"),
            // A commune code is the statistics office's dotted code, never a coordinate in disguise.
            (["record": "case_outcome", "commune_code": "33.5951"], "decimals"),
            (["record": "case_outcome", "commune_code": "06.141.01.07 33.5951"], "decimals"),
            (["record": "case_outcome", "category": "06.141.01.07"], "decimals"),
        ]
        for (event, expected) in leaks {
            let findings = PartnerPrivacyScanner.scan(event)
            #expect(findings.contains { $0.contains(expected) }, "\(event.serialized): \(findings)")
        }
        #expect(PartnerPrivacyScanner.scan(["record": "case_outcome", "commune_code": "06.141.01.07"]).isEmpty)
        // A record's own id is opaque, even where its hex digits spell a telephone number or a
        // decimal (a random event id did); the same id in another field is an identifier.
        let id = "3f2a1b4c-1d2e-4f5a-8b9c-061234567890"
        #expect(PartnerPrivacyScanner.scan(["record": "case_outcome", "event_id": .string(id)]).isEmpty)
        let elsewhere = PartnerPrivacyScanner.scan(["record": "case_outcome", "ref": .string(id)])
        #expect(elsewhere == ["/ref: an identifier (UUID)"])
    }

    @Test("communes: the one a report names, else the nearest; partners' thresholds need a recorded decision")
    func communesAndPartners() throws {
        // The statistics office's communes (and Casablanca's arrondissements), by their HCP codes.
        let communes = try CommuneDirectory.load(Repository.seeds.appendingPathComponent("hcp/communes.json"))
        #expect(communes.communes.count > 1_500)
        #expect(communes.commune(zone: "casablanca-anfa", at: nil, named: "SIDI BELYOUT")?.code == "06.141.01.07")
        #expect(communes.commune(zone: "casablanca-anfa", at: nil, named: "المعاريف")?.code == "06.141.01.03")
        #expect(
            communes.commune(
                zone: "casablanca-anfa", at: GeoPoint(latitude: 33.582, longitude: -7.69), named: "nowhere")?
                .nameFrench == "Anfa")
        // Placed by the boundaries: a point in Rabat's médina is in Rabat, although Touarga's
        // centroid (the palace's commune, inside Rabat) is nearer; the palace is in Touarga.
        #expect(communes.hasBoundaries)
        #expect(
            communes.commune(zone: "rabat", at: GeoPoint(latitude: 34.025, longitude: -6.835), named: nil)?.nameFrench
                == "Rabat")
        #expect(
            communes.commune(zone: "rabat", at: GeoPoint(latitude: 34.007, longitude: -6.834), named: nil)?.nameFrench
                == "Touarga")
        #expect(
            communes.commune(
                zone: "casablanca-anfa", at: GeoPoint(latitude: 33.5935, longitude: -7.6187), named: nil)?.code
                == "06.141.01.07")
        // Rabat is one commune for partners (its arrondissements are not told apart).
        #expect(
            communes.commune(zone: "rabat", at: GeoPoint(latitude: 33.95, longitude: -6.85), named: nil)?.nameFrench
                == "Rabat")
        #expect(communes.commune(zone: "nowhere", at: GeoPoint(latitude: 29.7, longitude: -8), named: nil) == nil)
        // Every zone of the deployment has its communes on file.
        let zones = try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json"))
        for zone in zones.codes.sorted() {
            #expect(communes.communes.contains { $0.zone == zone }, "zone \(zone) has no commune on file")
        }
        // The older file shape still loads.
        let older = FileManager.default.temporaryDirectory.appendingPathComponent("communes-\(UUID()).json")
        try Data(
            #"{"communes": [{"code": "x", "zone": "rabat", "centroid": {"lat": 34.0, "lon": -6.8}}]}"#.utf8
        ).write(to: older)
        defer { try? FileManager.default.removeItem(at: older) }
        #expect(try CommuneDirectory.load(older).communes.map(\.code) == ["x"])
        let partners = try PartnerDirectory.load(Repository.seeds.appendingPathComponent("demo/partners.json"))
        #expect(partners.partners(covering: "casablanca-anfa").map(\.id) == ["casablanca"])
        for zone in partners.zones {
            #expect(communes.commune(zone: zone, at: nil, named: nil) == nil)
            #expect(communes.communes.contains { $0.zone == zone }, "partner zone \(zone) has no commune on file")
        }
        func load(_ json: String) -> String? {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("partners-\(UUID()).json")
            try? Data(json.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            do {
                _ = try PartnerDirectory.load(file)
                return nil
            } catch { return error.message }
        }
        #expect(
            load(#"{"partners":[{"id":"a","zones":["rabat"],"min_cell":5}]}"#)?.contains("min_cell_decision") == true)
        #expect(load(#"{"partners":[{"id":"a","zones":["rabat"],"min_cell":2,"min_cell_decision":"x"}]}"#) != nil)
        #expect(load(#"{"partners":[{"id":"a","zones":["rabat"],"min_cell":5,"min_cell_decision":"x"}]}"#) == nil)
    }
}
