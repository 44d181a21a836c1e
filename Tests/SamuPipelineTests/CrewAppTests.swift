import Foundation
import PostgresNIO
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

/// The crew app and the shelter page in a real headless Chromium (a phone's viewport, touch,
/// geolocation, the network taken away), against a real worker, broker and PostgreSQL.
@Suite("Crew app and shelter page in Chromium (integration)", .serialized, .timeLimit(.minutes(5)))
struct CrewAppTests {
    let harness: ConsoleHarness

    init() throws {
        harness = try ConsoleHarness()
    }

    func text(_ sql: String) async throws -> String? { try await harness.pipeline.text(sql) }
    func scalar(_ sql: String) async throws -> Int { try await harness.pipeline.scalar(sql) }

    func waitFor(_ what: String, _ condition: () async throws -> Bool) async throws {
        let held = try await eventually(timeout: .seconds(30), condition)
        #expect(held, "\(what) did not happen")
        if !held { throw CancellationError() }
    }

    /// A hotline's report of a homeless adult at `place`, posted over HTTP; its case's id.
    func report(
        _ client: WebClient, token: String, age: Int64, sex: String = "male", category: String = "homeless_adult",
        at place: GeoPoint
    ) async throws -> UUID {
        let document = ReportFixture.document(
            zone: "rabat", category: category, reportedAt: RFC3339.format(Date()), age: age, sex: sex,
            location: place)
        #expect(try await client.postReport(document, token: token).status == 202)
        return DerivedID.caseID(forReport: try #require(UUID(uuidString: document["event_id"]!.stringValue!)))
    }

    /// rabat-u1's base: a report here goes to rabat-u1, the nearest crew.
    static let base = GeoPoint(latitude: 34.004, longitude: -6.834)

    @Test(
        "a supervisor enrols a unit's phone; the crew hears its case, acknowledges, goes on scene offline (sent once, back online), and is told why a stale action is refused; its position reaches the board; a revoked phone is refused"
    )
    func crewRunsACase() async throws {
        try await harness.prepare()
        try await harness.addOperator("samira", zones: ["rabat"], role: .supervisor)
        try await harness.withBrowserNight { client, token, browser in
            let board = try await browser.newPage()
            try await harness.logIn(board, base: client.base, as: "samira")
            try await board.waitFor("document.querySelector('#units button[data-enrol=\"rabat-u1\"]') !== null")
            // The supervisor makes a one-time code for rabat-u1's phone.
            try await board.evaluate(
                "document.querySelector('#units button[data-enrol=\"rabat-u1\"]').click(); true")
            try await board.waitFor("document.getElementById('device-enrol') !== null")
            try await board.evaluate("document.getElementById('device-enrol').click(); true")
            try await board.waitFor("document.getElementById('device-code').dataset.code")
            let code = try #require(
                try await board.evaluate("document.getElementById('device-code').dataset.code").stringValue)
            #expect(code.count == 10)
            // The phone opens the link: enrolled, with no operator password.
            let phone = try await browser.newPage()
            try await phone.emulatePhone(
                latitude: Self.base.latitude, longitude: Self.base.longitude, origin: client.base.absoluteString)
            // The phone's vibrator, counted (headless Chromium has none).
            var stub = JSONObject()
            stub.append(
                "source",
                """
                window.vibrations = [];
                Object.defineProperty(Navigator.prototype, 'vibrate', {configurable: true,
                  value: (pattern) => { window.vibrations.push(pattern); return true; }});
                """)
            try await phone.send("Page.addScriptToEvaluateOnNewDocument", stub)
            try await phone.navigate(client.base.absoluteString + "/crew#enrol=\(code)")
            try await phone.waitFor("document.body.dataset.unit === 'rabat-u1'")
            #expect(try await phone.evaluate("location.hash") == .string(""), "the code leaves the address bar")
            #expect(try await phone.evaluate("window.innerWidth") == .integer(360))
            // Installable: its manifest, and a service worker for /crew that keeps the app's files.
            let scope = try await phone.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
            #expect(scope.stringValue?.hasSuffix("/crew") == true, "\(scope)")
            let manifest = try await phone.evaluate(
                "fetch('/crew/manifest.webmanifest').then(r => r.json()).then(m => m.start_url + ' ' + m.display)")
            #expect(manifest == .string("/crew standalone"))
            // The code is used: a second phone cannot use it.
            let reuse = try await client.json("POST", "/api/crew/enrol", ["code": .string(code)])
            #expect(reuse.status == 401)
            // A report at rabat-u1's base: the phone hears of its case, with an alert and a buzz.
            let reported = ContinuousClock.now
            let caseID = try await report(
                client, token: token, age: 40, at: Self.base)
            try await phone.waitFor(
                "document.getElementById('assignment').dataset.caseId === '\(caseID.lowercased)' && !document.getElementById('alert').hidden",
                timeout: .seconds(20))
            print("crew app: a new report → the case on the crew's phone in \(ContinuousClock.now - reported)")
            #expect(try await phone.evaluate("window.vibrations.length") == .integer(1))
            let mapLink = try await phone.evaluate("document.getElementById('case-map').href").stringValue ?? ""
            #expect(mapLink.hasPrefix("geo:34.004"), "\(mapLink)")
            // What the caller said follows the case on its own request.
            try await phone.waitFor(
                "document.getElementById('case-place').textContent === 'Hassan'", timeout: .seconds(10))
            // The crew's read of the report is logged under the device.
            #expect(
                try await scalar(
                    "select count(*) from personal_data_reads where case_id = '\(caseID)' and operator_id like 'device:%'"
                )
                    >= 1)
            // Acknowledged from the phone.
            try await phone.evaluate("document.getElementById('do-acknowledge').click(); true")
            try await waitFor("the case acknowledged") {
                try await text("select status from cases where case_id = '\(caseID)'") == "acknowledged"
            }
            // Moving: the position reaches the operator's board.
            try await phone.setPosition(latitude: 34.0105, longitude: -6.8290)
            try await board.waitFor(
                "state.board.units.some(u => u.unit_id === 'rabat-u1' && Math.abs(u.lat - 34.0105) < 0.0001)",
                timeout: .seconds(45))
            // A connection that stalls (the request gone out, no answer ever, as between two
            // cells): the send is given up after 15 s, the action kept, and sent once answers come
            // again. Without that, one stalled request held every later action back.
            var pattern = JSONObject()
            pattern.append("urlPattern", "*api/crew/actions*")
            var stall = JSONObject()
            stall.append("patterns", .array([.object(pattern)]))
            try await phone.send("Fetch.enable", stall)
            try await phone.setPosition(latitude: 34.0135, longitude: -6.8265)
            try await phone.waitFor(
                "state.flushing === true && document.getElementById('pending').dataset.count === '1'")
            // The app gives up after 15 s; the wait allows for a loaded machine, where a background
            // page's timers run late (a full run on two cores once took more than 25 s).
            try await phone.waitFor("state.flushing === false", timeout: .seconds(60))
            #expect(try await phone.evaluate("document.getElementById('pending').dataset.count") == .string("1"))
            try await phone.send("Fetch.disable")
            try await phone.waitFor("document.getElementById('pending').dataset.count === '0'", timeout: .seconds(20))
            // (Back where the crew was, for the next cases' nearest unit.)
            try await phone.setPosition(latitude: 34.0105, longitude: -6.8290)
            try await phone.waitFor("document.getElementById('pending').dataset.count === '0'", timeout: .seconds(20))
            try await board.waitFor(
                "state.board.units.some(u => u.unit_id === 'rabat-u1' && Math.abs(u.lat - 34.0105) < 0.0001)",
                timeout: .seconds(45))
            // A live stream that goes silent without a word is given up after 35 s and opened again:
            // here the stream drops and the phone's next one gets no answer at all.
            try await phone.evaluate(
                """
                window.eventsFetches = 0; const original = window.fetch;
                window.fetch = (url, options) => { if (String(url).includes('/api/crew/events')) window.eventsFetches++;
                  return original(url, options); }; true
                """)
            var silent = JSONObject()
            silent.append("urlPattern", "*api/crew/events*")
            silent.append("requestStage", "Response")
            var silence = JSONObject()
            silence.append("patterns", .array([.object(silent)]))
            try await phone.send("Fetch.enable", silence)
            try await phone.evaluate("state.streamAbort.abort(); true")
            try await phone.waitFor("window.eventsFetches === 1")
            try await phone.waitFor("window.eventsFetches === 2", timeout: .seconds(45))
            try await phone.send("Fetch.disable")
            // No signal: "on scene" waits on the phone, and is sent once when it comes back.
            try await phone.setOffline(true)
            try await phone.evaluate("document.getElementById('do-on-scene').click(); true")
            try await phone.waitFor("document.getElementById('pending').dataset.count === '1'")
            #expect(try await text("select status from cases where case_id = '\(caseID)'") == "acknowledged")
            let offlineShot = Artifacts.directory.appendingPathComponent("crew-offline.png")
            try await phone.screenshot(to: offlineShot)
            try await phone.setOffline(false)
            try await phone.waitFor(
                "document.getElementById('pending').dataset.count === '0'", timeout: .seconds(20))
            try await waitFor("the case on scene") {
                try await text("select status from cases where case_id = '\(caseID)'") == "on_scene"
            }
            let onScene = try #require(
                try await text(
                    "select event_id::text from crew_actions where case_id = '\(caseID)' and action = 'on_scene'"))
            // The same action sent again (an answer lost on the way back): accepted, not applied twice.
            let resent = try await phone.evaluate(
                """
                fetch('/api/crew/actions', {method: 'POST', headers: {'Content-Type': 'application/json',
                  Authorization: 'Bearer ' + localStorage.getItem('samu.crew.token')},
                  body: JSON.stringify({event_id: '\(onScene)', action: 'on_scene', case_id: '\(caseID.lowercased)'})
                }).then(r => r.status)
                """)
            #expect(resent == .integer(202))
            #expect(
                try await scalar(
                    "select count(*) from case_timeline where case_id = '\(caseID)' and status = 'on_scene'") == 1)
            try await phone.screenshot(to: Artifacts.directory.appendingPathComponent("crew-fr.png"))
            try await phone.evaluate("document.getElementById('lang').click(); true")
            try await phone.waitFor("document.documentElement.dir === 'rtl'")
            // All of the page speaks Arabic now: the connection's badge and the new case's banner too.
            #expect(try await phone.evaluate("document.getElementById('net').textContent") == .string("متصل"))
            let banner = try await phone.evaluate("document.getElementById('alert').textContent").stringValue ?? ""
            #expect(banner.hasPrefix("مهمة جديدة"), "\(banner)")
            try await phone.screenshot(to: Artifacts.directory.appendingPathComponent("crew-ar.png"))
            try await phone.evaluate("document.getElementById('lang').click(); true")
            #expect(try await phone.evaluate("document.getElementById('net').textContent") == .string("en ligne"))
            // Offline again, the crew closes the case; meanwhile dispatch gives it to another
            // crew. Back online, the close is refused with the reason, and the case is left alone.
            try await phone.setOffline(true)
            try await phone.evaluate(
                """
                document.getElementById('resolution').value = 'sheltered';
                document.getElementById('do-resolve').click(); true
                """)
            try await phone.waitFor("document.getElementById('pending').dataset.count === '1'")
            let supervisor = try await client.loggedIn("samira", password: ConsoleHarness.password)
            let reassigned = try await supervisor.json(
                "POST", "/api/cases/\(caseID.lowercased)/commands",
                ["command": "reassign", "unit_id": "rabat-u2", "reason": "u1 silent"])
            #expect(reassigned.status == 202)
            try await waitFor("the case given to rabat-u2") {
                try await text("select unit_id from cases where case_id = '\(caseID)'") == "rabat-u2"
            }
            try await phone.setOffline(false)
            try await phone.waitFor(
                "[...document.querySelectorAll('#refused li')].some(li => li.dataset.action === 'resolve' && li.dataset.reason === 'case_reassigned' && li.textContent.includes('une autre équipe'))",
                timeout: .seconds(20))
            // The refusal is said again in Arabic when the crew switches.
            try await phone.evaluate("document.getElementById('lang').click(); true")
            #expect(
                try await phone.evaluate(
                    "document.querySelector('#refused li[data-reason=\"case_reassigned\"]').textContent.includes('أسندت المهمة إلى فريق آخر')"
                ) == .bool(true))
            try await phone.evaluate("document.getElementById('lang').click(); true")
            #expect(try await text("select unit_id from cases where case_id = '\(caseID)'") == "rabat-u2")
            #expect(try await text("select resolution from cases where case_id = '\(caseID)'") == nil)
            // Crew action → operator board, measured over 50 status changes.
            var latencies: [Duration] = []
            for index in 0..<50 {
                let (button, status) =
                    index % 2 == 0 ? ("do-unavailable", "off_duty") : ("do-available", "available")
                let started = ContinuousClock.now
                try await phone.evaluate("document.getElementById('\(button)').click(); true")
                try await board.waitFor(
                    "state.board.units.some(u => u.unit_id === 'rabat-u1' && u.status === '\(status)')",
                    timeout: .seconds(20))
                latencies.append(ContinuousClock.now - started)
            }
            let sorted = latencies.sorted()
            let report50 =
                "crew action → operator board over \(sorted.count) actions: p50 \(sorted[sorted.count / 2]), p99 \(sorted[sorted.count * 99 / 100]), max \(sorted.last!)"
            print(report50)
            try Data((report50 + "\n").utf8).write(
                to: Artifacts.directory.appendingPathComponent("crew-latency.txt"))
            // A whole case from the phone: the next report at the base is rabat-u1's again; the
            // crew acknowledges, arrives, transports and closes it with a note.
            let next = try await report(client, token: token, age: 35, at: Self.base)
            try await phone.waitFor(
                "document.getElementById('assignment').dataset.caseId === '\(next.lowercased)'",
                timeout: .seconds(20))
            // The bed held: the shelter by its name, and a link to it for the phone's map app.
            try await phone.waitFor(
                "document.querySelector('#case-bed a[data-shelter-map]') !== null", timeout: .seconds(20))
            let bedLine = try await phone.evaluate("document.getElementById('case-bed').textContent").stringValue ?? ""
            #expect(bedLine.contains("Centre d'hébergement d'urgence et temporaire de Rabat"), "\(bedLine)")
            let shelterMap =
                try await phone.evaluate("document.querySelector('#case-bed a[data-shelter-map]').href").stringValue
                ?? ""
            #expect(shelterMap.hasPrefix("geo:34.002,-6.826"), "\(shelterMap)")
            for (button, status) in [
                ("do-acknowledge", "acknowledged"), ("do-on-scene", "on_scene"),
                ("do-transporting", "transporting"),
            ] {
                try await phone.evaluate("document.getElementById('\(button)').click(); true")
                try await waitFor("the case \(status)") {
                    try await text("select status from cases where case_id = '\(next)'") == status
                }
            }
            try await phone.evaluate(
                """
                document.getElementById('resolution').value = 'sheltered';
                document.getElementById('note').value = 'accepted a bed, tired but well';
                document.getElementById('do-resolve').click(); true
                """)
            try await waitFor("the case closed from the phone, with the crew's note") {
                let closed = try await text(
                    "select status || ' ' || coalesce(resolution, '-') from cases where case_id = '\(next)'")
                let noted = try await scalar(
                    "select count(*) from case_timeline where case_id = '\(next)' and detail->>'detail' like '%tired but well%'"
                )
                return closed == "resolved sheltered" && noted == 1
            }
            try await phone.waitFor(
                "document.getElementById('assignment').dataset.caseId === ''", timeout: .seconds(20))
            // The worst night: the crew finds the person dead.
            let last = try await report(client, token: token, age: 45, at: Self.base)
            try await phone.waitFor(
                "document.getElementById('assignment').dataset.caseId === '\(last.lowercased)'",
                timeout: .seconds(20))
            try await phone.evaluate(
                """
                document.getElementById('resolution').value = 'deceased';
                document.getElementById('do-resolve').click(); true
                """)
            try await waitFor("the case closed as deceased") {
                try await text("select status || ' ' || coalesce(resolution, '-') from cases where case_id = '\(last)'")
                    == "resolved deceased"
            }
            // End of shift: the unit is off duty, and the phone stops watching its position, also
            // when the page is opened again, until the crew is available.
            try await phone.evaluate("document.getElementById('do-end-shift').click(); true")
            try await waitFor("rabat-u1 off duty") {
                try await text("select status from units where unit_id = 'rabat-u1'") == "off_duty"
            }
            try await phone.navigate(client.base.absoluteString + "/crew")
            try await phone.waitFor("document.body.dataset.unit === 'rabat-u1'")
            #expect(try await phone.evaluate("document.body.dataset.duty + ' ' + state.watch") == .string("off null"))
            let positions = try await scalar("select count(*) from crew_actions where action = 'position'")
            try await phone.setPosition(latitude: 34.0200, longitude: -6.8500)
            try await Task.sleep(for: .seconds(2))
            #expect(try await scalar("select count(*) from crew_actions where action = 'position'") == positions)
            // No fix while the crew comes back on duty: a position sent the moment after "available"
            // carries the unit's status as PostgreSQL last stored it, which may still be off duty
            // (a known limit, docs/crew.md), and would make this step depend on the worker's pace.
            try await phone.clearPosition()
            try await phone.evaluate("document.getElementById('do-available').click(); true")
            try await phone.waitFor("document.body.dataset.duty === 'on' && state.watch !== null")
            try await waitFor("rabat-u1 available again") {
                try await text("select status from units where unit_id = 'rabat-u1'") == "available"
            }
            // Revoked: the phone is told, and nothing it sends is taken: the unit stays available.
            let deviceID = try #require(
                try await text("select device_id from crew_devices where unit_id = 'rabat-u1'"))
            let oldToken = try #require(try await phone.evaluate("localStorage.getItem('samu.crew.token')").stringValue)
            let revoke = try await supervisor.json("POST", "/api/devices/\(deviceID)/revoke", [:])
            #expect(revoke.status == 200)
            let actions = try await scalar("select count(*) from crew_actions")
            try await phone.evaluate("document.getElementById('do-unavailable').click(); true")
            try await phone.waitFor("document.body.dataset.revoked === 'true'", timeout: .seconds(20))
            let replay = try await phone.evaluate(
                """
                fetch('/api/crew/actions', {method: 'POST', headers: {'Content-Type': 'application/json',
                  Authorization: 'Bearer \(oldToken)'},
                  body: JSON.stringify({event_id: crypto.randomUUID(), action: 'end_shift'})}).then(r => r.status)
                """)
            #expect(replay == .integer(401))
            try await Task.sleep(for: .seconds(2))
            #expect(try await text("select status from units where unit_id = 'rabat-u1'") == "available")
            #expect(try await scalar("select count(*) from crew_actions") == actions)
            // The new code is typed on the same screen, with no reload: enrolled again, listening
            // again, and the action tapped while revoked (this unit's) is sent.
            #expect(try await phone.evaluate("!document.getElementById('enrol-view').hidden") == .bool(true))
            let made = try await supervisor.json("POST", "/api/units/rabat-u1/enrolments", [:])
            #expect(made.status == 201)
            let newCode = try #require(made.json["code"]?.stringValue)
            try await phone.evaluate(
                """
                document.getElementById('enrol-code').value = '\(newCode)';
                document.getElementById('enrol-form').requestSubmit(); true
                """)
            try await phone.waitFor(
                "document.body.dataset.revoked === 'false' && document.getElementById('enrol-view').hidden && state.listening",
                timeout: .seconds(20))
            try await waitFor("the action tapped while revoked sent once enrolled again") {
                try await text("select status from units where unit_id = 'rabat-u1'") == "off_duty"
            }
        }
    }

    @Test(
        "a shelter takes a bed with one tap, admits the person samu sends, declines a woman (samu holds the next fitting bed elsewhere); an old count is stale on its page and on the board"
    )
    func shelterAtTheDoor() async throws {
        try await harness.prepare()
        try await harness.addOperator("fatna", zones: ["rabat"], role: .shelter, shelters: ["rabat-s1"])
        try await harness.addOperator("samira", zones: ["rabat"], role: .supervisor)
        let shelterPlace = GeoPoint(latitude: 34.002, longitude: -6.826)
        try await harness.withBrowserNight { client, token, browser in
            let page = try await browser.newPage()
            try await page.navigate(client.base.absoluteString + "/shelter")
            try await page.waitFor("!document.getElementById('login-view').hidden")
            try await page.evaluate(
                """
                document.getElementById('login-id').value = 'fatna';
                document.getElementById('login-password').value = '\(ConsoleHarness.password)';
                document.querySelector('#login-form button[type=submit]').click(); true
                """)
            try await page.waitFor(
                "document.querySelector('section[data-shelter-id=\"rabat-s1\"] tr[data-bed=\"men\"]') !== null",
                timeout: .seconds(45))
            let before = try await scalar(
                "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
            // Two quick taps: two walk-ins took a men's bed each; neither is lost.
            try await page.evaluate(
                """
                document.querySelector('button[data-less="men"]').click();
                document.querySelector('button[data-less="men"]').click(); true
                """)
            #expect(
                try await page.evaluate("document.querySelector('tr[data-bed=\"men\"] input[data-occupied]').value")
                    == .string(String(before + 2)), "the page counts both taps at once")
            try await waitFor("the men's beds two fewer") {
                try await scalar(
                    "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
                    == before + 2
            }
            // A tap whose answer is lost on its way back (the request reached samu): the page
            // sends it again under its id, and the bed is counted once (checked after the next
            // change, which the worker applies after it).
            try await page.evaluate(
                """
                {
                  const realFetch = window.fetch;
                  let lost = false;
                  window.fetch = async (...args) => {
                    const answer = await realFetch(...args);
                    if (!lost && String(args[0]).endsWith('/beds')) { lost = true; throw new TypeError('answer lost'); }
                    return answer;
                  };
                  document.getElementById('status').dataset.outcome = '';
                  document.querySelector('button[data-less="men"]').click();
                }
                true
                """)
            try await page.waitFor(
                "document.getElementById('status').dataset.outcome === 'sent'", timeout: .seconds(20))
            // A full count: the elderly beds as the watchman counted them.
            try await page.evaluate(
                """
                document.querySelector('input[data-capacity="elderly"]').value = '7';
                document.querySelector('input[data-occupied="elderly"]').value = '3';
                document.querySelector('button[data-count="elderly"]').click(); true
                """)
            try await waitFor("the elderly beds counted") {
                try await text(
                    "select capacity || '/' || occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'elderly'"
                ) == "7/3"
            }
            #expect(
                try await scalar(
                    "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
                    == before + 3, "the full count of one bed type keeps the others, and the tap sent twice counts once"
            )
            // A count being typed survives the page's refresh (every 5 s), focus included.
            try await page.evaluate(
                """
                const typing = document.querySelector('input[data-capacity="women"]');
                typing.focus(); typing.value = '41'; true
                """)
            try await Task.sleep(for: .seconds(6))
            #expect(
                try await page.evaluate(
                    "const i = document.querySelector('input[data-capacity=\"women\"]'); i.value + ' ' + (document.activeElement === i)"
                ) == .string("41 true"))
            try await page.evaluate(
                """
                const typed = document.querySelector('input[data-capacity="women"]');
                typed.value = typed.defaultValue; typed.blur(); true
                """)
            // samu sends a man: he is on the page, then admitted.
            let firstCase = try await report(
                client, token: token, age: 50, at: shelterPlace)
            try await page.waitFor(
                "document.querySelector('li[data-case-id=\"\(firstCase.lowercased)\"]') !== null",
                timeout: .seconds(20))
            try await page.screenshot(to: Artifacts.directory.appendingPathComponent("shelter-fr.png"))
            // Admitted, and a walk-in tapped at once, before samu stored the admission: both count.
            let menBeforeAdmission = try await scalar(
                "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
            try await page.evaluate(
                """
                document.querySelector('button[data-admit="\(firstCase.lowercased)"]').click();
                document.querySelector('button[data-less="men"]').click(); true
                """)
            try await waitFor("the admission and the walk-in both counted") {
                try await scalar(
                    "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
                    == menBeforeAdmission + 2
            }
            try await waitFor("the man admitted") {
                try await scalar(
                    "select count(*) from bed_ledger where case_id = '\(firstCase)' and action = 'admit' and shelter_id = 'rabat-s1'"
                )
                    == 1
            }
            try await page.waitFor(
                "document.querySelector('li[data-case-id=\"\(firstCase.lowercased)\"]') === null",
                timeout: .seconds(20))
            // Another: declined with a reason; samu holds a bed elsewhere at once.
            let secondCase = try await report(
                client, token: token, age: 45, sex: "female", at: shelterPlace)
            try await page.waitFor(
                "document.querySelector('li[data-case-id=\"\(secondCase.lowercased)\"]') !== null",
                timeout: .seconds(20))
            try await page.evaluate(
                """
                document.querySelector('input[data-reason="\(secondCase.lowercased)"]').value = 'barred after a fight last week';
                document.querySelector('button[data-decline="\(secondCase.lowercased)"]').click(); true
                """)
            try await waitFor("the decline recorded, and the next fitting bed held elsewhere") {
                let declined = try await scalar(
                    "select count(*) from case_timeline where case_id = '\(secondCase)' and status = 'shelter_declined' and detail->>'reason' = 'barred after a fight last week'"
                )
                let last = try await text(
                    "select action from bed_ledger where case_id = '\(secondCase)' and shelter_id = 'rabat-s1' order by entry_id desc limit 1"
                )
                let elsewhere = try await scalar(
                    "select count(*) from bed_ledger where case_id = '\(secondCase)' and action = 'hold' and shelter_id <> 'rabat-s1'"
                )
                return declined == 1 && last == "release" && elsewhere >= 1
            }
            try await page.waitFor(
                "document.querySelector('li[data-case-id=\"\(secondCase.lowercased)\"]') === null",
                timeout: .seconds(20))
            // A man samu sends never arrives: the shelter says so, and his bed is given back.
            let thirdCase = try await report(client, token: token, age: 38, at: shelterPlace)
            try await page.waitFor(
                "document.querySelector('li[data-case-id=\"\(thirdCase.lowercased)\"]') !== null",
                timeout: .seconds(20))
            try await page.evaluate(
                "document.querySelector('button[data-no-show=\"\(thirdCase.lowercased)\"]').click(); true")
            try await waitFor("the no-show recorded, the bed released") {
                try await scalar(
                    "select count(*) from bed_ledger where case_id = '\(thirdCase)' and shelter_id = 'rabat-s1' and action = 'release' and reason like '%no-show%'"
                ) == 1
            }
            try await page.waitFor(
                "document.querySelector('li[data-case-id=\"\(thirdCase.lowercased)\"]') === null",
                timeout: .seconds(20))
            // Two men samu sends arrive together, and the door's second tap goes out too: each is
            // admitted once, and neither admission undoes the other (each change is made on the
            // page's last report while the worker has not stored it yet).
            // (The night's first and third cases end, so that two crews are free to bring them.)
            let samira = try await client.loggedIn("samira", password: ConsoleHarness.password)
            for (ended, resolution) in [(firstCase, "sheltered"), (thirdCase, "person_not_found")] {
                let closed = try await samira.json(
                    "POST", "/api/cases/\(ended.lowercased)/commands",
                    ["command": "close", "resolution": .string(resolution), "reason": "fin de la nuit"])
                #expect(closed.status == 202)
            }
            try await waitFor("two crews free") {
                try await scalar(
                    "select count(*) from units where unit_id like 'rabat-u%' and status = 'available' and case_id is null"
                ) >= 2
            }
            let fourthCase = try await report(client, token: token, age: 41, at: shelterPlace)
            let fifthCase = try await report(client, token: token, age: 43, at: shelterPlace)
            try await waitFor("both men's beds held at rabat-s1") {
                try await scalar(
                    "select count(*) from bed_ledger where shelter_id = 'rabat-s1' and action = 'hold' and case_id in ('\(fourthCase)', '\(fifthCase)')"
                ) == 2
            }
            let occupiedBefore = try await scalar(
                "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
            let door = try await client.loggedIn("fatna", password: ConsoleHarness.password)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for caseID in [fourthCase, fifthCase, fourthCase] {
                    group.addTask {
                        try await door.json(
                            "POST", "/api/shelter/rabat-s1/admit", ["case_id": .string(caseID.lowercased)]
                        ).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == [202, 202, 202], "\(statuses)")
            try await waitFor("both men admitted, once each") {
                try await scalar(
                    "select count(*) from bed_ledger where shelter_id = 'rabat-s1' and action = 'admit' and case_id in ('\(fourthCase)', '\(fifthCase)')"
                ) == 2
            }
            try await waitFor("both men's beds occupied") {
                try await scalar(
                    "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'")
                    == occupiedBefore + 2
            }
            // A count four hours old is stale, here and on the operators' board.
            _ = try await scalar(
                "update shelter_beds set reported_at = now() - interval '5 hours' where shelter_id = 'rabat-s1'")
            try await page.waitFor(
                "document.querySelector('section[data-shelter-id=\"rabat-s1\"]').dataset.stale === 'true'",
                timeout: .seconds(20))
            let board = try await browser.newPage()
            try await harness.logIn(board, base: client.base, as: "samira")
            try await board.waitFor(
                "document.querySelector('#shelters tr[data-shelter-id=\"rabat-s1\"][data-stale=\"true\"]') !== null"
            )
            try await page.evaluate("document.getElementById('lang').click(); true")
            try await page.waitFor("document.documentElement.dir === 'rtl'")
            try await page.screenshot(to: Artifacts.directory.appendingPathComponent("shelter-ar.png"))
        }
    }

    @Test(
        "hostile or unlucky at the crew's and the shelter's doors: bad, reused or guessed codes, another unit's case, a shelter account on the board or on another shelter, an operator enrolling"
    )
    func doorsHoldFirm() async throws {
        try await harness.prepare()
        try await harness.addOperator("samira", zones: ["rabat"], role: .supervisor)
        try await harness.addOperator("omar", zones: ["rabat"])
        try await harness.addOperator("fatna", zones: ["rabat"], role: .shelter, shelters: ["rabat-s1"])
        try await harness.addOperator("karim", zones: ["sale"], role: .supervisor)
        let token = try await harness.addClient("hotline")
        try await harness.publishDeployment()
        try await harness.pipeline.withWorker { _ in
            try await harness.withConsole { client in
                try await waitFor("the deployment's units stored") {
                    try await scalar("select count(*) from units where unit_id in ('rabat-u1', 'rabat-u2')") == 2
                }
                let samira = try await client.loggedIn("samira", password: ConsoleHarness.password)
                let omar = try await client.loggedIn("omar", password: ConsoleHarness.password)
                let fatna = try await client.loggedIn("fatna", password: ConsoleHarness.password)
                let karim = try await client.loggedIn("karim", password: ConsoleHarness.password)
                // Only a supervisor of the unit's zone enrols; another zone's unit is unknown.
                #expect(try await omar.json("POST", "/api/units/rabat-u1/enrolments", [:]).status == 403)
                #expect(try await karim.json("POST", "/api/units/rabat-u1/enrolments", [:]).status == 404)
                #expect(try await samira.json("POST", "/api/units/nowhere-u9/enrolments", [:]).status == 404)
                // Codes: nonsense, then a real one used twice.
                #expect(try await client.json("POST", "/api/crew/enrol", ["code": "AAAAAAAAAA"]).status == 401)
                #expect(try await client.json("POST", "/api/crew/enrol", ["code": "x"]).status == 401)
                #expect(try await client.send("POST", "/api/crew/enrol", body: Data("{".utf8)).status == 400)
                func enrol(_ unit: String) async throws -> String {
                    let made = try await samira.json("POST", "/api/units/\(unit)/enrolments", [:])
                    #expect(made.status == 201)
                    let code = try #require(made.json["code"]?.stringValue)
                    // Typed by hand, with spaces and in lower case.
                    let typed = code.lowercased().enumerated().map {
                        $0.offset == 5 ? " \($0.element)" : "\($0.element)"
                    }
                    .joined()
                    let enrolled = try await client.json("POST", "/api/crew/enrol", ["code": .string(typed)])
                    #expect(enrolled.status == 200)
                    #expect(try await client.json("POST", "/api/crew/enrol", ["code": .string(code)]).status == 401)
                    return try #require(enrolled.json["token"]?.stringValue)
                }
                let u1 = try await enrol("rabat-u1")
                let u2 = try await enrol("rabat-u2")
                func crew(_ token: String) -> [String: String] { ["Authorization": "Bearer \(token)"] }
                #expect(try await client.send("GET", "/api/crew/assignment").status == 401)
                #expect(
                    try await client.send("GET", "/api/crew/assignment", headers: crew("samu_crew_guess")).status == 401
                )
                #expect(try await client.send("GET", "/api/crew/assignment", headers: crew(u1)).status == 200)
                // rabat-u1's case: rabat-u2's phone can neither read it nor act on it.
                let caseID = try await report(
                    client, token: token, age: 40, at: Self.base)
                try await waitFor("the case given to rabat-u1") {
                    try await text("select unit_id from cases where case_id = '\(caseID)'") == "rabat-u1"
                }
                #expect(
                    try await client.send("GET", "/api/crew/cases/\(caseID.lowercased)/report", headers: crew(u2))
                        .status
                        == 404)
                let foreign = try await client.json(
                    "POST", "/api/crew/actions",
                    [
                        "event_id": .string(UUID().uuidString), "action": "on_scene",
                        "case_id": .string(caseID.lowercased),
                    ], headers: crew(u2))
                #expect(foreign.status == 409)
                #expect(foreign.json["detail"]?.stringValue == "the case was given to another crew")
                // Malformed actions are refused with a reason, and nothing is sent.
                for body: JSONValue in [
                    ["event_id": "not-a-uuid", "action": "available"],
                    ["event_id": .string(UUID().uuidString), "action": "fly"],
                    [
                        "event_id": .string(UUID().uuidString), "action": "resolve",
                        "case_id": .string(caseID.lowercased),
                    ],
                    ["event_id": .string(UUID().uuidString), "action": "on_scene"],
                    [
                        "event_id": .string(UUID().uuidString), "action": "position",
                        "position": ["lat": 48.85, "lon": 2.35],
                    ],
                ] {
                    let reply = try await client.json("POST", "/api/crew/actions", body, headers: crew(u1))
                    #expect([400, 422].contains(reply.status), "\(body.serialized): \(reply.status)")
                }
                #expect(try await scalar("select count(*) from crew_actions") == 0)
                // A wild fix (a phone's 0, 0 before the satellites answer) does not lose the action it
                // came with: the action counts, the unit keeps its last position.
                let before = try await text("select lat::text from units where unit_id = 'rabat-u1'")
                let wild = try await client.json(
                    "POST", "/api/crew/actions",
                    [
                        "event_id": .string(UUID().uuidString), "action": "acknowledge",
                        "case_id": .string(caseID.lowercased), "position": ["lat": 0, "lon": 0],
                    ], headers: crew(u1))
                #expect(wild.status == 202, "\(wild.json)")
                try await waitFor("the case acknowledged despite the fix") {
                    try await text("select status from cases where case_id = '\(caseID)'") == "acknowledged"
                }
                #expect(try await text("select lat::text from units where unit_id = 'rabat-u1'") == before)
                // A second phone of the crew, offline while the first acknowledged the case, taps
                // "unavailable" or "end of shift" on a screen without it: refused, the case stays
                // with the crew driving to the person. With the case seen, the check passes.
                for (seen, unitAction) in [("", "unavailable"), (UUID().uuidString, "end_shift")] {
                    let unseen = try await client.json(
                        "POST", "/api/crew/actions",
                        [
                            "event_id": .string(UUID().uuidString), "action": .string(unitAction),
                            "seen_case_id": .string(seen),
                        ], headers: crew(u1))
                    #expect(unseen.status == 409, "\(unitAction): \(unseen.json)")
                    #expect(unseen.json["reason"]?.stringValue == "case_not_seen")
                }
                #expect(try await text("select unit_id from cases where case_id = '\(caseID)'") == "rabat-u1")
                // The phone's queue sends "on scene" again while the first request is still on its way
                // (a slow network): the action is sent once as the first request built it, whatever
                // the order the requests are served in, and the worker parks no "conflicting"
                // copy. The same id from another unit's phone is refused.
                let onSceneID = UUID().uuidString.lowercased()
                let onSceneBody: JSONValue = [
                    "event_id": .string(onSceneID), "action": "on_scene", "case_id": .string(caseID.lowercased),
                ]
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await client.json("POST", "/api/crew/actions", onSceneBody, headers: crew(u1)).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses == [202, 202, 202, 202], "\(statuses)")
                #expect(
                    try await client.json("POST", "/api/crew/actions", onSceneBody, headers: crew(u2)).status == 422)
                // The same phone enrolled again for its unit (revoked, a new code) sends its queue
                // again: the action is answered as before, not refused as another's and dropped.
                let reenrolled = try await enrol("rabat-u1")
                #expect(
                    try await client.json("POST", "/api/crew/actions", onSceneBody, headers: crew(reenrolled)).status
                        == 202)
                try await waitFor("the case on scene") {
                    try await text("select status from cases where case_id = '\(caseID)'") == "on_scene"
                }
                let sent = try await harness.pipeline.readAll(.units).filter {
                    (try? JSONParser.parse($0.value ?? []))?["event_id"]?.stringValue == onSceneID
                }
                #expect(!sent.isEmpty && Set(sent.map { $0.value ?? [] }).count == 1, "\(sent.count) records")
                #expect(
                    try await scalar("select count(*) from crew_actions where event_id = '\(onSceneID)' and sent") == 1)
                #expect(try await harness.pipeline.readAll(.deadLetters).isEmpty)
                // A shelter account keeps its shelter only: not the board, not another shelter.
                #expect(try await fatna.send("GET", "/api/board").status == 403)
                #expect(try await fatna.send("GET", "/api/cases/\(caseID.lowercased)").status == 403)
                #expect(
                    try await fatna.json(
                        "POST", "/api/cases/\(caseID.lowercased)/commands", ["command": "cancel", "reason": "x"]
                    ).status == 403)
                #expect(
                    try await fatna.json(
                        "POST", "/api/shelter/rabat-s2/beds", ["beds": ["men": ["capacity": 1, "occupied": 0]]]
                    ).status == 404)
                #expect(try await omar.send("GET", "/api/shelter").status == 403)
                let impossible = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/beds", ["beds": ["men": ["capacity": -3, "occupied": 0]]])
                #expect(impossible.status == 422)
                let unknownBed = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/beds", ["beds": ["dragons": ["capacity": 3, "occupied": 0]]])
                #expect(unknownBed.status == 422)
                // A tap is a bed or a few, of a bed type samu knows; a body with no change is refused.
                #expect(
                    try await fatna.json("POST", "/api/shelter/rabat-s1/beds", ["taps": ["men": 5000]]).status == 422)
                #expect(
                    try await fatna.json("POST", "/api/shelter/rabat-s1/beds", ["taps": ["dragons": 1]]).status == 422)
                #expect(try await fatna.json("POST", "/api/shelter/rabat-s1/beds", [:]).status == 400)
                // Counts at the edges of an integer are refused, not an overflow that stops the
                // console: a tap of Int.min, a count of Int.max with a tap on top, a count above
                // the schema's 2,000.
                let minimal = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/beds", ["taps": ["men": .integer(Int64.min)]])
                #expect(minimal.status == 422)
                #expect(minimal.json["field"]?.stringValue == "/taps/men")
                let maximal = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/beds",
                    ["beds": ["men": ["capacity": 1, "occupied": .integer(Int64.max)]], "taps": ["men": 1]])
                #expect(maximal.status == 422)
                #expect(maximal.json["field"]?.stringValue == "/beds/men/occupied")
                let huge = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/beds", ["beds": ["men": ["capacity": 2001, "occupied": 0]]])
                #expect(huge.status == 422)
                #expect(huge.json["field"]?.stringValue == "/beds/men/capacity")
                let noHold = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/decline", ["case_id": .string(UUID().uuidString), "reason": "x"])
                #expect(noHold.status == 409)
                #expect(try await fatna.send("GET", "/api/shelter").status == 200)
                // Without the session's CSRF token, a shelter's change is refused and nothing is sent.
                var forged = fatna
                forged.csrf = nil
                let unprotected = try await forged.json(
                    "POST", "/api/shelter/rabat-s1/beds", ["beds": ["men": ["capacity": 30, "occupied": 29]]])
                #expect(unprotected.status == 403)
                #expect(
                    try await scalar(
                        "select count(*) from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men' and occupied = 29"
                    ) == 0)
                // Sixteen taps at once, more than the console has database connections: each waits
                // for the shelter's lock in turn and is answered, none holds the console, and all
                // sixteen are counted.
                let occupied =
                    "select occupied from shelter_beds where shelter_id = 'rabat-s1' and bed_type = 'men'"
                let menBefore = try await scalar(occupied)
                let tapped = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            try await fatna.json("POST", "/api/shelter/rabat-s1/beds", ["taps": ["men": 1]]).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(tapped == Array(repeating: 202, count: 16))
                #expect(try await omar.send("GET", "/api/me").status == 200)
                try await waitFor("the sixteen taps counted") { try await scalar(occupied) == min(30, menBefore + 16) }
                // A tap whose answer was lost, sent again by the page under its id (twice in a row,
                // then twice at once): one event, one bed, the same answer each time.
                let menTapped = try await scalar(occupied)
                let change: JSONValue = ["taps": ["men": 1], "change_id": .string(UUID().uuidString)]
                var answers = [try await fatna.json("POST", "/api/shelter/rabat-s1/beds", change)]
                answers.append(try await fatna.json("POST", "/api/shelter/rabat-s1/beds", change))
                answers += try await withThrowingTaskGroup(of: WebClient.Reply.self) { group in
                    for _ in 0..<2 {
                        group.addTask { try await fatna.json("POST", "/api/shelter/rabat-s1/beds", change) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(answers.map(\.status) == [202, 202, 202, 202])
                #expect(Set(answers.map { $0.json["event_id"]?.stringValue ?? "" }).count == 1)
                #expect(Set(answers.map { $0.json["version"]?.integerValue ?? 0 }).count == 1)
                #expect(answers[0].json["event_id"]?.stringValue == change["change_id"]?.stringValue?.lowercased())
                try await waitFor("the tap counted") { try await scalar(occupied) == min(30, menTapped + 1) }
                let another = try await fatna.json("POST", "/api/shelter/rabat-s1/beds", ["taps": ["men": -1]])
                #expect(another.status == 202)
                try await waitFor("the next tap counted") { try await scalar(occupied) == min(30, menTapped + 1) - 1 }
                #expect(
                    try await scalar(
                        "select count(*) from shelter_changes where event_id = '\(change["change_id"]?.stringValue ?? "")'"
                    ) == 1)
                let notAnID = try await fatna.json(
                    "POST", "/api/shelter/rabat-s1/beds", ["taps": ["men": 1], "change_id": "again"])
                #expect(notAnID.status == 422)
                #expect(notAnID.json["field"]?.stringValue == "/change_id")
                // An admission whose answer was lost, sent again under the page's id (twice at once):
                // both answered as the first, with its event, and the person admitted once.
                let board = try await fatna.send("GET", "/api/shelter")
                let expected = try #require(
                    board.json.arrayValue?.first?["incoming"]?.arrayValue?.first?["case_id"]?.stringValue,
                    "someone on the way to rabat-s1: \(board.json.serialized)")
                let admission: JSONValue = ["case_id": .string(expected), "change_id": .string(UUID().uuidString)]
                let admitted = try await withThrowingTaskGroup(of: WebClient.Reply.self) { group in
                    for _ in 0..<2 {
                        group.addTask { try await fatna.json("POST", "/api/shelter/rabat-s1/admit", admission) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(admitted.map(\.status) == [202, 202])
                #expect(
                    admitted.map { $0.json["event_id"]?.stringValue }
                        == Array(repeating: admission["change_id"]?.stringValue?.lowercased(), count: 2),
                    "\(admitted.map(\.json))")
                try await waitFor("the person admitted once") {
                    try await scalar(
                        "select count(*) from bed_ledger where case_id = '\(expected)' and action = 'admit'") == 1
                }
                // A woman victim of violence: rabat-u2 (female staff) takes her to the women's
                // house, whose address is confidential. Her crew sees the house, named, and where it
                // is; rabat-u1's phone never receives it, in its assignment or her report.
                let victim = try await report(
                    client, token: token, age: 29, sex: "female", category: "woman_violence_victim", at: Self.base)
                try await waitFor("her case given to rabat-u2, with a bed held at the women's house") {
                    let unit = try await text("select unit_id from cases where case_id = '\(victim)'")
                    let held = try await scalar(
                        "select count(*) from bed_ledger where case_id = '\(victim)' and shelter_id = 'rabat-s2' and action = 'hold'"
                    )
                    return unit == "rabat-u2" && held == 1
                }
                let hers = try await client.send("GET", "/api/crew/assignment", headers: crew(u2))
                let bed = hers.json["case"]?["beds"]?.arrayValue?.first
                #expect(bed?["shelter_id"] == .string("rabat-s2"))
                #expect(bed?["confidential"] == .bool(true))
                #expect(bed?["position"]?["lat"] == .number(33.994))
                #expect(bed?["name_fr"]?.stringValue?.hasPrefix("Établissement multifonctionnel pour femmes") == true)
                let other = try await client.send("GET", "/api/crew/assignment", headers: crew(u1))
                #expect(other.status == 200)
                let seen = String(decoding: other.body, as: UTF8.self)
                #expect(!seen.contains("rabat-s2") && !seen.contains("33.994"), "\(seen)")
                #expect(
                    try await client.send("GET", "/api/crew/cases/\(victim.lowercased)/report", headers: crew(u1))
                        .status == 404)
            }
        }
        try await harness.pipeline.cleanUp()
    }
}
