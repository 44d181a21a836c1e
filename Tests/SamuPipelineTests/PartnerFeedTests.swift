import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuPipeline
import SamuTestSupport
import SamuWeb
import Testing

@testable import SamuStore

/// Partner outcomes end to end: reports through the real worker, cases closed by operators, the
/// partner feed publishing pseudonymised records and suppressed aggregates, every event audited.
@Suite("Partner outcomes through the real broker and PostgreSQL (integration, F16)", .timeLimit(.minutes(3)))
struct PartnerFeedTests {
    let harness: PipelineHarness
    let zone = "casablanca-anfa"

    init() throws {
        harness = try PipelineHarness()
    }

    struct Person {
        var id = UUID()
        var category: String
        var age: Int64?
        var factors: [String] = []
        var resolution: String
        var protected: Bool {
            category == "child_street_situation" || category == "woman_violence_victim" || (age ?? 99) < 18
        }
    }

    /// This test's two partners of the zone: a commune and the prefecture's council.
    var partnerIDs: [String] { ["casa-\(harness.id)", "prov-\(harness.id)"] }

    func partners(casablancaCell: Int, prefectureCell: Int) -> PartnerDirectory {
        PartnerDirectory(
            zip(partnerIDs, [("Commune de Casablanca", casablancaCell), ("Conseil préfectoral", prefectureCell)]).map {
                Partner(
                    id: $0, nameFrench: $1.0, zones: [zone], minimumCell: $1.1, minimumCellDecision: "test")
            })
    }

    func report(_ person: Person, minute: Int) -> KafkaRecord {
        let document = ReportFixture.document(
            id: person.id, zone: zone, category: person.category,
            reportedAt: String(format: "2026-01-15T01:%02d:17.250Z", minute), age: person.age,
            extra: [("reporter", ["name": "Karim Bennani", "phone": "+212612345678"])])
        guard case .object(var object) = document else { preconditionFailure() }
        object = JSONObject(
            object.entries.map { entry in
                switch entry.key {
                case "location":
                    return (
                        entry.key,
                        [
                            "lat": .number(33.5951 + Double(minute) * 0.0001), "lon": -7.6328,
                            "commune": "Sidi Belyout", "description": "قرب محطة القطار الدار البيضاء الميناء",
                        ]
                    )
                case "factors": return (entry.key, .array(person.factors.map { .string($0) }))
                case "notes": return (entry.key, "يتصل من 0661234567، بطاقة BK123456")
                default: return entry
                }
            })
        return harness.reportRecord(.object(object))
    }

    func close(_ person: Person) -> KafkaRecord {
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(UUID().uuidString.lowercased()))
        object.append("zone", .string(zone))
        object.append("case_id", .string(DerivedID.caseID(forReport: person.id).lowercased))
        object.append("command", "close")
        object.append("operator_id", "op-samira")
        object.append("resolution", .string(person.resolution))
        object.append("reason", "closed by the crew's phone call")
        object.append("issued_at", "2026-01-15T03:00:00Z")
        return KafkaRecord(
            topic: harness.catalog.name(.commands), key: harness.areas.key(for: zone),
            value: Array(JSONValue.object(object).serialized.utf8))
    }

    /// A child-protection body's decision on a minor's referral: a child's case closes only after it.
    func decideReferral(_ person: Person) -> KafkaRecord {
        var object = JSONObject()
        object.append("schema_version", 2)
        object.append("event_id", .string(UUID().uuidString.lowercased()))
        object.append("zone", .string(zone))
        object.append("case_id", .string(DerivedID.caseID(forReport: person.id).lowercased))
        object.append("command", "decide_referral")
        object.append("decision", "child_protection_centre")
        object.append("operator_id", "cp-office")
        object.append("operator_role", "child_protection")
        object.append("reason", "placed by the judge")
        object.append("issued_at", "2026-01-15T02:55:00Z")
        return KafkaRecord(
            topic: harness.catalog.name(.commands), key: harness.areas.key(for: zone),
            value: Array(JSONValue.object(object).serialized.utf8))
    }

    @Test("adults get pseudonymised records, minors and victims of violence only suppressed counts; nothing leaks")
    func partnerNight() async throws {
        try await harness.prepare(partners: partnerIDs)
        var people: [Person] = []
        for index in 0..<10 {
            people.append(
                Person(
                    category: "homeless_adult", age: Int64(20 + index * 5),
                    resolution: index % 3 == 0 ? "help_refused" : "sheltered"))
        }
        for index in 0..<3 {
            people.append(Person(category: "isolated_elderly", age: Int64(70 + index), resolution: "taken_to_hospital"))
        }
        people.append(Person(category: "homeless_adult", age: 34, factors: ["with_children"], resolution: "sheltered"))
        for index in 0..<5 {
            people.append(
                Person(
                    category: "child_street_situation", age: Int64(8 + index), resolution: "referred_child_protection"))
        }
        // A 16-year-old reported as a homeless adult is still a minor for partners.
        people.append(Person(category: "homeless_adult", age: 16, resolution: "referred_child_protection"))
        for _ in 0..<2 { people.append(Person(category: "woman_violence_victim", age: 31, resolution: "sheltered")) }
        let partners = partners(casablancaCell: 3, prefectureCell: 5)
        let keyring = PseudonymKeyring.generate(partners: partners.partners.map(\.id))
        let feed = PartnerFeed.Configuration(
            partners: partners,
            communes: try CommuneDirectory.load(Repository.seeds.appendingPathComponent("hcp/communes.json")),
            keyring: keyring, interval: .milliseconds(200), dayGrace: .zero)
        try await harness.withWorker(partnerFeed: feed) { _ in
            try await harness.produce(people.enumerated().map { report($1, minute: $0) })
            let opened = try await eventually(timeout: .seconds(40)) {
                try await harness.withStore { try await $0.counts().cases } == people.count
            }
            #expect(opened)
            try await harness.produce(people.filter { ($0.age ?? 99) < 18 }.map(decideReferral) + people.map(close))
            // k-anonymity by hand, from the people above (all reported in one commune and hour, none
            // reached): k = 3 publishes the 4 sheltered adults of 35–64 and the 3 elderly as they
            // are, the other 2 sheltered and the 4 who refused help per day without age band, and
            // holds back the one family; k = 5 publishes only the 6 sheltered adults, per day.
            // Each partner also gets the minors' count (6).
            let published = try await eventually(timeout: .seconds(40)) {
                let events = try await harness.readPartnerOutcomes(partnerIDs)
                return events.count >= 13 + 1 + 6 + 1
            }
            #expect(published, "partner events did not arrive")
        }
        let messages = try await harness.readPartnerOutcomes(partnerIDs)
        // Each partner's topic holds its own records only.
        for partner in partnerIDs {
            let report = try await PartnerAudit.scanTopic(
                partner: partner, configuration: harness.configuration, catalog: harness.catalog,
                logger: harness.logger)
            #expect(report.violations == [], "\(report.violations.prefix(3))")
            #expect(report.events > 0)
        }
        let audit = PartnerAudit(catalog: harness.catalog).audit(messages: messages)
        #expect(audit.violations == [], "\(audit.violations.prefix(5))")
        #expect(audit.conflictingDuplicates == 0)
        let events = messages.compactMap { $0.value.flatMap { try? JSONParser.parse($0) } }
        let records = events.filter { $0["record"]?.stringValue == "case_outcome" }
        #expect(messages.count == 21)
        #expect(Set(records.compactMap { $0["event_id"]?.stringValue }).count == 19)
        for message in messages {
            let event = try #require(message.value.flatMap { try? JSONParser.parse($0) })
            #expect(message.key.map { String(decoding: $0, as: UTF8.self) } == event["partner"]?.stringValue)
            // The broker timestamp is the start of the record's bucket, never its publication time.
            let bucket =
                event["time_bucket"]?.stringValue.map { String($0.prefix(20)) }
                ?? event["day"]?.stringValue.map { $0 + "T00:00:00Z" }
            let start = try #require(bucket.flatMap(RFC3339.parse))
            #expect(message.timestampMilliseconds == Int64(start.timeIntervalSince1970 * 1000))
        }
        // Join back: every pseudonym belongs to an adult case, through the key holder only.
        var byPseudonym: [String: Person] = [:]
        for person in people {
            for partner in partners.partners {
                let bucket = RFC3339.parse("2026-01-15T01:00:00Z")!
                let pseudonym = try #require(
                    keyring.pseudonym(partner: partner.id, subject: DerivedID.caseID(forReport: person.id), at: bucket))
                byPseudonym[pseudonym.pseudonym] = person
            }
        }
        for record in records {
            let person = try #require(byPseudonym[record["pseudonym"]?.stringValue ?? ""], "unknown pseudonym")
            #expect(!person.protected, "a protected person has an individual record")
            #expect(record["category"]?.stringValue != "family", "the only family was unique: held back")
            switch record["time_bucket"]?.stringValue {
            case "2026-01-15T01:00:00Z/PT1H"?:
                #expect(record["commune_code"]?.stringValue == "06.141.01.07")
                #expect(record["age_band"] != nil)
            case "2026-01-15T00:00:00Z/P1D"?:
                #expect(record["commune_code"] == nil && record["age_band"] == nil)
                #expect(record["shelter_type"] == nil && record["response_time_band"] == nil)
            default:
                Issue.record("unexpected bucket: \(record.serialized)")
            }
        }
        // What each partner sees is k-anonymous: each record's combination, at its own level, is
        // shared by at least the partner's threshold among the records it received.
        for (partner, k) in [("casa-\(harness.id)", 3), ("prov-\(harness.id)", 5)] {
            let mine = records.filter { $0["partner"]?.stringValue == partner }
            func key(_ record: JSONValue, day: Bool) -> String {
                let fields =
                    day
                    ? ["category", "outcome"]
                    : [
                        "commune_code", "time_bucket", "age_band", "category", "outcome", "shelter_type",
                        "response_time_band",
                    ]
                return fields.map { record[$0]?.stringValue ?? "-" }.joined(separator: "|")
            }
            for record in mine {
                let day = record["time_bucket"]?.stringValue?.hasSuffix("P1D") == true
                let shared = mine.filter { key($0, day: day) == key(record, day: day) }.count
                #expect(shared >= k, "\(partner): \(record.serialized) shared by \(shared)")
            }
        }
        let casaRecords = records.filter { $0["partner"]?.stringValue == "casa-\(harness.id)" }
        let provRecords = records.filter { $0["partner"]?.stringValue == "prov-\(harness.id)" }
        let casaPseudonyms = Set(casaRecords.compactMap { $0["pseudonym"]?.stringValue })
        let provPseudonyms = Set(provRecords.compactMap { $0["pseudonym"]?.stringValue })
        #expect(casaPseudonyms.count == 13 && provPseudonyms.count == 6)
        #expect(casaPseudonyms.isDisjoint(with: provPseudonyms), "pseudonyms linkable across partners")
        #expect(records.allSatisfy { ["adult", nil].contains($0["shelter_type"]?.stringValue) })
        // Minors: 6 (one published cell of 6 referrals) for both; victims of violence: 2, below 3: nothing.
        let aggregates = events.filter { $0["record"]?.stringValue == "daily_aggregate" }
        #expect(aggregates.count == 2, "\(aggregates.map(\.serialized))")
        for minors in aggregates {
            #expect(minors["group"]?.stringValue == "minors")
            #expect(minors["total"]?.integerValue == 6)
            #expect(minors["outcomes"]?["referred_social"]?.integerValue == 6, "\(minors.serialized)")
        }
        // The database keeps what partners got, without case ids.
        let stored = try await harness.withStore { store in
            let rows = try await store.client.query("select count(*) from partner_records", logger: harness.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return -1
        }
        #expect(stored == 19)
        try await harness.cleanUp()
    }

    @Test("the audit refuses record timestamps finer than the hour and headers off the allow-list")
    func auditTimestampsAndHeaders() throws {
        let catalog = try Repository.catalog()
        let example = try #require(catalog.definition(.partnerOutcomes).examples.first)
        let id = try #require(example["event_id"]?.stringValue)
        func message(_ timestamp: Int64?, _ headers: [KafkaHeader]) -> KafkaMessage {
            KafkaMessage(
                topic: "t", partition: 0, offset: 0, key: nil, value: Array(example.serialized.utf8), headers: headers,
                timestampMilliseconds: timestamp)
        }
        let audit = PartnerAudit(catalog: catalog)
        let hour: Int64 = 1_768_438_800_000  // 2026-01-15T01:00:00Z
        #expect(
            audit.audit(messages: [message(hour, [KafkaHeader(name: "samu-event-id", string: id)])]).violations == [])
        #expect(audit.audit(messages: [message(hour + 17_250, [])]).violations.count == 1)
        #expect(
            audit.audit(messages: [message(hour, [KafkaHeader(name: "samu-stages", string: "1,2")])]).violations.count
                == 1)
        #expect(
            audit.audit(messages: [message(hour, [KafkaHeader(name: "samu-event-id", string: "x")])]).violations.count
                == 1)
    }

    /// The SQLSTATE and message PostgreSQL answered with, or `nil` if the statement ran.
    func refusal(_ store: SamuStore, _ sql: String) async -> String? {
        do {
            let rows = try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: harness.logger)
            for try await _ in rows {}
            return nil
        } catch let error as PSQLError {
            return "\(error.serverInfo?[.sqlState] ?? "?") \(error.serverInfo?[.message] ?? "\(error)")"
        } catch {
            return "\(error)"
        }
    }

    @Test("least privilege: the worker runs as its own role; a partner's role reads only its own pseudonymised rows")
    func leastPrivilege() async throws {
        try await harness.prepare(partners: partnerIDs)
        let partners = partners(casablancaCell: 3, prefectureCell: 3)
        let workerRole = "samu_w_\(harness.id)"
        let consoleRole = "samu_c_\(harness.id)"
        let casaRole = DatabaseRoles.partnerRole("casa-\(harness.id)")
        let password = UUID().uuidString
        let roles = DatabaseRoles(
            workerRole: workerRole, consoleRole: consoleRole, partners: partners.partners.map(\.id),
            passwords: [workerRole: password, consoleRole: password, casaRole: password])
        try await harness.withStore { store in
            try await store.apply(roles)
            try await store.apply(roles)  // idempotent
        }
        let asWorker = try harness.connecting(as: workerRole, password: password)
        let asPartner = try harness.connecting(as: casaRole, password: password)
        do {
            let people = (0..<4).map {
                Person(category: "homeless_adult", age: Int64(30 + $0), resolution: "sheltered")
            }
            let feed = PartnerFeed.Configuration(
                partners: partners,
                communes: try CommuneDirectory.load(Repository.seeds.appendingPathComponent("hcp/communes.json")),
                keyring: PseudonymKeyring.generate(partners: partners.partners.map(\.id)),
                interval: .milliseconds(200), dayGrace: .zero)
            // The whole pipeline, partner feed included, with nothing but the worker's grants.
            try await asWorker.withWorker(partnerFeed: feed) { worker in
                try await harness.produce(people.enumerated().map { report($1, minute: $0) })
                let opened = try await eventually(timeout: .seconds(40)) {
                    try await harness.withStore { try await $0.counts().cases } == people.count
                }
                #expect(opened)
                try await harness.produce(people.map(close))
                let published = try await eventually(timeout: .seconds(40)) {
                    try await harness.readPartnerOutcomes(partnerIDs).count >= people
                        .count * 2
                }
                #expect(published)
                #expect(worker.statistics.snapshot.casesOpened == people.count)
            }
            try await asWorker.withStore { store in
                for sql in [
                    "delete from cases", "delete from case_timeline", "update case_timeline set actor = 'x'",
                    "truncate outbox", "update partner_records set outcome = 'x'", "delete from partner_records",
                    "create table worker_was_here (id int)", "drop table decisions",
                    "alter table cases add column x int",
                    // Tables it only appends to: no UPDATE.
                    "update reports set category = 'x'", "update decisions set reason = 'x'",
                    "update processed_events set topic = 'x'", "update follow_ups set zone = 'x'",
                    "create temp table worker_temp (id int)", "create table public.worker_was_here (id int)",
                    "insert into ref_zones (code, region, kind, name_ar, name_fr, name_en, source, external) values ('x', 'x', 'x', 'x', 'x', 'x', 'x', false)",
                ] {
                    let answer = await refusal(store, sql)
                    #expect(answer?.hasPrefix("42501") == true, "\(sql): \(answer ?? "allowed")")
                }
            }
            // The console reads the board and keeps sessions; it changes no dispatch state.
            try await harness.connecting(as: consoleRole, password: password).withStore { store in
                let board = try await BoardRepository(store: store, logger: harness.logger).board(zones: [zone])
                #expect(board.cases.count == 0, "every case was closed")
                _ = try await BoardRepository(store: store, logger: harness.logger).labels()  // the reference tables
                for sql in [
                    "update cases set status = 'cancelled'",
                    "insert into case_timeline (case_id, at, status, actor) select case_id, at, status, actor from case_timeline",
                    "delete from units", "update shelter_beds set held = 0",
                    "insert into outbox (outbox_id, topic, payload, created_at) values (gen_random_uuid(), 'x', '{}', now())",
                    "update operators set role = 'supervisor'", "delete from intake_clients",
                    "select * from outbox", "select * from partner_records", "create table console_was_here (id int)",
                    // Report payloads only through the logged door, one case at a time.
                    "select payload from reports", "select * from reports",
                    "insert into personal_data_reads (case_id, operator_id) values (gen_random_uuid(), 'x')",
                    "delete from personal_data_reads",
                ] {
                    let answer = await refusal(store, sql)
                    #expect(answer?.hasPrefix("42501") == true, "\(sql): \(answer ?? "allowed")")
                }
            }
            // Each read of a case's personal data by the console is logged; an operator outside the
            // case's zone gets nothing and leaves no entry.
            let caseID = try await harness.withStore { store in
                try await store.client.query(
                    """
                    insert into operators (operator_id, display_name, role, zones, password_hash) values
                        ('op-in', 'In', 'operator', array[\(zone)], 'x'), ('op-out', 'Out', 'operator', array['tata'], 'x')
                    """, logger: harness.logger)
                let rows = try await store.client.query("select case_id from cases limit 1", logger: harness.logger)
                for try await id in rows.decode(UUID.self) { return id }
                throw LoopbackHTTP.Failure(description: "no case")
            }
            try await harness.connecting(as: consoleRole, password: password).withStore { store in
                let queries = BoardRepository(store: store, logger: harness.logger)
                let personal = try await queries.personalData(caseID: caseID, operatorID: "op-in")
                #expect(personal.map { (try? JSONParser.parse(Array($0.utf8)))?["notes"] != nil } == true)
                #expect(try await queries.personalData(caseID: caseID, operatorID: "op-out") == nil)
                #expect(try await queries.personalData(caseID: caseID, operatorID: "nobody") == nil)
                let reads = try await queries.personalDataReads(caseID: caseID)
                #expect(reads.map(\.operator_id) == ["op-in"])
                // The call-taker's proposals and known people work under the console's role; a
                // person's data leaves only through the logged export, for a supervisor.
                _ = try await queries.openCases(
                    near: GeoPoint(latitude: 33.59, longitude: -7.6), kilometres: 1.5, hours: 12, zones: [zone])
                let persons = PersonRepository(store: store, logger: harness.logger)
                let person = try await persons.createAndLink(caseID: caseID, by: "op-in")
                let id = try #require(UUID(uuidString: person.person_id))
                #expect(try await persons.history(id, zones: [zone])?.encounters.count == 1)
                // Linked: no second person for the case.
                await #expect(throws: PersonRepository.PersonError.linkedToAnother) {
                    _ = try await persons.createAndLink(caseID: caseID, by: "op-in")
                }
                // Unlinked, then a new person whose first proposed alias is taken: the next one.
                try await persons.unlink(caseID: caseID)
                var proposed = [person.alias, "Caroubier 1000"].makeIterator()
                let second = try await persons.createAndLink(caseID: caseID, by: "op-in") { proposed.next()! }
                #expect(second.alias == "Caroubier 1000")
                #expect(try await persons.export(id, by: "op-in") == nil, "an operator is no supervisor")
                for sql in [
                    "select samu_minimise_cases(array[gen_random_uuid()])",
                    "select samu_purge_personal_data(now(), 'console')", "delete from privacy_log",
                ] {
                    let answer = await refusal(store, sql)
                    #expect(answer?.hasPrefix("42501") == true, "\(sql): \(answer ?? "allowed")")
                }
            }
            // Every function in the schema resolves names in it alone (fixed search_path).
            let unpinned = try await harness.withStore { store in
                let rows = try await store.client.query(
                    """
                    select count(*)::int8 from pg_proc
                    where pronamespace = current_schema()::regnamespace
                      and not coalesce(proconfig::text like '%search_path=%', false)
                    """, logger: harness.logger)
                for try await count in rows.decode(Int64.self) { return count }
                return -1
            }
            #expect(unpinned == 0)
            try await asPartner.withStore { store in
                let rows = try await store.client.query(
                    "select partner, count(*) from partner_outcomes group by 1", logger: harness.logger)
                var visible: [String: Int64] = [:]
                for try await (partner, count) in rows.decode((String, Int64).self) { visible[partner] = count }
                #expect(visible == ["casa-\(harness.id)": 4], "a partner sees other partners' rows: \(visible)")
                // A condition of the partner's own that fails on another partner's rows (a division
                // by zero, a cast that prints the value) never sees them: the views filter first.
                for view in ["partner_outcomes", "partner_daily_aggregates"] {
                    let probe = await refusal(
                        store,
                        "select count(*) from \(view) where case when partner <> 'casa-\(harness.id)' then 1 / (length(partner) - length(partner)) else 0 end = 0"
                    )
                    #expect(
                        probe == nil, "\(view): another partner's rows reached the partner's condition: \(probe ?? "")")
                    let cast = await refusal(store, "select count(*) from \(view) where (partner || event_id)::int = 0")
                    #expect(cast?.contains("prov-") != true, "\(view): \(cast ?? "")")
                }
                for sql in [
                    "select * from cases", "select * from reports", "select * from outbox",
                    "select * from case_timeline",
                    "select * from processed_events", "insert into partner_records select * from partner_records",
                    "update partner_records set outcome = 'x'",
                    // Views only (no publication time), and nothing created anywhere.
                    "select * from partner_records", "select created_at from partner_records",
                    "select * from partner_aggregates", "select * from report_facts",
                    "select samu_read_personal_data(gen_random_uuid(), 'x')",
                    "create table public.partner_was_here (id int)", "create temp table partner_temp (id int)",
                    "create table partner_was_here (id int)", "create schema partner_schema",
                ] {
                    let answer = await refusal(store, sql)
                    #expect(answer?.hasPrefix("42501") == true, "\(sql): \(answer ?? "allowed")")
                }
            }
            // The other partner's role cannot log in at all (no password was given).
            let canLogIn = try await harness.withStore { store in
                let rows = try await store.client.query(
                    "select rolcanlogin from pg_roles where rolname = \(DatabaseRoles.partnerRole("prov-\(harness.id)"))",
                    logger: harness.logger)
                for try await value in rows.decode(Bool.self) { return value }
                return true
            }
            #expect(!canLogIn)
        }
        try await harness.withStore {
            try await $0.dropRoles(
                [workerRole, consoleRole] + partners.partners.map { DatabaseRoles.partnerRole($0.id) })
        }
        try await harness.cleanUp()
    }
}
