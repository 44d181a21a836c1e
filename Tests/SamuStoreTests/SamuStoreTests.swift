import Foundation
import PostgresNIO
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

@Suite("Database URL")
struct DatabaseConfigurationTests {
    @Test("parses user, password, host, port, database and TLS mode")
    func parse() throws {
        let configuration = try DatabaseConfiguration(
            url: "postgres://samu_worker:p%40ss@db.internal:6432/samu?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(configuration.username == "samu_worker")
        #expect(configuration.password == "p@ss")
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6432)
        #expect(configuration.database == "samu")
        #expect(configuration.tlsMode == .verifyFull)
        #expect(configuration.rootCertificatePath == "/etc/ca.pem")
        #expect(!configuration.description.contains("p@ss"))
    }

    @Test(
        "refuses URLs it cannot use",
        arguments: [
            "mysql://u@h/db", "postgres://h/db", "postgres://u@h", "postgres://u@h/db?sslmode=allow", "not a url",
        ])
    func refuse(url: String) {
        #expect(throws: DatabaseConfiguration.ParseError.self) { try DatabaseConfiguration(url: url) }
    }

    @Test("refuses a schema name that is not a plain identifier")
    func schemaName() {
        #expect(throws: DatabaseConfiguration.ParseError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db", schema: "x; drop table cases")
        }
    }
}

@Suite("PostgreSQL store (integration)", .timeLimit(.minutes(2)))
struct SamuStoreTests {
    let decoder: ReportDecoder

    init() throws {
        decoder = ReportDecoder(definition: try Repository.catalog().definition(.reports))
    }

    func accepted(_ id: UUID = UUID(), zone: String = "rabat", offset: Int64 = 0) throws -> AcceptedReport {
        let report = try decoder.decode(value: ReportFixture.bytes(ReportFixture.document(id: id, zone: zone))).get()
        return AcceptedReport(report: report, sourceTopic: "samu.reports.v1", sourcePartition: 3, sourceOffset: offset)
    }

    @Test("migrations apply once; a database without them is refused with a clear message")
    func migrations() async throws {
        try await withTestStore(migrate: false) { store in
            let missing = await #expect(throws: MigrationRequired.self) { try await store.requireMigrated() }
            #expect(missing?.description.contains("samu migrate") == true)
            #expect(try await store.migrate() == Migrations.all.map(\.version))
            #expect(try await store.migrate() == [])
            try await store.requireMigrated()
            #expect(try await store.appliedVersion() == Migrations.latestVersion)
        }
    }

    @Test(
        "the database accepts exactly the case statuses and bed-ledger actions the code has, and 'open' follows CaseStatus.finished"
    )
    func statusConstraints() async throws {
        try await withTestStore { store in
            func quoted(_ sql: String) async throws -> Set<String> {
                let rows = try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: store.logger)
                var text = ""
                for try await (definition, ) in rows.decode((String,).self) { text += definition }
                // The quoted literals of the definition: 'a'::text, 'b'::text …
                return Set(
                    text.split(separator: "'").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) })
            }
            let constraint = { (name: String) in
                "select pg_get_constraintdef(oid) from pg_constraint where conname = '\(name)' and connamespace = current_schema()::regnamespace"
            }
            #expect(try await quoted(constraint("cases_status_check")) == Set(CaseStatus.allCases.map(\.rawValue)))
            #expect(
                try await quoted(constraint("bed_ledger_action_check")) == Set(BedLedgerAction.allCases.map(\.rawValue))
            )
            let open = try await quoted(
                """
                select pg_get_expr(d.adbin, d.adrelid) from pg_attrdef d
                join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
                where d.adrelid = (current_schema() || '.cases')::regclass and a.attname = 'open'
                """)
            #expect(open == Set(CaseStatus.finished.map(\.rawValue)))
        }
    }

    /// What the worker writes for new reports: inbox rows, reports and cases, timeline, outcome.
    func batch(_ reports: [AcceptedReport]) -> DispatchWrite {
        var write = DispatchWrite()
        let time = Date()
        for item in reports {
            let caseID = DerivedID.caseID(forReport: item.report.id)
            write.processed.append(
                .init(
                    eventID: item.report.id, topic: item.sourceTopic, partition: item.sourcePartition,
                    offset: item.sourceOffset))
            write.newCases.append(
                .init(
                    report: item, caseID: caseID,
                    triage: TriageDecision(
                        priority: .p2, requiredSkills: [], bedType: .men, notify: [], reasons: [], rulesVersion: "test",
                        minor: false)))
            write.addTimeline(caseID, status: .received, actor: "test", detail: [:], at: time)
            let outcome = CaseOutcome.received(report: item.report, caseID: caseID, at: time)
            write.outbox.append(
                OutboxRecord(
                    id: outcome.eventID, topic: "samu.outcomes.v1", key: item.report.zone,
                    payload: outcome.json.serialized, createdAt: time))
        }
        return write
    }

    @Test("a batch writes reports, cases, timeline and outbox together; the inbox then knows the events")
    func writeOnce() async throws {
        try await withTestStore { store in
            let reports = try (0..<3).map { try accepted(offset: Int64($0)) }
            let ids = reports.map(\.report.id)
            #expect(try await store.alreadyProcessed(ids).isEmpty)
            let outbox = try await store.write(batch(reports))
            #expect(outbox.count == 3)
            #expect(outbox.allSatisfy { $0.key == "rabat" && $0.topic == "samu.outcomes.v1" })
            #expect(try JSONParser.parse(outbox[0].payload)["type"] == "case.received")
            #expect(Set(try await store.alreadyProcessed(ids + [UUID()]).keys) == Set(ids))
            let counts = try await store.counts()
            #expect(
                counts == .init(processedEvents: 3, reports: 3, cases: 3, timelineEntries: 3, outbox: 3, unpublished: 3)
            )
            // Written again (a retried commit whose first attempt did land): refused as a whole, so
            // no second case or outcome; the worker then handles the batch checked against the inbox.
            await #expect(throws: AlreadyProcessed.self) { try await store.write(batch(reports)) }
            #expect(try await store.counts().outbox == 3)
            #expect(try await store.counts().cases == 3)
            #expect(try await store.caseCountsByReport(ids).values.allSatisfy { $0 == 1 })
        }
    }

    @Test("PostgreSQL refuses a second active assignment for a unit, and for a case")
    func oneActiveAssignment() async throws {
        try await withTestStore { store in
            let reports = try [accepted(), accepted()]
            _ = try await store.write(batch(reports))
            let cases = reports.map { DerivedID.caseID(forReport: $0.report.id) }
            func decision(_ caseID: UUID) -> DispatchWrite.Decision {
                .init(
                    decisionID: UUID(), caseID: caseID, zone: "rabat", kind: "assign", priority: .p2,
                    unitID: "rabat-u1",
                    shelterID: nil, bedType: .men, rulesVersion: "test", reason: "test", operatorID: nil,
                    operatorReason: nil, record: "{}", at: Date())
            }
            var first = DispatchWrite()
            let firstDecision = decision(cases[0])
            first.decisions = [firstDecision]
            first.assignmentsStarted = [(cases[0], "rabat-u1", firstDecision.decisionID, Date())]
            first.cases[cases[0]] = .init(status: .assigned, unitID: "rabat-u1", resolution: nil)
            _ = try await store.write(first)
            var second = DispatchWrite()
            let secondDecision = decision(cases[1])
            second.decisions = [secondDecision]
            second.assignmentsStarted = [(cases[1], "rabat-u1", secondDecision.decisionID, Date())]
            second.cases[cases[1]] = .init(status: .assigned, unitID: "rabat-u1", resolution: nil)
            let error = await #expect(throws: (any Error).self) { try await store.write(second) }
            #expect("\(String(reflecting: error))".contains("assignments_one_active_per_unit"))
        }
    }

    @Test("a write with a stale zone lease is refused whole: the fencing token")
    func fencing() async throws {
        try await withTestStore { store in
            let mine = try await store.takeLeases(["rabat", "sale"], owner: "worker-a")
            #expect(mine == ["rabat": 1, "sale": 1])
            var write = batch([try accepted(zone: "rabat")])
            write.leases = ["rabat": 1]
            #expect(try await store.write(write).count == 1)
            // Worker B takes Rabat over while A is paused.
            #expect(try await store.takeLeases(["rabat"], owner: "worker-b") == ["rabat": 2])
            var late = batch([try accepted(zone: "rabat")])
            late.leases = ["rabat": 1, "sale": 1]
            let error = await #expect(throws: ZoneFenced.self) { try await store.write(late) }
            #expect(error?.zones == ["rabat"])
            #expect(try await store.counts().cases == 1, "nothing of the refused batch was written")
            late.leases = ["rabat": 2]
            #expect(try await store.write(late).count == 1)
        }
    }

    @Test("the relay's published marks ride on the next batch write, and are lost with it when it is refused")
    func publishedMarksRideOnTheWrite() async throws {
        try await withTestStore { store in
            let first = try await store.write(batch([try accepted(offset: 0), try accepted(offset: 1)]))
            #expect(try await store.counts().unpublished == 2)
            var refused = batch([try accepted(offset: 2)])
            refused.processed += batch([try accepted(offset: 3)]).processed
            refused.processed.append(refused.processed[0])  // the same event twice: refused as a whole
            refused.published = first.map(\.id)
            await #expect(throws: AlreadyProcessed.self) { try await store.write(refused) }
            #expect(try await store.counts().unpublished == 2, "a refused write marks nothing")
            var next = batch([try accepted(offset: 4)])
            next.published = first.map(\.id)
            #expect(try await store.write(next).count == 1)
            #expect(try await store.counts().unpublished == 1, "the first two are marked, the new one is not")
        }
    }

    @Test("PostgreSQL refuses more holds plus occupants than beds")
    func holdsFitInBeds() async throws {
        try await withTestStore { store in
            func row(held: Int, occupied: Int) -> DispatchWrite {
                var write = DispatchWrite()
                write.setBeds(
                    "rabat-s1", zone: "rabat", bedType: .men, count: BedCount(capacity: 4, occupied: occupied),
                    held: held,
                    position: GeoPoint(latitude: 34.02, longitude: -6.84), version: 1, at: Date())
                return write
            }
            _ = try await store.write(row(held: 1, occupied: 3))
            _ = try await store.write(row(held: 0, occupied: 6))  // walk-ins: over capacity, nothing held
            let error = await #expect(throws: (any Error).self) { try await store.write(row(held: 2, occupied: 3)) }
            #expect("\(String(reflecting: error))".contains("holds_fit_in_beds"))
        }
    }

    @Test(
        "a unit's or shelter's version beyond 2^53 − 1, stored before the schemas bounded it, is brought back to the present; others are kept"
    )
    func versionsBroughtBack() async throws {
        try await withTestStore { store in
            try await store.client.query(
                """
                insert into units (unit_id, zone, status, lat, lon, version, reported_at) values
                    ('rabat-u1', 'rabat', 'available', 34.02, -6.84, 9223372036854775807, now()),
                    ('rabat-u2', 'rabat', 'available', 34.02, -6.84, 41, now())
                """)
            try await store.client.query(
                """
                insert into shelter_beds (shelter_id, zone, bed_type, capacity, occupied, lat, lon, version, reported_at)
                values ('rabat-s1', 'rabat', 'men', 30, 2, 34.0, -6.8, 9007199254740992, now())
                """)
            for statement in Migrations.versionsBroughtBack {
                try await store.client.query(PostgresQuery(unsafeSQL: statement))
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let rows = try await store.client.query(
                "select version from units union all select version from shelter_beds order by version")
            var versions: [Int64] = []
            for try await version in rows.decode(Int64.self) { versions.append(version) }
            #expect(versions.count == 3)
            #expect(versions.first == 41)
            #expect(versions.dropFirst().allSatisfy { abs($0 - now) < 600_000 }, "\(versions)")
        }
    }

    @Test("migration 29's minimisation functions are migration 20's with their changes, made in place")
    func minimisationReplaced() {
        #expect(Migrations.minimiseCasesV29.hasPrefix("create or replace function samu_minimise_cases"))
        #expect(Migrations.minimiseCasesV29.contains("delete from crew_actions"))
        #expect(Migrations.minimiseCasesV29.hasSuffix("$$"))
        #expect(Migrations.minimisedReportV29.components(separatedBy: "::numeric < ").count == 3)
        #expect(!Migrations.minimisedReportV29.contains("::int <"))
        let export = Migrations.exportPersonV31
        #expect(export.contains("elsewhere integer;") && export.contains("r.payload - 'reporter'"))
        #expect(export.contains("insert into personal_data_reads") && export.contains("'case_ids'"))
        #expect(!export.contains("jsonb_build_object('person_id', p_person), p_operator)"))
        #expect(
            Migrations.minimiseCasesV29.components(separatedBy: "perform set_config('samu.purging', 'off', true);")
                .count
                == 2)
    }

    @Test(
        "a refused event's dead letter naming a key with U+0000 (which jsonb and text refuse) is parked, with U+FFFD, and parking it again changes nothing"
    )
    func deadLetterWithNULParked() async throws {
        try await withTestStore { store in
            let id = UUID()
            let document: JSONValue = [
                "rejection": ["field": "/a\u{0}", "detail": "unknown field a\u{0}"], "original": ["a\u{0}b": 1],
            ]
            for _ in 0..<2 {
                try await store.park(
                    deadLetter: id, sourceTopic: "samu.reports.v1", sourcePartition: 1, sourceOffset: 7,
                    reason: "schema_violation", document: document.serialized, error: "too large\u{0}")
            }
            let rows = try await store.client.query(
                "select dead_letter->'rejection'->>'field', error from parked_dead_letters where dead_letter_id = \(id)"
            )
            var parked: [(String, String)] = []
            for try await row in rows.decode((String, String).self) { parked.append(row) }
            #expect(parked.count == 1)
            #expect(parked.first?.0 == "/a\u{FFFD}")
            #expect(parked.first?.1 == "too large\u{FFFD}")
        }
    }

    @Test("published rows leave the unpublished list; the timeline refuses updates")
    func outboxAndTimeline() async throws {
        try await withTestStore { store in
            let outbox = try await store.write(batch([try accepted(), try accepted()]))
            #expect(try await store.unpublishedOutbox(olderThan: .zero).count == 2)
            try await store.markPublished([outbox[0].id])
            #expect(try await store.unpublishedOutbox(olderThan: .zero).map(\.id) == [outbox[1].id])
            #expect(try await store.unpublishedOutbox(olderThan: .seconds(60)).isEmpty)
            await #expect(throws: PSQLError.self) {
                try await store.client.query("update case_timeline set actor = 'someone else'")
            }
            await #expect(throws: PSQLError.self) {
                try await store.client.query("delete from case_timeline")
            }
        }
    }
}

@Suite("Reference data (integration)", .timeLimit(.minutes(1)))
struct ReferenceDataTests {
    @Test("seeds/ loads into PostgreSQL, and loading again changes nothing")
    func seedTwice() async throws {
        let data = try ReferenceData.load(seeds: Repository.seeds)
        #expect(data.regions.count == 12)
        #expect(data.zones.count == 82)
        #expect(Set(data.zones.map(\.code)).count == data.zones.count)
        let regions = Set(data.regions.map(\.code))
        #expect(data.zones.allSatisfy { regions.contains($0.parent ?? "") })
        #expect(Set(data.labels["bed_type"]?.map(\.code) ?? []) == Set(BedType.allCases.map(\.rawValue)))
        #expect(Set(data.labels["crew_skill"]?.map(\.code) ?? []) == Set(CrewSkill.allCases.map(\.rawValue)))
        let categories = Set(data.labels["beneficiary_category"]?.map(\.code) ?? [])
        #expect(Set(BeneficiaryCategory.allCases.map(\.rawValue)).isSubset(of: categories))
        try await withTestStore { store in
            let first = try await store.seed(data)
            let second = try await store.seed(data)
            #expect(first == second)
            let rows = try await store.client.query(
                "select (select count(*) from ref_zones), (select count(*) from ref_regions), (select count(*) from ref_projects)"
            )
            for try await (zones, regions, projects) in rows.decode((Int, Int, Int).self) {
                #expect(zones == 82)
                #expect(regions == 12)
                #expect(projects == data.projects.count)
            }
        }
    }

    @Test(
        "zones and regions carry the statistics office's codes, Arabic spelling and 2024 census; the printed form is kept beside it"
    )
    func statisticsOffice() async throws {
        let data = try ReferenceData.load(seeds: Repository.seeds)
        #expect(data.zones.allSatisfy { $0.hcpCode != nil && ($0.population ?? 0) > 0 })
        #expect(Set(data.zones.compactMap(\.hcpCode)).count == 82)
        #expect(data.regions.allSatisfy { $0.hcpCode != nil && ($0.population ?? 0) > 0 })
        // The three rows the magazine misprinted, in HCP's spelling, the printed form kept.
        func zone(_ code: String) -> ReferenceData.Row? { data.zones.first { $0.code == code } }
        #expect(data.regions.first { $0.code == "MS" }?.nameArabic == "مراكش-آسفي")
        #expect(data.regions.first { $0.code == "MS" }?.arabicInSource == "مراكش أسفي")
        #expect(zone("agadir-ida-outanane")?.nameArabic == "أكادير-إدا وتنان")
        #expect(zone("agadir-ida-outanane")?.arabicInSource == "أكادير-إداوتان")
        #expect(zone("oujda-angad")?.nameArabic == "وجدة-أنجاد")
        #expect(zone("oujda-angad")?.arabicInSource == "وجدة أنكاد")
        #expect(
            zone("rabat")?.arabicInSource == nil, "where the sources print HCP's spelling, nothing is kept beside it")
        // A non-stigmatising Arabic label for mental distress (the sources' «المختلين عقليا» is not shown).
        let distress = data.labels["beneficiary_category"]?.first { $0.code == "mental_distress" }
        #expect(distress?.nameArabic == "شخص في ضائقة نفسية")
        #expect(data.labels.values.joined().allSatisfy { !$0.nameArabic.contains("مختل") })
        // Every commune and arrondissement of the statistics office, each in a zone samu knows.
        #expect(data.communes.count > 1_500)
        let zones = Set(data.zones.map(\.code))
        #expect(data.communes.allSatisfy { zones.contains($0.zone) })
        let census = data.zones.reduce(0) { $0 + ($1.population ?? 0) }
        #expect(
            census > 36_000_000 && census < 37_000_000, "Morocco's 2024 census: 36.8 million; zones sum to \(census)")
        try await withTestStore { store in
            _ = try await store.seed(data)
            let rows = try await store.client.query(
                """
                select z.hcp_code, z.name_ar, z.name_ar_in_source, z.population_2024,
                       (select count(*) from ref_communes m where m.zone = z.code)
                from ref_zones z where z.code = 'oujda-angad'
                """)
            for try await (code, arabic, printed, population, communes) in rows.decode(
                (String, String, String?, Int, Int).self)
            {
                #expect(code == "02.411")
                #expect(arabic == "وجدة-أنجاد")
                #expect(printed == "وجدة أنكاد")
                #expect(population == 572_454)
                #expect(communes == 11)
            }
        }
    }

    @Test("the demo deployment is labelled, and every unit and shelter sits in a known zone with known skills and beds")
    func deployment() throws {
        let plan = try Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json"))
        let data = try ReferenceData.load(seeds: Repository.seeds)
        let zones = Set(data.zones.map(\.code))
        #expect(plan.label.contains("DEMO DATA"))
        #expect(plan.zones.allSatisfy { zones.contains($0.zone) })
        #expect(plan.units.allSatisfy { zones.contains($0.zone) })
        #expect(plan.shelters.allSatisfy { zones.contains($0.zone) })
        // Every dispatch area (a zone, or Casablanca's eight prefectures) has each key skill.
        for area in Set(plan.zones.map { plan.areas.area(of: $0.zone) }) {
            let units = plan.units.filter { plan.areas.area(of: $0.zone) == area }
            #expect(units.contains { $0.skills.contains(.childProtection) }, "\(area) has no child-protection crew")
            #expect(units.contains { $0.skills.contains(.femaleStaff) }, "\(area) has no female staff")
            #expect(units.contains { $0.skills.contains(.nurse) }, "\(area) has no nurse")
        }
    }
}
