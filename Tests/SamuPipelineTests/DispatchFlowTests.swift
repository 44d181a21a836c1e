import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// Units, beds, reports and commands interleaved through the real broker and PostgreSQL.
@Suite("Dispatch through the real broker and PostgreSQL (integration)", .timeLimit(.minutes(3)))
struct DispatchFlowTests {
    let harness: PipelineHarness
    let zone = "rabat"
    static let centre = GeoPoint(latitude: 34.0209, longitude: -6.8416)

    init() throws {
        harness = try PipelineHarness()
    }

    func scalar(_ sql: String) async throws -> Int { try await harness.scalar(sql) }
    func text(_ sql: String) async throws -> String? { try await harness.text(sql) }

    func point(_ east: Double, _ north: Double) -> JSONValue {
        [
            "lat": .number(Self.centre.latitude + north / 111.19),
            "lon": .number(Self.centre.longitude + east / (111.19 * cos(Self.centre.latitude * .pi / 180))),
        ]
    }

    func event(_ role: TopicRole, _ fields: [(String, JSONValue)]) -> KafkaRecord {
        harness.event(role, zone: zone, fields)
    }

    func unit(
        _ id: String, _ version: Int64, _ status: String, at east: Double, _ north: Double, skills: [String]? = nil,
        caseID: UUID? = nil, resolution: String? = nil
    ) -> KafkaRecord {
        var fields: [(String, JSONValue)] = [
            ("unit_id", .string(id)), ("version", .integer(version)), ("status", .string(status)),
            ("position", point(east, north)), ("reported_at", "2026-01-15T01:00:00Z"),
        ]
        if let skills { fields.append(("skills", .array(skills.map { .string($0) }))) }
        if let caseID { fields.append(("case_id", .string(caseID.lowercased))) }
        if let resolution { fields.append(("resolution", .string(resolution))) }
        return event(.units, fields)
    }

    func beds(
        _ id: String, _ version: Int64, at east: Double, _ north: Double, _ counts: [String: (Int, Int)],
        admitted: UUID? = nil, profile: ShelterProfile? = nil, declined: (UUID, String)? = nil
    )
        -> KafkaRecord
    {
        var beds = JSONObject()
        for (bed, count) in counts.sorted(by: { $0.key < $1.key }) {
            beds.append(bed, ["capacity": .integer(Int64(count.0)), "occupied": .integer(Int64(count.1))])
        }
        var fields: [(String, JSONValue)] = [
            ("shelter_id", .string(id)), ("version", .integer(version)), ("location", point(east, north)),
            ("beds", .object(beds)), ("reported_at", "2026-01-15T01:00:00Z"),
        ]
        if let admitted { fields.append(("admitted_case_id", .string(admitted.lowercased))) }
        if let profile { fields.append(("profile", profile.json)) }
        if let declined {
            fields.append(("declined_case_id", .string(declined.0.lowercased)))
            fields.append(("decline_reason", .string(declined.1)))
        }
        let second = profile != nil || declined != nil
        return harness.event(.beds, zone: zone, version: second ? 2 : 1, fields)
    }

    func command(
        _ caseID: UUID, _ name: String, unitID: String? = nil, resolution: String? = nil, reason: String,
        by operatorID: String = "op-fatima"
    ) -> KafkaRecord {
        var fields: [(String, JSONValue)] = [
            ("case_id", .string(caseID.lowercased)), ("command", .string(name)), ("operator_id", .string(operatorID)),
            ("reason", .string(reason)), ("issued_at", "2026-01-15T02:00:00Z"),
        ]
        if let unitID { fields.append(("unit_id", .string(unitID))) }
        if let resolution { fields.append(("resolution", .string(resolution))) }
        return event(.commands, fields)
    }

    func report(
        _ id: UUID, category: String, age: Int64, sex: String = "male", factors: [JSONValue] = [], at east: Double,
        count: Int64 = 1
    )
        -> KafkaRecord
    {
        var document = ReportFixture.document(
            id: id, zone: zone, category: category, reportedAt: "2026-01-15T02:10:00+01:00", age: age)
        if case .object(var object) = document {
            object = JSONObject(
                object.entries.map { entry in
                    switch entry.key {
                    case "factors": return (entry.key, .array(factors))
                    case "location": return (entry.key, point(east, 0))
                    case "person":
                        return (entry.key, ["age": .integer(age), "sex": .string(sex), "count": .integer(count)])
                    default: return entry
                    }
                })
            document = .object(object)
        }
        return harness.reportRecord(document)
    }

    func waitFor(_ what: String, _ condition: () async throws -> Bool) async throws {
        let held = try await eventually(timeout: .seconds(60), condition)
        #expect(held, "\(what) did not happen")
        if !held { throw CancellationError() }
    }

    @Test(
        "a night in one zone: units and beds report in, cases are assigned, crews and operators move them on, the queue drains"
    )
    func night() async throws {
        try await harness.prepare()
        let child = UUID()
        let sick = UUID()
        let third = UUID()
        let waiting = UUID()
        let childCase = DerivedID.caseID(forReport: child)
        let sickCase = DerivedID.caseID(forReport: sick)
        let thirdCase = DerivedID.caseID(forReport: third)
        let waitingCase = DerivedID.caseID(forReport: waiting)
        try await harness.withWorker { worker in
            // Crews and shelters report in.
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 1, 0, skills: ["child_protection", "female_staff"]),
                unit("rabat-u2", 1, "available", at: -1, 0, skills: ["nurse"]),
                unit("rabat-u3", 1, "available", at: 3, 0, skills: []),
                beds("rabat-s1", 1, at: 0.5, 0, ["men": (2, 1), "minors": (2, 0)]),
                beds("rabat-s2", 1, at: 9, 0, ["men": (10, 0)]),
            ])
            try await waitFor("units and beds known") {
                let units = try await scalar("select count(*) from units")
                let beds = try await scalar("select count(*) from shelter_beds where capacity > 0")
                return units == 3 && beds == 3
            }
            // Four reports, three units.
            try await harness.produce([
                report(child, category: "child_street_situation", age: 9, factors: ["alone_at_night"], at: 0),
                report(sick, category: "homeless_adult", age: 50, factors: ["illness"], at: -2),
                report(third, category: "homeless_adult", age: 40, at: 4),
                report(waiting, category: "homeless_adult", age: 45, at: 5),
            ])
            try await waitFor("four cases decided") { try await scalar("select count(*) from decisions") >= 4 }
            #expect(try await text("select unit_id from cases where case_id = '\(childCase)'") == "rabat-u1")
            #expect(try await text("select unit_id from cases where case_id = '\(sickCase)'") == "rabat-u2")
            #expect(try await text("select status from cases where case_id = '\(waitingCase)'") == "queued")
            #expect(try await text("select priority from cases where case_id = '\(childCase)'") == "P1")
            // The child's bed is a minors' bed at the nearest shelter, held in the ledger.
            #expect(
                try await text(
                    "select shelter_id || '/' || bed_type from bed_ledger where case_id = '\(childCase)' and action = 'hold'"
                )
                    == "rabat-s1/minors")
            #expect(
                try await scalar("select held from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'minors'")
                    == 1)
            // The child-protection authority was notified, and the decision explains itself.
            #expect(
                try await scalar(
                    "select count(*) from case_timeline where case_id = '\(childCase)' and status = 'notified'") == 1)
            #expect(
                try await text("select record->>'rules_version' from decisions where case_id = '\(childCase)' limit 1")?
                    .hasPrefix("triage-") == true)

            // Crews and operators move the night on.
            try await harness.produce([
                unit("rabat-u1", 2, "en_route", at: 1, 0, caseID: childCase),
                unit("rabat-u2", 2, "en_route", at: -1, 0, caseID: sickCase),
                command(thirdCase, "reassign", unitID: "rabat-u1", reason: "u1 is already busy: must be refused"),
            ])
            try await waitFor("acknowledgements") {
                try await scalar("select count(*) from cases where status = 'acknowledged'") == 2
            }
            try await harness.produce([
                unit("rabat-u2", 3, "returning", at: -1.5, 0, caseID: sickCase, resolution: "help_refused"),
                unit("rabat-u1", 3, "transporting", at: 0.5, 0, caseID: childCase),
            ])
            // u2 is free again: the waiting case gets it, and the refusal opens a follow-up.
            try await waitFor("the queue drains") {
                try await text("select unit_id from cases where case_id = '\(waitingCase)'") == "rabat-u2"
            }
            #expect(try await text("select resolution from cases where case_id = '\(sickCase)'") == "help_refused")
            #expect(try await scalar("select count(*) from follow_ups where case_id = '\(sickCase)'") == 1)
            // A street re-visit, due at the first 20:00 in Morocco after the refusal, still to do.
            #expect(
                try await text(
                    "select kind || ' ' || (due_at > created_at and due_at <= created_at + interval '1 day' and extract(hour from due_at at time zone 'Africa/Casablanca') = 20 and done_at is null)::text from follow_ups where case_id = '\(sickCase)'"
                ) == "revisit true")
            #expect(
                try await text(
                    "select detail->>'kind' from case_timeline where case_id = '\(sickCase)' and status = 'follow_up'")
                    == "revisit")
            try await harness.produce([
                unit("rabat-u1", 4, "returning", at: 0.5, 0, caseID: childCase, resolution: "sheltered"),
                beds("rabat-s1", 2, at: 0.5, 0, ["men": (2, 1), "minors": (2, 1)], admitted: childCase),
                command(thirdCase, "close", resolution: "referred_family", reason: "his brother came to fetch him"),
            ])
            try await waitFor("the child admitted and the third case closed") {
                let admitted = try await scalar(
                    "select count(*) from bed_ledger where case_id = '\(childCase)' and action = 'admit'")
                let status = try await text("select status from cases where case_id = '\(thirdCase)'")
                return admitted == 1 && status == "resolved"
            }
            #expect(
                try await scalar("select held from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'minors'")
                    == 0)
            #expect(
                try await scalar(
                    "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'minors'") == 1)
            #expect(
                try await scalar(
                    "select count(*) from case_timeline where case_id = '\(thirdCase)' and actor = 'operator:op-fatima'"
                ) == 2)
            #expect(worker.statistics.snapshot.inputsRejected >= 1, "the reassign to a busy unit was refused")
        }
        // Never two active assignments for a unit, whatever happened (the index enforces it too).
        #expect(
            try await scalar(
                "select count(*) from (select unit_id from assignments where active group by unit_id having count(*) > 1) x"
            ) == 0)
        #expect(try await scalar("select count(*) from assignments where active and unit_id = 'rabat-u2'") == 1)
        let outcomes = try await harness.readAll(.outcomes).compactMap {
            $0.value.flatMap { try? JSONParser.parse($0) }
        }
        for outcome in outcomes {
            try #require(harness.catalog.definition(.outcomes).schema(for: outcome)).validate(outcome)
        }
        let steps = outcomes.flatMap(OutcomeRecord.steps)
        for step in steps where step["schema_version"] != 5 {
            try #require(harness.catalog.definition(.outcomes).schema(for: step)).validate(step)
        }
        #expect(outcomes.contains { $0["type"]?.stringValue == OutcomeRecord.stepsType }, "no coalesced record")
        let types = Set(steps.compactMap { $0["type"]?.stringValue })
        for expected in [
            "case.received", "case.triaged", "case.assigned", "case.queued", "case.acknowledged", "case.resolved",
            "case.bed_held", "case.admitted", "case.notification",
        ] {
            #expect(types.contains(expected), "no \(expected) outcome")
        }
        #expect(
            Set(outcomes.compactMap { $0["event_id"]?.stringValue }).count == outcomes.count, "duplicate outcome ids")
        try await harness.cleanUp()
    }

    @Test(
        "shelters that fit: a woman victim goes to the women-only house, a family holds its beds together, a shelter declines and samu holds the next bed, a restarted worker keeps it all"
    )
    func sheltersThatFit() async throws {
        try await harness.prepare()
        let victim = UUID()
        let family = UUID()
        let victimCase = DerivedID.caseID(forReport: victim)
        let familyCase = DerivedID.caseID(forReport: family)
        let house = ShelterProfile(
            facilityType: "mfi_women", sexes: .women, ageMin: 18, wheelchairAccess: true, confidentialAddress: true)
        func holds(_ caseID: UUID) async throws -> String? {
            try await text(
                """
                select string_agg(shelter_id || ':' || beds, ',' order by entry_id) from bed_ledger
                where case_id = '\(caseID)' and action = 'hold'
                """)
        }
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 0, 0, skills: ["female_staff"]),
                unit("rabat-u2", 1, "available", at: 1, 0, skills: ["female_staff"]),
                // The nearest shelter is mixed and has women's and mothers' beds, but only two of each.
                beds("rabat-s1", 1, at: 0.3, 0, ["women": (2, 0), "women_with_children": (2, 0)]),
                beds("rabat-s2", 1, at: 5, 0, ["women": (6, 0)], profile: house),
                beds("rabat-s3", 1, at: 8, 0, ["women_with_children": (4, 0)]),
            ])
            try await waitFor("units, beds and the house's profile known") {
                let units = try await scalar("select count(*) from units")
                let houses = try await scalar("select count(*) from shelter_profiles where profile->>'sex' = 'women'")
                let beds = try await scalar("select count(*) from shelter_beds where capacity > 0")
                return units == 2 && houses == 1 && beds == 4
            }
            try await harness.produce([
                report(victim, category: "woman_violence_victim", age: 31, sex: "female", at: 0),
                report(
                    family, category: "homeless_adult", age: 35, sex: "female", factors: ["with_children"], at: 0.5,
                    count: 3),
            ])
            try await waitFor("both cases hold beds") {
                let victimHolds = try await holds(victimCase)
                let familyHolds = try await holds(familyCase)
                return victimHolds != nil && familyHolds != nil
            }
            // She goes to the women-only house although the mixed shelter is nearer.
            #expect(try await holds(victimCase) == "rabat-s2:1")
            #expect(
                try await text(
                    "select triage->'shelter_need'->>'women_only' from cases where case_id = '\(victimCase)'")
                    == "true")
            // Mother and two children: three mothers' beds together at the nearest shelter that has three.
            #expect(try await holds(familyCase) == "rabat-s3:3")
            #expect(
                try await scalar(
                    "select held from shelter_beds where shelter_id = 'rabat-s3' and bed_type = 'women_with_children'")
                    == 3)
            // The house declines the woman (say, her aggressor knows it): samu holds the next fitting
            // bed, and the mixed shelter is still not one.
            try await harness.produce([
                beds(
                    "rabat-s2", 2, at: 5, 0, ["women": (6, 0)],
                    declined: (victimCase, "her aggressor knows this address"))
            ])
            try await waitFor("the decline recorded") {
                try await scalar(
                    "select count(*) from case_timeline where case_id = '\(victimCase)' and status = 'shelter_declined'"
                )
                    == 1
            }
            #expect(
                try await text(
                    "select reason from bed_ledger where case_id = '\(victimCase)' and action = 'release'")
                    == "declined by the shelter: her aggressor knows this address")
            #expect(
                try await scalar(
                    "select count(*) from bed_ledger where case_id = '\(victimCase)' and action = 'hold' and shelter_id = 'rabat-s1'"
                ) == 0, "the mixed shelter is never proposed to her")
        }
        // A restarted worker rebuilds the family's three beds from the ledger and the house's profile.
        try await harness.withWorker { _ in
            try await harness.produce([
                report(UUID(), category: "woman_violence_victim", age: 25, sex: "female", at: 0.1)
            ])
            try await waitFor("the next woman's bed at the house") {
                try await scalar(
                    "select count(*) from bed_ledger l join cases c using (case_id) where c.category = 'woman_violence_victim' and l.shelter_id = 'rabat-s2' and l.action = 'hold'"
                ) == 2
            }
            #expect(
                try await scalar(
                    "select held from shelter_beds where shelter_id = 'rabat-s3' and bed_type = 'women_with_children'")
                    == 3)
        }
        // The family's crew leaves them at the mothers' shelter and closes the case as sheltered;
        // the shelter then turns them away. With the crew gone, someone must find them tonight: a
        // re-visit due at once, with the shelter and its reason in the timeline.
        try await harness.withWorker { _ in
            let crew = try #require(try await text("select unit_id from cases where case_id = '\(familyCase)'"))
            try await harness.produce([
                unit(crew, 10, "available", at: 8, 0, caseID: familyCase, resolution: "sheltered")
            ])
            try await waitFor("the family's case closed as sheltered") {
                try await text("select resolution from cases where case_id = '\(familyCase)'") == "sheltered"
            }
            try await harness.produce([
                beds(
                    "rabat-s3", 10, at: 8, 0, ["women_with_children": (4, 0)],
                    declined: (familyCase, "no room for a boy of fourteen"))
            ])
            try await waitFor("a re-visit due at once") {
                try await scalar(
                    """
                    select count(*) from follow_ups where case_id = '\(familyCase)' and kind = 'revisit'
                        and resolution = 'no_bed_tonight' and due_at between now() - interval '10 minutes' and now()
                    """) == 1
            }
            #expect(
                try await text(
                    "select detail->>'shelter_id' from case_timeline where case_id = '\(familyCase)' and status = 'follow_up'"
                ) == "rabat-s3")
            #expect(
                try await scalar(
                    "select held from shelter_beds where shelter_id = 'rabat-s3' and bed_type = 'women_with_children'")
                    == 0)
        }
        let bedOutcomes = try await harness.outcomes(ofType: "case.bed_held")
        #expect(bedOutcomes.contains { $0["case_id"]?.stringValue == familyCase.lowercased && $0["beds"] == 3 })
        try await harness.cleanUp()
    }

    @Test(
        "case work from any producer: a referral decided by an operator is refused, a child-protection account cannot dispatch, an unknown case changes nothing and holds nothing back"
    )
    func caseWorkRoles() async throws {
        try await harness.prepare()
        let child = UUID()
        let childCase = DerivedID.caseID(forReport: child)
        let later = UUID()
        func work(_ caseID: UUID, _ name: String, role: String, _ extra: [(String, JSONValue)] = []) -> KafkaRecord {
            harness.event(
                .commands, zone: zone, version: 2,
                [
                    ("case_id", .string(caseID.lowercased)), ("command", .string(name)), ("operator_id", "op-x"),
                    ("operator_role", .string(role)), ("reason", "from another producer"),
                    ("issued_at", "2026-01-15T02:00:00Z"),
                ] + extra)
        }
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 0.5, 0, skills: ["child_protection"]),
                report(child, category: "child_street_situation", age: 11, at: 1),
            ])
            try await waitFor("the child's referral") {
                try await text("select status from referrals where case_id = '\(childCase)'") == "open"
            }
            try await harness.produce([
                work(childCase, "decide_referral", role: "operator", [("decision", "foster_care")]),
                work(childCase, "cancel", role: "child_protection"),
                work(UUID(), "record_step", role: "operator", [("step", "diagnosis")]),
                work(UUID(), "acknowledge_referral", role: "child_protection"),
                work(childCase, "acknowledge_referral", role: "child_protection"),
                command(childCase, "close", resolution: "referred_family", reason: "too early"),
                report(later, category: "homeless_adult", age: 50, at: 2),
            ])
            try await waitFor("the later report's case, behind the case work") {
                try await scalar("select count(*) from cases where report_id = '\(later)'") == 1
            }
            #expect(try await text("select status from referrals where case_id = '\(childCase)'") == "acknowledged")
            #expect(try await text("select decision from referrals where case_id = '\(childCase)'") == nil)
            #expect(try await text("select status from cases where case_id = '\(childCase)'") != "cancelled")
            let refusals = try await scalar(
                "select count(*) from case_timeline where case_id = '\(childCase)' and detail->>'outcome' = 'rejected'")
            #expect(refusals == 3, "the operator's decision, the child-protection account's cancel, the early close")
            #expect(try await text("select status from cases where case_id = '\(childCase)'") != "resolved")
            // Decided by the body: the operator may close the child's case now.
            try await harness.produce([
                work(childCase, "decide_referral", role: "child_protection", [("decision", "family_reunification")]),
                command(childCase, "close", resolution: "referred_family", reason: "his father came"),
            ])
            try await waitFor("the child's case closed after the decision") {
                try await text("select resolution from cases where case_id = '\(childCase)'") == "referred_family"
            }
            #expect(
                try await text("select decision from referrals where case_id = '\(childCase)'")
                    == "family_reunification")
            #expect(
                try await scalar("select count(*) from processed_events") >= 8, "every event went through the inbox")
        }
        try await harness.cleanUp()
    }

    @Test(
        "a child's case waiting for its referral remembers the crew's resolution across a worker restart, and closes so once decided"
    )
    func childWaitsAcrossRestart() async throws {
        try await harness.prepare()
        let child = UUID()
        let childCase = DerivedID.caseID(forReport: child)
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 0.5, 0, skills: ["child_protection"]),
                report(child, category: "child_street_situation", age: 10, at: 1),
            ])
            try await waitFor("the child's case assigned") {
                try await text("select unit_id from cases where case_id = '\(childCase)'") == "rabat-u1"
            }
            try await harness.produce([
                unit("rabat-u1", 2, "on_scene", at: 1, 0, caseID: childCase),
                unit("rabat-u1", 3, "available", at: 1, 0, caseID: childCase, resolution: "sheltered"),
            ])
            try await waitFor("the case waiting for its referral, with the crew's resolution kept") {
                try await text(
                    "select status || ' ' || coalesce(resolution, '-') from cases where case_id = '\(childCase)'")
                    == "awaiting_resolution sheltered"
            }
        }
        // Another worker (a restart) decides the referral: the case closes as the crew reported.
        try await harness.withWorker { _ in
            try await harness.produce([
                harness.event(
                    .commands, zone: zone, version: 2,
                    [
                        ("case_id", .string(childCase.lowercased)), ("command", "decide_referral"),
                        ("operator_id", "nadia"), ("operator_role", "child_protection"), ("reason", "his aunt"),
                        ("decision", "family_reunification"), ("issued_at", "2026-01-15T03:00:00Z"),
                    ])
            ])
            try await waitFor("the child's case closed once decided, after the restart") {
                try await text(
                    "select status || ' ' || coalesce(resolution, '-') from cases where case_id = '\(childCase)'")
                    == "resolved sheltered"
            }
        }
        try await harness.cleanUp()
    }

    @Test(
        "a child's referral unacknowledged past its deadline escalates to supervisors once, across restarts; a re-visit that meets a refusal comes back the next night and counts it"
    )
    func lateReferralAndRevisits() async throws {
        try await harness.prepare()
        let child = UUID()
        let childCase = DerivedID.caseID(forReport: child)
        let adult = UUID()
        let adultCase = DerivedID.caseID(forReport: adult)
        func visit(_ outcome: String?) -> KafkaRecord {
            var fields: [(String, JSONValue)] = [
                ("case_id", .string(adultCase.lowercased)), ("command", "complete_follow_up"),
                ("operator_id", "op-karim"), ("reason", "second night"), ("issued_at", "2026-01-16T21:40:00Z"),
            ]
            if let outcome { fields.append(("visit_outcome", .string(outcome))) }
            return harness.event(.commands, zone: zone, version: outcome == nil ? 2 : 3, fields)
        }
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 0.5, 0, skills: ["child_protection"]),
                unit("rabat-u2", 1, "available", at: 3, 0),
                report(child, category: "child_street_situation", age: 11, at: 1),
                report(adult, category: "homeless_adult", age: 58, at: 2),
            ])
            try await waitFor("the child's referral and the adult's case") {
                let referral = try await text("select status from referrals where case_id = '\(childCase)'")
                let cases = try await scalar("select count(*) from cases where case_id = '\(adultCase)'")
                return referral == "open" && cases == 1
            }
            try await harness.produce([
                command(adultCase, "close", resolution: "help_refused", reason: "refuses the shelter")
            ])
            try await waitFor("the adult's re-visit task") {
                try await scalar("select refusals from follow_ups where case_id = '\(adultCase)'") == 1
            }
        }
        // The referral's deadline passes while no worker runs (a crash, a long restart).
        _ = try await scalar(
            "update referrals set due_at = now() - interval '5 minutes' where case_id = '\(childCase)'")
        try await harness.withWorker { _ in
            try await waitFor("the late referral escalated by the worker that took the zone over") {
                try await scalar(
                    "select count(*) from referrals where case_id = '\(childCase)' and escalated_at is not null") == 1
            }
            // The re-visit: the person refuses again, then the next night is not there; then helped.
            try await harness.produce([visit("help_refused")])
            try await waitFor("the re-visit back for the next night, a second refusal counted") {
                try await text(
                    "select visits || ' ' || refusals || ' ' || (done_at is null) || ' ' || (due_at > now()) from follow_ups where case_id = '\(adultCase)'"
                ) == "1 2 true true"
            }
            #expect(
                try await text(
                    "select to_char(due_at at time zone 'Africa/Casablanca', 'HH24:MI') from follow_ups where case_id = '\(adultCase)'"
                ) == "20:00")
            try await harness.produce([visit("person_not_found"), visit(nil)])
            try await waitFor("the task done at last") {
                try await scalar(
                    "select count(*) from follow_ups where case_id = '\(adultCase)' and done_at is not null") == 1
            }
            #expect(
                try await text("select visits || ' ' || refusals from follow_ups where case_id = '\(adultCase)'")
                    == "2 2")
        }
        // Another restart: the referral, already escalated, is not escalated again.
        try await harness.withWorker { _ in
            try await harness.produce([report(UUID(), category: "homeless_adult", age: 40, at: 2)])
            try await waitFor("a later case, so the restarted worker has ticked") {
                try await scalar("select count(*) from cases") == 3
            }
            try await Task.sleep(for: .seconds(2))
        }
        #expect(
            try await scalar(
                "select count(*) from case_timeline where case_id = '\(childCase)' and status = 'referral_late'") == 1)
        #expect(
            try await scalar(
                "select count(*) from case_timeline where case_id = '\(adultCase)' and status = 'follow_up_visit'")
                == 2)
        let outcomes = try await KafkaTopicReader.readAll(
            topic: harness.catalog.name(.outcomes), client: harness.configuration.kafka, logger: harness.logger)
        let schema = TopicDecoder(definition: harness.catalog.definition(.outcomes))
        let late = outcomes.flatMap { message -> [JSONValue] in
            guard case .success(let document) = schema.document(value: message.value) else { return [] }
            return OutcomeRecord.steps(document).filter { $0["type"]?.stringValue == "case.referral_late" }
        }
        #expect(late.count == 1, "one case.referral_late outcome, valid under the topic's schema")
        #expect(late.first?["case_id"]?.stringValue == childCase.lowercased)
        #expect(late.first?["destination"]?.stringValue != nil)
        try await harness.cleanUp()
    }

    @Test(
        "law 09-08: a case closed longer ago than the retention loses its personal data and keeps its counts; open and recent cases keep theirs; each purge is logged"
    )
    func retentionPurge() async throws {
        try await harness.prepare()
        let old = UUID()
        let recent = UUID()
        let open = UUID()
        let oldCase = DerivedID.caseID(forReport: old)
        let recentCase = DerivedID.caseID(forReport: recent)
        let openCase = DerivedID.caseID(forReport: open)
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 0.5, 0), unit("rabat-u2", 1, "available", at: 1.5, 0),
                report(old, category: "homeless_adult", age: 52, at: 1),
                report(recent, category: "homeless_adult", age: 47, at: 2),
                report(open, category: "homeless_adult", age: 33, at: 3),
            ])
            try await waitFor("three cases") { try await scalar("select count(*) from cases") == 3 }
            try await harness.produce([
                command(oldCase, "close", resolution: "help_refused", reason: "Ahmed, sleeps behind the bakery"),
                command(recentCase, "close", resolution: "help_refused", reason: "refuses tonight"),
            ])
            try await waitFor("two cases closed") { try await scalar("select count(*) from cases where not open") == 2 }
        }
        // The first case closed 100 days ago; the open one last changed then too.
        _ = try await scalar(
            "update cases set updated_at = now() - interval '100 days' where case_id in ('\(oldCase)', '\(openCase)')")
        let purged = try await harness.withStore {
            try await $0.purgePersonalData(closedBefore: Date().addingTimeInterval(-90 * 86_400), by: "test")
        }
        #expect(purged == 1)
        let payload = try #require(
            try await text(
                "select r.payload::text from reports r join cases c using (report_id) where c.case_id = '\(oldCase)'"))
        for gone in ["notes", "\"age\":", "reporter"] {
            #expect(!payload.contains(gone), "\(gone) still in \(payload)")
        }
        #expect(payload.contains("\"age_band\": \"adult\""), "\(payload)")
        #expect(payload.contains("\"category\": \"homeless_adult\""), "what is counted stays: \(payload)")
        #expect(
            try await scalar(
                "select count(*) from case_timeline where case_id = '\(oldCase)' and detail::text like '%bakery%'") == 0
        )
        #expect(try await text("select note from follow_ups where case_id = '\(oldCase)'") == nil)
        #expect(try await text("select resolution from cases where case_id = '\(oldCase)'") == "help_refused")
        // The recent closed case and the open one keep everything.
        for kept in [recentCase, openCase] {
            #expect(
                try await scalar(
                    "select count(*) from reports r join cases c using (report_id) where c.case_id = '\(kept)' and r.payload ? 'notes' and r.purged_at is null"
                ) == 1)
        }
        #expect(
            try await text("select action || ' ' || cases || ' ' || done_by from privacy_log") == "purge 1 test")
        // Again: nothing left to purge, and the run is logged too.
        #expect(
            try await harness.withStore {
                try await $0.purgePersonalData(closedBefore: Date().addingTimeInterval(-90 * 86_400), by: "test")
            } == 0)
        #expect(try await scalar("select count(*) from privacy_log") == 2)
        try await harness.cleanUp()
    }

    @Test("a console claim survives a worker restart: the new worker refuses another operator's action")
    func claimSurvivesRestart() async throws {
        try await harness.prepare()
        let reportID = UUID()
        let caseID = DerivedID.caseID(forReport: reportID)
        try await harness.withWorker { _ in
            try await harness.produce([unit("rabat-u1", 1, "available", at: 1, 0, skills: [])])
            try await waitFor("the unit known") { try await scalar("select count(*) from units") == 1 }
            try await harness.produce([report(reportID, category: "homeless_adult", age: 40, at: 1)])
            try await waitFor("the case assigned") {
                try await text("select status from cases where case_id = '\(caseID)'") == "assigned"
            }
            try await harness.produce([command(caseID, "claim", reason: "I call the family", by: "op-amina")])
            try await waitFor("the claim applied") {
                try await scalar(
                    "select count(*) from case_timeline where case_id = '\(caseID)' and detail->>'command' = 'claim' and detail->>'outcome' = 'applied'"
                ) == 1
            }
        }
        // A new worker rebuilds the zone from PostgreSQL, the claim with it.
        try await harness.withWorker { _ in
            try await harness.produce([command(caseID, "cancel", reason: "duplicate?", by: "op-youssef")])
            try await waitFor("the new worker refused another operator's cancel") {
                try await text(
                    "select detail->>'rejection' from case_timeline where case_id = '\(caseID)' and detail->>'command' = 'cancel'"
                ) == "case is claimed by op-amina"
            }
        }
        #expect(try await text("select status from cases where case_id = '\(caseID)'") == "assigned")
        try await harness.cleanUp()
    }

    @Test("a worker that takes the zone over rebuilds it from PostgreSQL: units, beds, assigned cases and the queue")
    func takeover() async throws {
        try await harness.prepare()
        let reports = [UUID(), UUID(), UUID()]
        let cases = reports.map { DerivedID.caseID(forReport: $0) }
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 1, 0, skills: []),
                unit("rabat-u2", 1, "available", at: -1, 0, skills: []),
                beds("rabat-s1", 1, at: 0.5, 0, ["men": (5, 0)]),
            ])
            try await waitFor("units and beds known") {
                let units = try await scalar("select count(*) from units")
                let beds = try await scalar("select count(*) from shelter_beds where capacity > 0")
                return units == 2 && beds == 1
            }
            try await harness.produce([
                report(reports[0], category: "homeless_adult", age: 40, at: 1),
                report(reports[1], category: "homeless_adult", age: 41, at: -1),
                report(reports[2], category: "homeless_adult", age: 42, at: 0),
            ])
            try await waitFor("two cases assigned, one queued") {
                let assigned = try await scalar("select count(*) from cases where status = 'assigned'")
                let queued = try await scalar("select count(*) from cases where status = 'queued'")
                return assigned == 2 && queued == 1
            }
        }
        let queued = try #require(
            try await text("select case_id::text from cases where status = 'queued'").flatMap(UUID.init(uuidString:)))
        let firstUnit = try #require(try await text("select unit_id from cases where case_id = '\(cases[0])'"))
        let secondCase = cases.first { $0 != queued && $0 != cases[0] }!
        let secondUnit = try #require(try await text("select unit_id from cases where case_id = '\(secondCase)'"))
        // A new worker (a restart, or another member taking the partitions over).
        try await harness.withWorker { worker in
            try await harness.produce([
                unit(firstUnit, 2, "en_route", at: 1, 0, caseID: cases[0]),
                unit(secondUnit, 2, "returning", at: 0, 0, caseID: secondCase, resolution: "help_refused"),
            ])
            try await waitFor("the restored case acknowledged and the restored queue served") {
                let acknowledged = try await text("select status from cases where case_id = '\(cases[0])'")
                let served = try await text("select unit_id from cases where case_id = '\(queued)'")
                return acknowledged == "acknowledged" && served == secondUnit
            }
            #expect(worker.statistics.snapshot.inputsRejected == 0, "no report was refused as unknown")
        }
        // Holds survived the takeover: the first case's bed is still held, and a new one for the served case.
        #expect(
            try await scalar("select held from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'") == 2)
        #expect(
            try await scalar(
                "select count(*) from (select unit_id from assignments where active group by unit_id having count(*) > 1) x"
            )
                == 0)
        try await harness.cleanUp()
    }

    @Test("a worker whose zone was taken over has its write refused, forgets the zone and leaves its events")
    func fencedWorker() async throws {
        try await harness.prepare()
        let before = UUID()
        let after = UUID()
        try await harness.withWorker { worker in
            try await harness.produce([report(before, category: "homeless_adult", age: 40, at: 0)])
            try await waitFor("the first case") { try await scalar("select count(*) from cases") == 1 }
            // Another worker takes Rabat over (as after a rebalance this one missed while paused).
            _ = try await harness.withStore { try await $0.takeLeases([zone], owner: "someone-else") }
            try await harness.produce([report(after, category: "homeless_adult", age: 41, at: 0)])
            try await waitFor("the write refused") { worker.statistics.snapshot.fencedWrites == 1 }
            try await Task.sleep(for: .seconds(1))
            #expect(try await scalar("select count(*) from cases") == 1, "nothing written for the zone it lost")
            #expect(try await scalar("select epoch from zone_leases where zone = 'rabat'") == 2)
            #expect(try await text("select owner from zone_leases where zone = 'rabat'") == "someone-else")
        }
        try await harness.cleanUp()
    }

    @Test(
        "a zone's first event never takes a lease: a zone leased away before any of its events stays with its new owner"
    )
    func firstEventTakesNoLease() async throws {
        try await harness.prepare()
        let owner = harness.configuration.workerID
        try await harness.withWorker { worker in
            // Leases are taken on assignment, for every zone of the assigned partitions, before any
            // event: Salé is this worker's although none of its events came yet.
            try await waitFor("Salé leased on assignment") {
                try await text("select owner from zone_leases where zone = 'sale'") == owner
            }
            #expect(try await scalar("select count(*) from cases") == 0)
            // Another worker takes Salé (as after a rebalance this one missed while paused); then
            // Salé's first event comes to this worker. Taking a lease on a zone's first event, this
            // worker would take Salé back from its rightful owner and open the case.
            _ = try await harness.withStore { try await $0.takeLeases(["sale"], owner: "someone-else") }
            let epoch = try await scalar("select epoch from zone_leases where zone = 'sale'")
            try await harness.produce([
                harness.reportRecord(
                    ReportFixture.document(id: UUID(), zone: "sale", reportedAt: "2026-01-15T02:10:00+01:00"))
            ])
            try await waitFor("the write refused") { worker.statistics.snapshot.fencedWrites == 1 }
            try await Task.sleep(for: .seconds(1))
            #expect(try await scalar("select count(*) from cases where zone = 'sale'") == 0)
            #expect(try await text("select owner from zone_leases where zone = 'sale'") == "someone-else")
            #expect(try await scalar("select epoch from zone_leases where zone = 'sale'") == epoch)
        }
        try await harness.cleanUp()
    }

    @Test(
        "a write refused for a lost zone keeps the leases of the batch's other zones: they are reloaded, not taken again"
    )
    func fencedBatchKeepsOtherLeases() async throws {
        try await harness.prepare()
        func elsewhere(_ id: UUID) -> KafkaRecord {
            harness.reportRecord(ReportFixture.document(id: id, zone: "sale", reportedAt: "2026-01-15T02:10:00+01:00"))
        }
        try await harness.withWorker { worker in
            try await harness.produce([
                report(UUID(), category: "homeless_adult", age: 40, at: 0), elsewhere(UUID()),
            ])
            try await waitFor("the first two cases") { try await scalar("select count(*) from cases") == 2 }
            #expect(try await scalar("select epoch from zone_leases where zone = 'sale'") == 1)
            // Another worker takes Rabat over; the next reports of Rabat and Salé go out together, so
            // that the refused batch most often holds both.
            _ = try await harness.withStore { try await $0.takeLeases([zone], owner: "someone-else") }
            try await harness.produce([
                report(UUID(), category: "homeless_adult", age: 41, at: 0), elsewhere(UUID()),
            ])
            try await waitFor("the write refused") { worker.statistics.snapshot.fencedWrites == 1 }
            try await waitFor("Salé's second case") {
                try await scalar("select count(*) from cases where zone = 'sale'") == 2
            }
            #expect(try await scalar("select count(*) from cases where zone = 'rabat'") == 1)
            // Salé was reloaded under the lease this worker held: a new epoch would have taken it
            // from whoever holds it now.
            #expect(try await scalar("select epoch from zone_leases where zone = 'sale'") == 1)
            #expect(try await text("select owner from zone_leases where zone = 'rabat'") == "someone-else")
        }
        try await harness.cleanUp()
    }
}
