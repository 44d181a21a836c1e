import Foundation
import PostgresNIO
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

extension ConsoleBrowserTests {
    /// Posts a hotline report for Rabat and returns its case id.
    func post(
        _ client: WebClient, token: String, category: String, age: Int64, notes: String, at place: GeoPoint,
        ageAsDecimal: Bool = false
    ) async throws -> String {
        let id = UUID()
        var document = ReportFixture.document(
            id: id, zone: "rabat", category: category, reportedAt: RFC3339.format(Date().addingTimeInterval(-600)),
            age: age, location: place
        ).replacing(path: ["notes"], with: .string(notes))
        // A neighbour called, and left a callback number.
        if case .object(var object) = document {
            object.append("reporter", ["name": "Rachid Voisin", "phone": "+212600112233"])
            document = .object(object)
        }
        // A producer whose numbers are floats writes the age `77.0`: valid, and stored as sent.
        if ageAsDecimal { document = document.replacing(path: ["person", "age"], with: .number(Double(age))) }
        let reply = try await client.send(
            "POST", "/v1/reports",
            headers: [
                "Authorization": "Bearer \(token)", "Content-Type": "application/json",
                "Idempotency-Key": id.lowercased,
            ], body: Data(ReportFixture.bytes(document)))
        #expect(reply.status == 202)
        return DerivedID.caseID(forReport: id).lowercased
    }

    @Test(
        "law 09-08 in the console: a case linked to a known person shows their history with the refusals; a supervisor exports it; the retention purge removes an old closed case's personal fields; an erasure waits for the open case, then removes the person"
    )
    func knownPersonAndPersonalData() async throws {
        try await harness.prepare()
        try await harness.addOperator("hind", zones: ["rabat"], role: .supervisor)
        try await harness.withBrowserNight { client, token, browser in
            let api = try await client.loggedIn("hind", password: ConsoleHarness.password)
            let page = try await browser.newPage()
            try await harness.logIn(page, base: client.base, as: "hind")
            let bridge = GeoPoint(latitude: 34.0245, longitude: -6.8362)
            // Last week: the old man under the bridge refused help.
            let first = try await post(
                client, token: token, category: "isolated_elderly", age: 77, notes: "dort sous le pont, toux forte",
                at: bridge, ageAsDecimal: true)
            try await page.waitFor(
                "document.querySelector('#cases li[data-case-id=\"\(first)\"]') !== null", timeout: .seconds(20))
            let closed = try await api.json(
                "POST", "/api/cases/\(first)/commands",
                ["command": "close", "resolution": "help_refused", "reason": "ne veut pas quitter le pont"])
            #expect(closed.status == 202)
            try await page.waitFor(
                "document.querySelector('#follow-ups tr[data-case-id=\"\(first)\"]') !== null", timeout: .seconds(20))
            // Tonight: another call about him.
            let second = try await post(
                client, token: token, category: "isolated_elderly", age: 77, notes: "le vieil homme du pont grelotte",
                at: bridge)
            try await page.waitFor(
                "document.querySelector('#cases li[data-case-id=\"\(second)\"]') !== null", timeout: .seconds(20))
            try await page.evaluate("document.querySelector('#cases li[data-case-id=\"\(second)\"]').click(); true")
            try await page.waitFor(
                "document.getElementById('detail').dataset.caseId === '\(second)' && document.getElementById('person-line').dataset.personId === ''"
            )
            // The service names him: an alias it chooses.
            // (A double click: one person.)
            try await page.evaluate(
                "document.getElementById('person-new').click(); document.getElementById('person-new').click(); true")
            try await page.waitFor("document.getElementById('person-line').dataset.personId !== ''")
            let personID = try #require(
                try await page.evaluate("document.getElementById('person-line').dataset.personId").stringValue)
            let alias = try #require(
                try await harness.pipeline.text("select alias from persons where person_id = '\(personID)'"))
            #expect(alias.range(of: #"^[A-Za-z]+ [0-9]{1,3}$"#, options: .regularExpression) != nil, "\(alias)")
            // Last week's case, from the follow-ups: linked to him by his alias.
            try await page.evaluate("document.querySelector('#follow-ups tr[data-case-id=\"\(first)\"]').click(); true")
            try await page.waitFor("document.getElementById('detail').dataset.caseId === '\(first)'")
            try await page.evaluate(
                """
                const search = document.getElementById('person-search'); search.value = '\(alias.prefix(4))';
                search.dispatchEvent(new Event('input', { bubbles: true })); true
                """)
            try await page.waitFor("persons.matches.some(p => p.alias === '\(alias)')")
            try await page.evaluate(
                "document.getElementById('person-search').value = '\(alias)'; document.getElementById('person-link').click(); true"
            )
            try await page.waitFor("document.getElementById('person-line').dataset.personId === '\(personID)'")
            // His history: two encounters, one refusal.
            try await page.evaluate("document.getElementById('person-history-button').click(); true")
            try await page.waitFor("document.querySelectorAll('#person-encounters li').length === 2")
            #expect(
                try await page.evaluate(
                    "document.querySelector('#person-encounters li[data-resolution=\"help_refused\"]') !== null")
                    == .bool(true))
            #expect(
                try await page.evaluate("document.getElementById('person-line').textContent.includes('1 refus')")
                    == .bool(true))
            try await page.screenshot(to: Artifacts.directory.appendingPathComponent("person-history.png"))
            // A board event (tonight's case claimed) reloads the case shown: his history stays open.
            let loads = Int(try await page.evaluate("persons.loads").doubleValue ?? 0)
            let claimed = try await api.json(
                "POST", "/api/cases/\(second)/commands", ["command": "claim", "reason": "je rappelle"])
            #expect(claimed.status == 202)
            try await page.waitFor("persons.loads > \(loads)", timeout: .seconds(20))
            #expect(
                try await page.evaluate(
                    "!document.getElementById('person-history').hidden && document.querySelectorAll('#person-encounters li').length === 2"
                ) == .bool(true))
            // Tonight's case, which has no refusal of its own, shows the one of last week's case.
            try await page.evaluate("document.querySelector('#cases li[data-case-id=\"\(second)\"]').click(); true")
            try await page.waitFor(
                "document.getElementById('detail').dataset.caseId === '\(second)' && document.getElementById('person-line').dataset.personId === '\(personID)'"
            )
            let line = try await page.evaluate("document.getElementById('person-line').textContent").stringValue ?? ""
            #expect(line.contains("\(alias) — 2 rencontre(s), 1 refus"), "\(line)")
            // A malformed link request is refused; it is not read as "a new person", which would move
            // the case off him.
            for body in [#"{"person_id": 7}"#, #"{"personId": "x"}"#, #"{"person_id": "#, "[]"] {
                let refused = try await api.send(
                    "POST", "/api/cases/\(second)/person", headers: ["Content-Type": "application/json"],
                    body: Data(body.utf8))
                #expect([400, 422].contains(refused.status), "\(body): \(refused.status)")
            }
            #expect(
                try await harness.pipeline.text("select person_id::text from case_persons where case_id = '\(second)'")
                    == personID)
            #expect(try await harness.pipeline.scalar("select count(*) from persons") == 1)
            // A linked case is not moved to someone else unseen (another operator's stale page): a
            // new person is 409 and nobody is created; him again changes nothing; the page offers
            // neither while he is linked.
            let other = try await api.json("POST", "/api/cases/\(second)/person", [:])
            #expect(other.status == 409, "\(other.status)")
            #expect(other.json["reason"]?.stringValue == "linked_to_another_person")
            #expect(try await harness.pipeline.scalar("select count(*) from persons") == 1)
            #expect(
                try await api.json("POST", "/api/cases/\(second)/person", ["person_id": .string(personID)]).status
                    == 200)
            #expect(
                try await harness.pipeline.text("select person_id::text from case_persons where case_id = '\(second)'")
                    == personID)
            #expect(
                try await page.evaluate(
                    "document.getElementById('person-new').disabled && document.getElementById('person-link').disabled")
                    == .bool(true))
            // Text the database refuses (a NUL character) is the client's mistake: 422, nothing logged.
            let logged = try await harness.pipeline.scalar("select count(*) from privacy_log")
            let nul = try await api.json("POST", "/api/persons/\(personID)/erase", ["reason": "demande\u{0}"])
            #expect(nul.status == 422, "\(nul.status)")
            #expect(try await api.send("GET", "/api/persons?alias=%00ab").status == 422)
            #expect(try await harness.pipeline.scalar("select count(*) from privacy_log") == logged)
            #expect(
                try await harness.pipeline.scalar("select count(*) from follow_ups where case_id = '\(second)'") == 0)
            // Back to last week's case.
            try await page.evaluate("document.querySelector('#follow-ups tr[data-case-id=\"\(first)\"]').click(); true")
            try await page.waitFor(
                "document.getElementById('detail').dataset.caseId === '\(first)' && document.getElementById('person-line').dataset.personId === '\(personID)'"
            )
            // Right of access: the supervisor exports his data (logged).
            try await page.evaluate("document.getElementById('person-export').click(); true")
            try await page.waitFor("document.getElementById('person-status').dataset.outcome === 'exported'")
            let export = try await api.send("GET", "/api/persons/\(personID)/export")
            #expect(export.status == 200)
            #expect(export.json["cases"]?.arrayValue?.count == 2)
            let exported = String(decoding: export.body, as: UTF8.self)
            #expect(exported.contains("sous le pont"))
            // Who called about him is a third party's data, not his.
            #expect(!exported.contains("+212600112233") && !exported.contains("Rachid"), "\(exported)")
            #expect(export.json["cases_outside_your_zones"] == .integer(0))
            #expect(try await harness.pipeline.scalar("select count(*) from privacy_log where action = 'export'") == 2)
            // Each case exported is a logged read of it, and the log names the cases.
            #expect(
                try await harness.pipeline.scalar(
                    "select count(*) from personal_data_reads where operator_id = 'hind' and case_id in ('\(first)', '\(second)')"
                ) >= 4)
            #expect(
                try await harness.pipeline.scalar(
                    "select jsonb_array_length(detail->'case_ids') from privacy_log where action = 'export' order by 1 desc limit 1"
                ) == 2)

            // The retention: last week's case, closed 100 days ago, loses its personal fields.
            #expect(
                try await harness.pipeline.text(
                    "select r.payload->'person'->>'age' from reports r join cases c using (report_id) where c.case_id = '\(first)'"
                ) == "77.0", "stored as the hotline sent it")
            _ = try await harness.pipeline.scalar(
                "update cases set updated_at = now() - interval '100 days' where case_id = '\(first)'")
            // The outbox rows published as long ago, and a dead letter parked as long ago (the raw
            // call with its callback number), go with it; recent ones stay.
            _ = try await harness.pipeline.scalar(
                "update outbox set published_at = now() - interval '100 days' where payload like '%\(first)%' and published_at is not null"
            )
            let oldRows = try await harness.pipeline.scalar(
                "select count(*) from outbox where payload like '%\(first)%' and published_at < now() - interval '99 days'"
            )
            #expect(oldRows > 0)
            let outboxBefore = try await harness.pipeline.scalar("select count(*) from outbox")
            for (id, age) in [(UUID(), "100 days"), (UUID(), "1 day")] {
                _ = try await harness.pipeline.scalar(
                    """
                    insert into parked_dead_letters (dead_letter_id, source_topic, source_partition, source_offset, reason,
                                                     dead_letter, error, parked_at)
                    values ('\(id)', 't', 0, 0, 'oversized', '{"value_base64": "+212600112233"}', 'x', now() - interval '\(age)')
                    """)
            }
            let purged = try await harness.pipeline.withStore {
                try await $0.purgePersonalData(closedBefore: Date().addingTimeInterval(-90 * 86_400), by: "test")
            }
            #expect(purged == 1)
            #expect(try await harness.pipeline.scalar("select count(*) from outbox") == outboxBefore - oldRows)
            #expect(try await harness.pipeline.scalar("select count(*) from parked_dead_letters") == 1)
            #expect(
                try await harness.pipeline.scalar(
                    "select (detail->>'outbox_rows')::int8 from privacy_log where action = 'purge' order by entry_id desc limit 1"
                ) == oldRows)
            // The age written 77.0 became its band; the exact age kept for the shelter's fit is gone too.
            #expect(
                try await harness.pipeline.text(
                    "select r.payload->'person'->>'age_band' from reports r join cases c using (report_id) where c.case_id = '\(first)'"
                ) == "elderly")
            #expect(
                try await harness.pipeline.scalar(
                    "select count(*) from cases where case_id = '\(first)' and triage->'shelter_need' ? 'age'") == 0)
            #expect(
                try await harness.pipeline.scalar(
                    "select count(*) from cases where case_id = '\(second)' and triage->'shelter_need' ? 'age'") == 1,
                "tonight's open case keeps it")
            try await page.evaluate("document.getElementById('show-personal').click(); true")
            try await page.waitFor(
                "!document.getElementById('detail-personal').hidden && document.getElementById('detail-personal').textContent.length > 0"
            )
            let told = try #require(
                try await page.evaluate("document.getElementById('detail-personal').textContent").stringValue)
            #expect(!told.contains("sous le pont"), "the notes are gone: \(told)")
            #expect(!told.contains("77"), "the exact age is gone: \(told)")

            // Right of erasure: refused while tonight's case is open, done once it is closed.
            try await page.evaluate(
                "document.getElementById('person-erase-reason').value = 'demande écrite du 6 décembre'; document.getElementById('person-erase').click(); true"
            )
            try await page.waitFor("document.getElementById('person-status').dataset.outcome === 'error'")
            #expect(
                try await page.evaluate("document.getElementById('person-status').textContent.includes('open')")
                    == .bool(true))
            let done = try await api.json(
                "POST", "/api/cases/\(second)/commands",
                ["command": "close", "resolution": "sheltered", "reason": "accepted a bed"])
            #expect(done.status == 202)
            try await page.waitFor(
                "document.querySelector('#cases li[data-case-id=\"\(second)\"]') === null", timeout: .seconds(20))
            try await page.evaluate("document.getElementById('person-erase').click(); true")
            try await page.waitFor("document.getElementById('person-status').dataset.outcome === 'erased'")
            let after = try await harness.pipeline.withStore { store in
                try await store.client.query(
                    """
                    select (select count(*) from case_persons)::int8,
                           (select count(*) from persons where erased_at is not null and alias = 'Effacé 0')::int8,
                           (select count(*) from reports where purged_at is not null and not payload ? 'notes')::int8,
                           (select count(*) from privacy_log where action = 'erase' and done_by = 'hind')::int8
                    """, logger: harness.pipeline.logger
                ).collect().first!.decode((Int64, Int64, Int64, Int64).self)
            }
            #expect(after.0 == 0 && after.1 == 1 && after.2 == 2 && after.3 == 1, "\(after)")
            #expect(try await api.send("GET", "/api/persons/\(personID)").status == 404)
        }
    }
}
