import Foundation
import PostgresNIO
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// The call-taker's form and the priority override, in Chromium against a real worker, broker and
/// PostgreSQL (in the browser suite: one Chromium at a time).
extension ConsoleBrowserTests {
    @Test(
        "a call taken on the console is proposed as a duplicate of an open case nearby, linked, and shown in that case with its reasons; a second click publishes nothing more; a priority override moves a waiting case up the queue; a bed chosen by the operator is held"
    )
    func callTakerAndOverride() async throws {
        try await harness.prepare()
        try await harness.addOperator("samira", zones: ["rabat", "sale"])
        try await harness.withBrowserNight { client, token, browser in
            let page = try await browser.newPage()
            try await harness.logIn(page, base: client.base, as: "samira")
            try await page.waitFor(
                "document.querySelectorAll('#units tr[data-unit-id^=\"rabat-\"]').length >= 4", timeout: .seconds(30))
            // The hotline reports an old man asleep near Bab El Had.
            let caseID = try await post(
                client, token: token, category: "isolated_elderly", age: 74, notes: "رجل مسن ينام قرب باب الأحد",
                at: GeoPoint(latitude: 34.0209, longitude: -6.8416))
            try await page.waitFor(
                "document.querySelector('#cases li[data-case-id=\"\(caseID)\"]') !== null", timeout: .seconds(20))

            // A second caller: Alt+N opens the form, with a report id made for this call.
            try await page.evaluate(
                "document.dispatchEvent(new KeyboardEvent('keydown', { key: 'n', altKey: true })); true")
            try await page.waitFor("!document.getElementById('call-form').hidden")
            #expect(try await page.evaluate("document.activeElement.id") == .string("call-category"))
            let reportID = try #require(
                try await page.evaluate("document.getElementById('call-form').dataset.reportId").stringValue)
            try await page.evaluate(
                """
                const fill = (id, value) => { const n = document.getElementById(id); n.value = value;
                  n.dispatchEvent(new Event('input', { bubbles: true })); };
                fill('call-category', 'homeless_adult'); fill('call-sex', 'male'); fill('call-age', '150');
                fill('call-lat', '34.02230'); fill('call-lon', '-6.84050');
                fill('call-landmark', 'باب الأحد، قرب الحافلات'); fill('call-notes', 'le même vieil homme, il saigne');
                fill('call-phone', '+212 600 000 111');
                document.querySelector('#call-factors input[value="injury"]').click(); true
                """)
            // Checked live against the topic's schema: the impossible age is named.
            try await page.waitFor(
                "document.getElementById('call-check').dataset.valid === 'false' && document.getElementById('call-check').dataset.field === '/person/age'"
            )
            #expect(
                try await page.evaluate("document.getElementById('call-age').getAttribute('aria-invalid')")
                    == .string("true"))
            try await page.evaluate(
                "const a = document.getElementById('call-age'); a.value = '73'; a.dispatchEvent(new Event('input', { bubbles: true })); true"
            )
            try await page.waitFor("document.getElementById('call-check').dataset.valid === 'true'")
            // The open case 150 m away is proposed: a homeless adult may be the same old man.
            try await page.waitFor(
                "document.querySelector('#call-nearby-list li[data-case-id=\"\(caseID)\"][data-compatible=\"true\"]') !== null"
            )
            try await page.evaluate(
                "document.querySelector('#call-nearby-list [data-link-case=\"\(caseID)\"]').click(); true")
            try await page.waitFor("document.getElementById('call-link').dataset.linked === '\(caseID)'")
            try await page.screenshot(to: Artifacts.directory.appendingPathComponent("call-taker.png"))
            try await page.evaluate("document.getElementById('call-submit').click(); true")
            try await page.waitFor("document.getElementById('call-status').dataset.outcome === 'accepted'")
            #expect(
                try await page.evaluate("document.getElementById('call-status').dataset.reportId")
                    == .string(reportID))
            // A second click (or a retry after a lost answer) publishes nothing more.
            try await page.evaluate("document.getElementById('call-submit').click(); true")
            try await page.waitFor("document.getElementById('call-status').dataset.outcome === 'replayed'")

            // The zone's worker adds the call to the case: shown in its detail with why that call
            // alone would be urgent, in the operator's language.
            try await page.waitFor(
                "document.querySelector('#detail-calls li[data-report-id=\"\(reportID)\"] li[data-rule]') !== null",
                timeout: .seconds(20))
            #expect(
                try await page.evaluate("document.getElementById('detail').dataset.caseId") == .string(caseID))
            // One case, two reports, one unit: the call dispatched nothing.
            let counts = try await harness.pipeline.withStore { store in
                try await store.client.query(
                    """
                    select (select count(*) from cases)::int8, (select count(*) from reports)::int8,
                           (select count(*) from reports where linked_case_id = \(UUID(uuidString: caseID)!))::int8,
                           (select count(*) from assignments where case_id = \(UUID(uuidString: caseID)!))::int8,
                           (select priority from cases where case_id = \(UUID(uuidString: caseID)!)),
                           (select min(detail->>'priority') from case_timeline
                            where case_id = \(UUID(uuidString: caseID)!) and status in ('triaged', 'report_linked'))
                    """, logger: harness.pipeline.logger
                ).collect().first!.decode((Int64, Int64, Int64, Int64, String, String).self)
            }
            #expect(counts.0 == 1 && counts.1 == 2 && counts.2 == 1, "cases, reports, linked: \(counts)")
            #expect(counts.3 == 1, "one unit for the case")
            #expect(counts.4 == counts.5, "the case takes the more urgent of its calls' priorities")
            // Salé is its own dispatch area: its worker cannot add a call to Rabat's case, so the case
            // is not proposed for a call in Salé, and a link to it is refused (a second case and a
            // second unit would follow).
            let samira = try await client.loggedIn("samira", password: ConsoleHarness.password)
            func proposed(_ zone: String) async throws -> Bool {
                let reply = try await samira.send("GET", "/api/calls/nearby?lat=34.0223&lon=-6.8405&zone=\(zone)")
                #expect(reply.status == 200)
                return reply.json.arrayValue?.contains { $0["case_id"]?.stringValue == caseID } == true
            }
            #expect(try await proposed("rabat"))
            #expect(try await !proposed("sale"))
            let across = try await samira.json(
                "POST", "/api/calls",
                ConsoleAttackTests.call(zone: "sale", extra: [("linked_case_id", .string(caseID))]))
            #expect(across.status == 422, "\(String(decoding: across.body, as: UTF8.self))")
            #expect(across.json["reason"]?.stringValue == "other_dispatch_area")
            // The operator closes the form and reads both calls as told (one logged read).
            try await page.evaluate(
                "document.getElementById('call-close').click(); document.getElementById('show-personal').click(); true")
            try await page.waitFor(
                "document.getElementById('detail-personal').textContent.includes('+212 600 000 111') && document.getElementById('detail-personal').textContent.includes('il saigne')"
            )
            try await page.evaluate("document.getElementById('detail-calls-box').scrollIntoView(); true")
            try await page.screenshot(to: Artifacts.directory.appendingPathComponent("call-linked-case.png"))

            // A busy night in Rabat: more reports than crews, so some wait.
            for index in 0..<6 {
                _ = try await post(
                    client, token: token, category: "homeless_adult", age: 40, notes: "un homme allongé",
                    at: GeoPoint(latitude: 33.99 + Double(index) * 0.004, longitude: -6.86 + Double(index) * 0.003))
            }
            try await page.waitFor(
                "state.board.cases.filter(c => c.status === 'queued').length >= 2", timeout: .seconds(20))
            // The last waiting case is told to be a priority: it moves up to its new place.
            let position = "[...document.querySelectorAll('#cases li[data-case-id]')].map(li => li.dataset.caseId)"
            let last = try #require(
                try await page.evaluate(
                    "state.board.cases.filter(c => c.status === 'queued').map(c => c.case_id).pop()"
                ).stringValue)
            let before = try await page.evaluate("\(position).indexOf('\(last)')")
            try await page.evaluate(
                """
                document.querySelector('#cases li[data-case-id="\(last)"]').click(); true
                """)
            try await page.waitFor(
                "document.getElementById('detail').dataset.caseId === '\(last)' && !document.getElementById('act-set-priority').disabled"
            )
            try await page.evaluate(
                """
                document.getElementById('act-reason').value = 'a passer-by says he is shaking with fever';
                document.getElementById('act-priority').value = 'P1';
                document.getElementById('act-set-priority').click(); true
                """)
            try await page.waitFor("document.getElementById('act-status').dataset.outcome === 'applied'")
            try await page.waitFor(
                "document.querySelector('#cases li[data-case-id=\"\(last)\"] .prio').textContent === 'P1'")
            let after = try await page.evaluate("\(position).indexOf('\(last)')")
            #expect((after.integerValue ?? 99) < (before.integerValue ?? 0), "moved from \(before) to \(after)")
            // Above it only P1 cases; the override is a decision with its operator and reason.
            #expect(
                try await page.evaluate(
                    "(() => { const ids = \(position); const i = ids.indexOf('\(last)'); return state.board.cases.filter(c => ids.indexOf(c.case_id) < i).every(c => c.priority === 'P1'); })()"
                ) == .bool(true))
            try await page.waitFor(
                "[...document.querySelectorAll('#detail-decisions li')].some(li => li.dataset.kind === 'override' && li.textContent.includes('P1') && li.textContent.includes('fever'))"
            )

            // The old man of the first call: the operator chooses an elderly person's bed for him,
            // at a shelter of the zone that has one free.
            try await page.evaluate(
                "document.querySelector('#cases li[data-case-id=\"\(caseID)\"]').click(); true")
            try await page.waitFor(
                "document.getElementById('detail').dataset.caseId === '\(caseID)' && !document.getElementById('act-choose-bed').disabled"
            )
            try await page.evaluate(
                """
                const bed = document.getElementById('act-bed-type'); bed.value = 'elderly';
                bed.dispatchEvent(new Event('change')); true
                """)
            try await page.waitFor("document.getElementById('act-shelter').options.length > 1")
            let shelter = try #require(
                try await page.evaluate("document.getElementById('act-shelter').options[1].value").stringValue)
            try await page.evaluate(
                """
                document.getElementById('act-shelter').value = '\(shelter)';
                document.getElementById('act-reason').value = 'he is 74: the elderly wing';
                document.getElementById('act-choose-bed').click(); true
                """)
            try await page.waitFor("document.getElementById('act-status').dataset.outcome === 'applied'")
            try await page.waitFor(
                "state.board.cases.some(c => c.case_id === '\(caseID)' && c.bed_type === 'elderly' && c.shelter_id === '\(shelter)')"
            )
        }
    }
}
