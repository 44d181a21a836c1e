import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

extension DispatchFlowTests {
    /// A report of schema version 3 about the case `linked` (another call about the person).
    func linkedReport(
        _ id: UUID, to linked: UUID, category: String, factors: [JSONValue], at east: Double
    )
        -> KafkaRecord
    {
        var document = ReportFixture.document(
            id: id, zone: zone, category: category, reportedAt: RFC3339.format(Date()), age: 70,
            location: GeoPoint(
                latitude: Self.centre.latitude,
                longitude: Self.centre.longitude + east / (111.19 * cos(Self.centre.latitude * .pi / 180))),
            extra: [("linked_case_id", .string(linked.lowercased))])
        if case .object(let object) = document {
            document = .object(
                JSONObject(
                    object.entries.map { entry in
                        switch entry.key {
                        case "schema_version": (entry.key, 3)
                        case "factors": (entry.key, .array(factors))
                        default: entry
                        }
                    }))
        }
        return harness.reportRecord(document)
    }

    @Test(
        "calls linked to a case through the broker: one case and no second unit, a more urgent call raises the priority, a redelivered call changes nothing, a call linked to a closed or unknown case opens its own with the reason, a priority or bed override is stored for a takeover, and the purge removes the linked calls' words"
    )
    func linkedCalls() async throws {
        try await harness.prepare()
        let first = UUID()
        let firstCase = DerivedID.caseID(forReport: first)
        let second = UUID()
        try await harness.withWorker { _ in
            try await harness.produce([
                unit("rabat-u1", 1, "available", at: 0.5, 0),
                unit("rabat-u2", 1, "available", at: 1.5, 0),
                report(first, category: "homeless_adult", age: 50, at: 1),
            ])
            try await waitFor("the first case assigned") {
                try await scalar("select count(*) from assignments where case_id = '\(firstCase)' and active") == 1
            }
            let before = try #require(try await text("select priority from cases where case_id = '\(firstCase)'"))
            // A second caller says the man is hurt and in danger: linked, more urgent.
            let call = linkedReport(
                second, to: firstCase, category: "homeless_adult", factors: ["injury", "immediate_danger"], at: 1.1)
            try await harness.produce([call])
            try await waitFor("the call linked to the case") {
                try await scalar("select count(*) from reports where linked_case_id = '\(firstCase)'") == 1
            }
            #expect(try await scalar("select count(*) from cases") == 1, "no case for the linked call")
            #expect(try await scalar("select count(*) from assignments") == 1, "no second unit")
            #expect(
                try await scalar(
                    "select count(*) from case_timeline where case_id = '\(firstCase)' and status = 'report_linked' and not detail ? 'report'"
                ) == 1, "the timeline names the call, without its words")
            #expect(try await text("select priority from cases where case_id = '\(firstCase)'") == "P1")
            #expect(try await text("select triage->>'priority' from cases where case_id = '\(firstCase)'") == "P1")
            #expect(
                try await scalar(
                    "select count(*) from decisions where case_id = '\(firstCase)' and kind = 'override' and priority = 'P1' and reason like 'priority \(before) → P1:%'"
                ) == 1)
            try await waitFor("case.report_linked and case.reprioritised published") {
                let linked = try await harness.outcomes(ofType: "case.report_linked")
                let raised = try await harness.outcomes(ofType: "case.reprioritised")
                return linked.map { $0["report_id"]?.stringValue } == [second.lowercased] && raised.count == 1
            }
            // The same call delivered again: nothing more.
            try await harness.produce([call])
            // Closed, the case takes no more calls: the next one opens its own case, saying why.
            try await harness.produce([
                command(firstCase, "close", resolution: "taken_to_hospital", reason: "ambulance took him")
            ])
            try await waitFor("the first case closed") {
                try await text("select status from cases where case_id = '\(firstCase)'") == "resolved"
            }
            let late = UUID()
            let stranger = UUID()
            try await harness.produce([
                linkedReport(late, to: firstCase, category: "homeless_adult", factors: [], at: 1.2),
                linkedReport(stranger, to: UUID(), category: "isolated_elderly", factors: [], at: 3),
            ])
            for id in [late, stranger] {
                try await waitFor("a case of its own for a call that could not be linked") {
                    try await scalar(
                        "select count(*) from case_timeline where case_id = '\(DerivedID.caseID(forReport: id))' and status = 'link_refused'"
                    ) == 1
                }
            }
            #expect(try await scalar("select count(*) from reports where linked_case_id is not null") == 1)
            // An operator's override of the late call's case (schema version 4).
            let lateCase = DerivedID.caseID(forReport: late)
            try await harness.produce([
                harness.event(
                    .commands, zone: zone, version: 4,
                    [
                        ("case_id", .string(lateCase.lowercased)), ("command", "set_priority"), ("priority", "P1"),
                        ("operator_id", "op-fatima"), ("reason", "he was the man taken to hospital: he fled"),
                        ("issued_at", .string(RFC3339.format(Date()))),
                    ])
            ])
            try await waitFor("the override stored") {
                try await text("select triage->>'priority' from cases where case_id = '\(lateCase)'") == "P1"
            }
            #expect(
                try await text(
                    "select detail->>'from' || '>' || (detail->>'to') from case_timeline where case_id = '\(lateCase)' and status = 'priority_changed'"
                ) != nil)
            // And of its bed type: triage gave the old man an elderly person's bed; he will only go
            // to the men's night shelter he knows.
            try await harness.produce([
                harness.event(
                    .commands, zone: zone, version: 4,
                    [
                        ("case_id", .string(lateCase.lowercased)), ("command", "choose_bed"),
                        ("bed_type", "men"), ("operator_id", "op-fatima"),
                        ("reason", "refuses the elderly centre, accepts the men's shelter"),
                        ("issued_at", .string(RFC3339.format(Date()))),
                    ])
            ])
            try await waitFor("the bed choice stored") {
                try await text(
                    "select bed_type || '/' || (triage->>'bed_type') from cases where case_id = '\(lateCase)'")
                    == "men/men"
            }
            #expect(
                try await scalar(
                    "select count(*) from decisions where case_id = '\(lateCase)' and kind = 'override' and bed_type = 'men'"
                ) == 1)
            try await waitFor("case.bed_chosen published") {
                try await harness.outcomes(ofType: "case.bed_chosen").count == 1
            }
        }
        // A worker taking the zone over restores the override (the stored triage).
        let restored = try await harness.withStore { store in
            try await store.zoneStates([zone])
        }
        let lateCase = restored[zone]?.cases.first {
            $0.triaged.caseID != firstCase && $0.triaged.triage.priority == .p1
        }
        #expect(lateCase != nil, "the override restored")
        // Law 09-08: the closed case's purge takes its linked call's words too.
        let purged = try await harness.withStore { store in
            try await store.client.query(
                "select samu_purge_personal_data(now() + interval '1 day', 'test')", logger: harness.logger
            ).collect().first!.decode(Int32.self)
        }
        #expect(purged >= 1)
        #expect(
            try await scalar(
                "select count(*) from reports where report_id = '\(second)' and purged_at is not null and not payload ? 'notes' and not payload->'person' ? 'age'"
            ) == 1)
        try await harness.cleanUp()
    }
}
