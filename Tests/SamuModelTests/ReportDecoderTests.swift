import Crypto
import Foundation
import SamuTestSupport
import Testing

@testable import SamuModel

@Suite("Topic catalog and report validation")
struct ReportDecoderTests {
    let catalog: TopicCatalog
    let decoder: ReportDecoder

    init() throws {
        catalog = try Repository.catalog()
        decoder = ReportDecoder(definition: catalog.definition(.reports))
    }

    @Test("the catalog defines every role once, and its examples pass their schemas")
    func catalogLoads() {
        #expect(catalog.name(.reports) == "samu.reports.v1")
        #expect(catalog.name(.outcomes) == "samu.outcomes.v1")
        #expect(catalog.name(.deadLetters) == "samu.dlq.v1")
        #expect(catalog.withPrefix("t1.").name(.reports) == "t1.samu.reports.v1")
        #expect(catalog.definitions.allSatisfy { !$0.examples.isEmpty })
    }

    @Test(
        "whole numbers written as decimals (3.0, 1.2e1) are the integers they are: a family of three is three, a unit's version 5.0 is 5"
    )
    func wholeNumbersAsDecimals() throws {
        guard case .object(var document) = ReportFixture.document(age: nil) else { throw ReportFixtureError() }
        guard case .object(var person)? = document["person"] else { throw ReportFixtureError() }
        person.set("count", .number(3.0))
        person.set("age", .number(1.2e1))
        document.set("person", .object(person))
        let report = try decoder.decode(value: JSONValue.object(document).serializedBytes).get()
        #expect(report.person.count == 3)
        #expect(report.person.age == 12)
        #expect(JSONValue.number(2.5).integerValue == nil)
        #expect(JSONValue.number(-0.0).integerValue == 0)
        #expect(JSONValue.number(1e300).integerValue == nil)

        let update = try #require(
            CrewReport.simulatedCase(
                UUID(), resolution: .sheltered, from: .init(latitude: 34.02, longitude: -6.84),
                to: .init(latitude: 34.01, longitude: -6.83)
            ).first
        ).unitEvent(
            unitID: "rabat-u1", zone: "rabat", current: (.available, .init(latitude: 34.02, longitude: -6.84)),
            version: 5, at: Date(timeIntervalSince1970: 1_768_443_000))
        guard case .object(var unit) = update else { throw ReportFixtureError() }
        unit.set("version", .number(5.0))
        let decoded = InboundDecoder(catalog: catalog, zones: nil).decode(
            topic: catalog.name(.units), key: Array("rabat".utf8), value: JSONValue.object(unit).serializedBytes)
        guard case .success(let event) = decoded, case .unit(let read) = event.event else {
            Issue.record("a unit event with version 5.0 was not read: \(decoded)")
            return
        }
        #expect(read.version == 5)
    }

    struct ReportFixtureError: Error {}

    @Test("the schema's enumerations are exactly the Swift enumerations")
    func enumsAgree() throws {
        // The newest version names every value (older ones a subset: the compatibility test).
        let versions = catalog.definition(.reports).schemas
        let newest = try #require(versions.keys.max())
        let schema = try #require(versions[newest]).source
        func values(_ value: JSONValue?) -> [String] {
            guard case .array(let items)? = value?["enum"] else { return [] }
            return items.compactMap(\.stringValue)
        }
        let properties = schema["properties"]
        #expect(values(properties?["category"]) == BeneficiaryCategory.allCases.map(\.rawValue))
        #expect(values(properties?["factors"]?["items"]) == ReportFactor.allCases.map(\.rawValue))
        #expect(values(properties?["person"]?["properties"]?["sex"]) == Sex.allCases.map(\.rawValue))
        let dlqReasons = values(catalog.definition(.deadLetters).schemas[1]?.source["properties"]?["reason"])
        #expect(dlqReasons == RejectionReason.allCases.map(\.rawValue))
    }

    @Test("a valid report decodes with every field")
    func valid() throws {
        let id = UUID()
        let report = try decoder.decode(
            value: ReportFixture.bytes(ReportFixture.document(id: id)), key: Array("rabat".utf8), checkKey: true
        ).get()
        #expect(report.id == id)
        #expect(report.zone == "rabat")
        #expect(report.category == .homelessAdult)
        #expect(report.person.age == 54)
        #expect(report.factors == [.aloneAtNight])
        #expect(report.location.latitude == 34.0209)
        #expect(report.notes == "رجل مسن ينام قرب باب الأحد")
        #expect(report.reportedAt.timeIntervalSince1970 == 1_768_443_000)
    }

    static let cases: [(String, [UInt8]?, RejectionReason, String?)] = [
        ("tombstone", nil, .emptyValue, nil),
        ("empty", [], .emptyValue, nil),
        ("not JSON", Array("zone=rabat".utf8), .notJSON, nil),
        ("truncated", Array(#"{"schema_version":1,"event_id":"#.utf8), .notJSON, nil),
        ("invalid UTF-8", [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], .invalidUTF8, nil),
        ("an array", Array("[1,2]".utf8), .notAnObject, nil),
        ("no version", Array(#"{"event_id":"x"}"#.utf8), .schemaVersionMissing, "/schema_version"),
        (
            "version 9 (unknown)",
            edit { $0.replacingOccurrences(of: #""schema_version":1"#, with: #""schema_version":9"#) },
            .schemaVersionUnknown, "/schema_version"
        ),
        (
            "version as text",
            edit { $0.replacingOccurrences(of: #""schema_version":1"#, with: #""schema_version":"1""#) },
            .schemaVersionUnknown, "/schema_version"
        ),
        (
            "unknown category", edit { $0.replacingOccurrences(of: "homeless_adult", with: "tourist") },
            .schemaViolation, "/category"
        ),
        (
            "age 340", edit { $0.replacingOccurrences(of: #""age":54"#, with: #""age":340"#) }, .schemaViolation,
            "/person/age"
        ),
        (
            "age as text", edit { $0.replacingOccurrences(of: #""age":54"#, with: #""age":"54""#) }, .schemaViolation,
            "/person/age"
        ),
        (
            "latitude in Spain", edit { $0.replacingOccurrences(of: "34.0209", with: "40.4168") }, .schemaViolation,
            "/location/lat"
        ),
        (
            "bad uuid", edit { $0.replacingOccurrences(of: #""event_id":""#, with: #""event_id":"x"#) },
            .schemaViolation, "/event_id"
        ),
        (
            "bad time", edit { $0.replacingOccurrences(of: "2026-01-15T02:10:00Z", with: "15/01/2026 02:10") },
            .schemaViolation, "/reported_at"
        ),
        (
            "unknown field", edit { $0.replacingOccurrences(of: #""channel":"#, with: #""name":"Ahmed","channel":"#) },
            .schemaViolation, "/name"
        ),
        (
            "missing zone", edit { $0.replacingOccurrences(of: #""zone":"rabat","#, with: "") }, .schemaViolation,
            "/zone"
        ),
        (
            "bad zone", edit { $0.replacingOccurrences(of: #""zone":"rabat""#, with: #""zone":"Rabat Salé""#) },
            .schemaViolation, "/zone"
        ),
        (
            "duplicate key",
            edit { $0.replacingOccurrences(of: #""zone":"rabat""#, with: #""zone":"rabat","zone":"sale""#) },
            .duplicateKey, nil
        ),
        ("oversized", Array(repeating: UInt8(ascii: " "), count: 70_000), .oversized, nil),
        (
            "unknown factor", edit { $0.replacingOccurrences(of: "alone_at_night", with: "drunk") }, .schemaViolation,
            "/factors/0"
        ),
    ]

    static func edit(_ change: (String) -> String) -> [UInt8] {
        Array(change(ReportFixture.document().serialized).utf8)
    }

    @Test("every kind of bad input is refused with its reason and field", arguments: Self.cases)
    func refused(name: String, bytes: [UInt8]?, reason: RejectionReason, field: String?) {
        let result = decoder.decode(value: bytes, key: Array("rabat".utf8), checkKey: true)
        guard case .failure(let rejection) = result else {
            Issue.record("\(name) was accepted")
            return
        }
        #expect(rejection.reason == reason, "\(name): \(rejection)")
        #expect(rejection.field == field, "\(name): \(rejection)")
        #expect(!rejection.detail.isEmpty)
    }

    @Test("the record key must be the report's zone")
    func keyMismatch() {
        let bytes = ReportFixture.bytes(ReportFixture.document(zone: "rabat"))
        #expect(throws: Rejection.self) {
            try decoder.decode(value: bytes, key: Array("sale".utf8), checkKey: true).get()
        }
        #expect(throws: Rejection.self) { try decoder.decode(value: bytes, key: nil, checkKey: true).get() }
        #expect(throws: Never.self) { try decoder.decode(value: bytes, key: nil).get() }
    }

    @Test("derived ids follow RFC 9562's version 5 and are stable")
    func uuidV5() throws {
        let dns = try #require(UUID(uuidString: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"))
        #expect(UUID(v5: "www.example.com", namespace: dns).lowercased == "2ed6657d-e927-568b-95e1-2665a8aea6a2")
        for bad in [
            "", "6f1c3b9e-5d1a-4c8e-9a57-5a3f0e2b7c4", "6f1c3b9e-5d1a-4c8e-9a57-5a3f0e2b7c411",
            "6f1c3b9e5d1a-4c8e-9a57-5a3f0e2b7c41-", "6f1c3b9e-5d1a-4c8e-9a57-5a3f0e2b7c4g",
            "{6f1c3b9e-5d1a-4c8e-9a57-5a3f0e2b7c41}",
        ] {
            #expect(UUID(canonical: bad) == nil, "\(bad)")
        }
        for _ in 0..<1000 {
            let id = UUID()
            #expect(id.lowercased == id.uuidString.lowercased())
            #expect(UUID(canonical: id.uuidString) == id)
            #expect(UUID(canonical: id.lowercased) == id)
        }
        let report = UUID()
        #expect(DerivedID.caseID(forReport: report) == DerivedID.caseID(forReport: report))
        #expect(DerivedID.caseID(forReport: report) != DerivedID.caseID(forReport: UUID()))
    }

    @Test("outbound events validate against their own topic schemas")
    func outboundValid() throws {
        let report = try decoder.decode(value: ReportFixture.bytes(ReportFixture.document())).get()
        let outcome = CaseOutcome.received(report: report, caseID: DerivedID.caseID(forReport: report.id), at: Date())
        try #require(catalog.definition(.outcomes).schemas[1]).validate(outcome.json)
        let letter = DeadLetter(
            rejection: Rejection(reason: .notJSON, detail: "x", field: nil), sourceTopic: "t", sourcePartition: 1,
            sourceOffset: 9, sourceTimestampMilliseconds: 5, key: [1], value: [0xFF],
            headers: [.init(name: "h", value: nil)],
            rejectedAt: Date(), rejectedBy: "w")
        try #require(catalog.definition(.deadLetters).schemas[1]).validate(letter.json)
    }
}

@Suite("Input PostgreSQL or the deployment cannot take")
struct UnstorableInputTests {
    let catalog: TopicCatalog
    init() throws { catalog = try Repository.catalog() }

    func report(notes: String, zone: String = "rabat") -> [UInt8] {
        let document = ReportFixture.document(zone: zone).serialized
        return Array(
            document.replacingOccurrences(of: JSONValue.string("رجل مسن ينام قرب باب الأحد").serialized, with: notes)
                .utf8)
    }

    @Test(
        "U+0000 anywhere in a string or key is refused with its field; an escaped backslash before u0000 is text",
        arguments: [
            (#""a\u0000b""#, "/notes"), (#""\u0000""#, "/notes"), (#""ok","x\u0000":1"#, "/x"),
        ])
    func nul(notes: String, field: String) {
        let decoder = ReportDecoder(definition: catalog.definition(.reports))
        guard case .failure(let rejection) = decoder.decode(value: report(notes: notes)) else {
            Issue.record("accepted \(notes)")
            return
        }
        // An unknown key fails the closed schema first; U+0000 in a value is its own reason.
        if field == "/notes" {
            #expect(rejection.reason == .nulCharacter)
            #expect(rejection.field == field)
        } else {
            #expect(rejection.reason == .schemaViolation)
        }
    }

    @Test("text that merely looks like the escape is accepted")
    func notNul() throws {
        let decoder = ReportDecoder(definition: catalog.definition(.reports))
        let report = try decoder.decode(value: report(notes: #""C:\\u0000 and \\\\u0000""#)).get()
        #expect(report.notes?.contains("\u{0}") == false)
    }

    @Test("U+0000 inside an array of a unit update is refused by the inbound decoder too")
    func nulInUnit() {
        let decoder = InboundDecoder(catalog: catalog, zones: nil)
        let value =
            #"{"schema_version":1,"event_id":"6b0c3f53-3a6f-4c48-9b43-4c9f5f2c1a01","zone":"rabat","unit_id":"r\u0000","version":1,"status":"available","position":{"lat":34.0,"lon":-6.8}}"#
        let result = decoder.decode(topic: catalog.name(.units), key: Array("rabat".utf8), value: Array(value.utf8))
        guard case .failure(let rejection) = result else {
            Issue.record("accepted")
            return
        }
        #expect(rejection.reason == .nulCharacter || rejection.reason == .schemaViolation)
    }

    @Test("a zone outside the deployment's provinces is refused (official code, nonsense); seeded zones pass")
    func unknownZone() throws {
        let zones = try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json"))
        #expect(zones.codes.count == 82)
        let decoder = ReportDecoder(definition: catalog.definition(.reports), zones: zones)
        for zone in ["casablanca", "zz-nowhere"] {
            let bytes = ReportFixture.bytes(ReportFixture.document(zone: zone))
            guard case .failure(let rejection) = decoder.decode(value: bytes) else {
                Issue.record("\(zone) accepted")
                continue
            }
            #expect(rejection.reason == .unknownZone)
            #expect(rejection.field == "/zone")
        }
        for zone in ["rabat", "casablanca-anfa", "aousserd"] {
            #expect(throws: Never.self) {
                try decoder.decode(value: ReportFixture.bytes(ReportFixture.document(zone: zone))).get()
            }
        }
        let inbound = InboundDecoder(catalog: catalog, zones: zones)
        let record = ReportFixture.bytes(ReportFixture.document(zone: "zz-nowhere"))
        guard
            case .failure(let rejection) = inbound.decode(
                topic: catalog.name(.reports), key: Array("zz-nowhere".utf8), value: record)
        else {
            Issue.record("the worker's decoder accepted an unknown zone")
            return
        }
        #expect(rejection.reason == .unknownZone)
    }

    @Test("a dead letter of a record with a huge key and headers stays under its bound and passes its schema")
    func deadLetterBounded() throws {
        let letter = DeadLetter(
            rejection: Rejection(reason: .notJSON, detail: "x"), sourceTopic: "t", sourcePartition: 0,
            sourceOffset: 1, sourceTimestampMilliseconds: nil, key: Array(repeating: 7, count: 960_000),
            value: Array(repeating: 1, count: 1_000_000),
            headers: (0..<40).map { .init(name: "h\($0)", value: Array(repeating: 2, count: 30_000)) },
            rejectedAt: Date(), rejectedBy: "w")
        let json = letter.json
        try #require(catalog.definition(.deadLetters).schemas[1]).validate(json)
        let size =
            json.serialized.utf8.count + (letter.keptKey?.count ?? 0)
            + letter.keptHeaders.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
        #expect(size <= DeadLetter.maximumRecordBytes)
        #expect(DeadLetter.maximumRecordBytes < 1_000_000)
        #expect(letter.keptKey == nil)
        #expect(letter.keptHeaders.count == DeadLetter.maximumHeaders)
        #expect(json["original"]?["key_size"] == 960_000)
        #expect(json["original"]?["headers_truncated"] == true)
        #expect(json["original"]?["value_truncated"] == true)
        // A small record is kept whole, with no truncation marks.
        let small = DeadLetter(
            rejection: Rejection(reason: .notJSON, detail: "x"), sourceTopic: "t", sourcePartition: 0,
            sourceOffset: 1, sourceTimestampMilliseconds: nil, key: Array("rabat".utf8), value: [1, 2],
            headers: [.init(name: "a", value: [3])], rejectedAt: Date(), rejectedBy: "w")
        #expect(small.keptKey == Array("rabat".utf8))
        #expect(small.keptHeaders == small.headers)
        #expect(small.json["original"]?["headers_truncated"] == nil)
        #expect(small.json["original"]?["key_truncated"] == nil)
    }
}

@Suite("Schema evolution (F12)")
struct SchemaEvolutionTests {
    let catalog: TopicCatalog
    init() throws { catalog = try Repository.catalog() }

    /// A topic's schema with `change` applied to its top level.
    func edited(_ schema: JSONValue, _ change: (inout JSONObject) -> Void) -> JSONValue {
        guard case .object(var object) = schema else { return schema }
        change(&object)
        return .object(object)
    }

    func properties(_ schema: JSONValue, _ change: (inout JSONObject) -> Void) -> JSONValue {
        edited(schema) { object in
            guard case .object(var properties)? = object["properties"] else { return }
            change(&properties)
            object.set("properties", .object(properties))
        }
    }

    @Test("every topic's successive schema versions are compatible (the check new versions must pass)")
    func catalogCompatible() {
        for definition in catalog.definitions {
            let versions = definition.schemas.keys.sorted()
            for (old, new) in zip(versions, versions.dropFirst()) {
                let changes = SchemaCompatibility.breakingChanges(
                    from: definition.schemas[old]!.source, to: definition.schemas[new]!.source)
                #expect(changes.isEmpty, "\(definition.name) v\(old) → v\(new): \(changes)")
            }
        }
    }

    @Test("a new optional field is compatible; a removed required field, a changed type or a removed enum value is not")
    func breakingChanges() {
        let v1 = catalog.definition(.reports).schemas[1]!.source
        let v2 = properties(v1) { $0.set("callback_window_minutes", ["type": "integer", "minimum": 0]) }
        #expect(SchemaCompatibility.breakingChanges(from: v1, to: v2) == [])
        let removed = properties(v1) { $0.remove("zone") }
        #expect(SchemaCompatibility.breakingChanges(from: v1, to: removed).contains { $0.hasPrefix("/zone: removed") })
        let retyped = properties(v1) { $0.set("temperature_c", ["type": "string"]) }
        #expect(SchemaCompatibility.breakingChanges(from: v1, to: retyped).contains { $0.contains("type changed") })
        let narrowed = properties(v1) { $0.set("channel", ["enum": ["hotline"]]) }
        #expect(
            SchemaCompatibility.breakingChanges(from: v1, to: narrowed).contains { $0.contains("enumeration value") })
        let required = edited(v1) { object in
            let list = (object["required"]?.arrayValue ?? []) + [.string("notes")]
            object.set("required", .array(list))
        }
        #expect(SchemaCompatibility.breakingChanges(from: v1, to: required).contains { $0.contains("required now") })
    }
}

@Suite("Derived ids")
struct DerivedIDTests {
    @Test("derived ids are RFC 9562's version 5 over the names they always had")
    func derivedIDsKeepTheirNames() {
        // The reference: SHA-1 over the namespace's bytes and the name, as arrays.
        func reference(_ name: String) -> UUID {
            var input = unsafe withUnsafeBytes(of: UUID.samuNamespace.uuid) { unsafe Array($0) }
            input.append(contentsOf: name.utf8)
            var bytes = Array(Insecure.SHA1.hash(data: input).prefix(16))
            bytes[6] = (bytes[6] & 0x0F) | 0x50
            bytes[8] = (bytes[8] & 0x3F) | 0x80
            return UUID(
                uuid: (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                    bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                ))
        }
        // Pinned by an independent implementation (Python's uuid.uuid5 over the same names): a change
        // to the namespace or the derivation would orphan every stored id.
        let report = UUID(uuidString: "0d1f6c2a-3b4e-4f5a-8b6c-7d8e9f0a1b2c")!
        let caseID = DerivedID.caseID(forReport: report)
        #expect(caseID.lowercased == "8643cd24-ab42-5366-a943-ba9e586c32df")
        #expect(
            DerivedID.outcomeID(caseID: caseID, transition: "received", channel: "outcomes").lowercased
                == "a7ff3cdf-9258-528e-bd90-b13c08e6a3ea")
        for index in 0..<300 {
            let id = UUID()
            let transition = ["received", "triaged", "", "é/ⵣ"][index % 4]
            #expect(DerivedID.caseID(forReport: id) == reference("case/\(id.uuidString.lowercased())"))
            #expect(
                DerivedID.outcomeID(caseID: id, transition: transition, channel: "outcomes")
                    == reference("outcome/\(id.uuidString.lowercased())/\(transition)/outcomes"))
            #expect(UUID(v5: "outcome/x/\(index)") == reference("outcome/x/\(index)"))
            #expect(UUID(v5bytes: Array("dlq/t/\(index)".utf8)) == reference("dlq/t/\(index)"))
        }
    }

    @Test("the allocation-free UUIDv5 over a UUID and a number equals the byte-array derivation")
    func sameAsBytes() {
        for number: UInt32 in [0, 1, 7, 65_536] {
            let base = UUID()
            var name = unsafe withUnsafeBytes(of: base.uuid) { unsafe Array($0) }
            unsafe withUnsafeBytes(of: number.bigEndian) { unsafe name.append(contentsOf: $0) }
            #expect(UUID(v5: base, number) == UUID(v5bytes: name))
        }
    }

    @Test("derived decision ids are stable, distinct, and marked version 8")
    func derived() {
        let base = UUID()
        let ids = (0..<1000).map { UUID(derivedFrom: base, UInt32($0)) }
        #expect(Set(ids).count == 1000)
        #expect(UUID(derivedFrom: base, 3) == ids[3])
        #expect(ids.allSatisfy { $0.uuidString.dropFirst(14).first == "8" })
        #expect(UUID(derivedFrom: UUID(), 3) != ids[3])
    }
}

@Suite("Schema patterns without a regular expression")
struct PatternShapeTests {
    /// Every pattern of samu's topics, and what matches them: the byte scans against
    /// `NSRegularExpression` on random strings over the characters that matter.
    @Test("the topics' patterns are matched by byte scans that agree with the regular expressions")
    func shapesAgreeWithRegularExpressions() throws {
        var sources = Set<String>()
        func collect(_ value: JSONValue) {
            switch value {
            case .object(let object):
                for (key, child) in object.entries {
                    if key == "pattern", let source = child.stringValue {
                        sources.insert(source)
                    } else {
                        collect(child)
                    }
                }
            case .array(let items): items.forEach(collect)
            default: break
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: Repository.topics.path)
        for file in files where file.hasSuffix(".json") {
            collect(try JSONParser.parse(Array(try Data(contentsOf: Repository.topics.appendingPathComponent(file)))))
        }
        let shaped = sources.filter { JSONSchema.Shape($0) != nil }
        // The hot path's patterns (zones, ids, telephone numbers, digests) all have a byte scan.
        for source in [
            "^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "^[a-z0-9][a-z0-9-]{0,47}$", "^[a-z0-9][a-z0-9-]{0,63}$",
            "^\\+?[0-9 ]{6,20}$", "^[0-9a-f]{64}$",
        ] {
            #expect(shaped.contains(source), "\(source) is not among the topics' patterns with a byte scan")
        }
        let alphabet = Array("ab9z0-+ AéF")
        var random = SplitMix64(seed: 2026)
        let examples = [
            "rabat", "casablanca-anfa", "s-1", "u-12", "+212 661 00 00 00", "0661000000",
            String(repeating: "ab", count: 32),
        ]
        for source in shaped {
            let pattern = try JSONSchema.Pattern(source: source)
            let regex = try NSRegularExpression(pattern: source)
            func expected(_ text: String) -> Bool {
                regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            }
            var matched = 0
            for _ in 0..<4000 {
                let length = Int(random.next() % 24)
                let text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
                #expect(pattern.matches(text) == expected(text), "\(source) on \(text.debugDescription)")
                if expected(text) { matched += 1 }
            }
            for text in examples {
                #expect(pattern.matches(text) == expected(text), "\(source) on \(text)")
                if expected(text) { matched += 1 }
                // ICU's `$` also matches before a final line break; ECMA-262's (JSON Schema's) does not.
                #expect(!pattern.matches(text + "\n"), "\(source) matched \(text) with a line break")
            }
            #expect(matched > 0, "\(source): no text matched, only refusals were compared")
        }
    }
}
