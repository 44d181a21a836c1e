import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuPipeline
import SamuTestSupport
import Testing

@testable import SamuStore

/// What a fault scenario left behind, checked from PostgreSQL and the topics (docs/reliability.md §3).
struct Ledger: CustomStringConvertible {
    var eventsIn = 0
    var cases = 0
    var lost = 0
    var duplicateCases = 0
    var conflictingOutcomeIDs = 0
    var doubleBookedUnits = 0
    var overHeldBeds = 0
    var deadLetters = 0
    var assignments = 0
    /// Outcome records published more than once with the same bytes (allowed: consumers dedupe).
    var redeliveredOutcomes = 0
    var recovery: Duration?

    var recoveryText: String {
        recovery.map {
            String(format: "%.1f s", Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18)
        } ?? "-"
    }

    var description: String {
        "events in \(eventsIn), cases \(cases), lost \(lost), duplicate cases \(duplicateCases), conflicting outcome ids \(conflictingOutcomeIDs), redelivered outcomes \(redeliveredOutcomes), assignments \(assignments), double-booked units \(doubleBookedUnits), over-held beds \(overHeldBeds), DLQ \(deadLetters), recovery \(recoveryText)"
    }

    /// Adds this scenario's row to the fault table (`ops/test.sh` prints it at the end).
    func record(_ scenario: String, note: String = "") {
        FaultTable.append(
            [
                scenario, "\(eventsIn)", "\(cases)", "\(lost)", "\(duplicateCases)", "\(conflictingOutcomeIDs)",
                "\(redeliveredOutcomes)", "\(assignments)", "\(doubleBookedUnits)", "\(overHeldBeds)", "\(deadLetters)",
                recoveryText, clean ? "yes" : "NO", note,
            ])
    }

    /// Ends a scenario: prints its figures, adds its row to the fault table, and checks the
    /// invariants (nothing lost, doubled or double-booked).
    func conclude(_ scenario: String, note: String, sourceLocation: SourceLocation = #_sourceLocation) {
        print("fault \(scenario): \(self); \(note)")
        record(scenario, note: note)
        #expect(clean, "\(self)", sourceLocation: sourceLocation)
    }

    var clean: Bool {
        lost == 0 && duplicateCases == 0 && conflictingOutcomeIDs == 0 && doubleBookedUnits == 0 && overHeldBeds == 0
    }

    static func check(_ harness: PipelineHarness, reports: [UUID], eventsIn: Int) async throws -> Ledger {
        var ledger = Ledger()
        ledger.eventsIn = eventsIn
        let perReport = try await harness.withStore { try await $0.caseCountsByReport(reports) }
        ledger.cases = perReport.values.reduce(0, +)
        ledger.lost = reports.filter { perReport[$0] == nil }.count
        ledger.duplicateCases = perReport.values.map { max(0, $0 - 1) }.reduce(0, +)
        // Independent of the unique index: overlapping assignment intervals of one unit.
        ledger.doubleBookedUnits = try await harness.withStore { store in
            let rows = try await store.client.query(
                """
                select count(*)::int8 from assignments a join assignments b
                  on a.unit_id = b.unit_id and (a.case_id, a.decision_id) < (b.case_id, b.decision_id)
                 and tstzrange(a.started_at, coalesce(a.ended_at, 'infinity'))
                     && tstzrange(b.started_at, coalesce(b.ended_at, 'infinity'))
                """)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return -1
        }
        ledger.overHeldBeds = try await harness.withStore { store in
            let rows = try await store.client.query(
                "select count(*)::int8 from shelter_beds where held > 0 and held + occupied > capacity")
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return -1
        }
        var payloads: [String: Set<[UInt8]>] = [:]
        let outcomes = try await harness.readAll(.outcomes)
        for message in outcomes {
            guard let value = message.value, let id = (try? JSONParser.parse(value))?["event_id"]?.stringValue else {
                continue
            }
            payloads[id, default: []].insert(value)
        }
        ledger.conflictingOutcomeIDs = payloads.values.filter { $0.count > 1 }.count
        ledger.redeliveredOutcomes = outcomes.count - payloads.count
        ledger.assignments = try await harness.withStore { store in
            let rows = try await store.client.query("select count(*)::int8 from assignments")
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return -1
        }
        ledger.deadLetters = try await harness.readAll(.deadLetters).count
        return ledger
    }
}

/// The fault suite's table: one row per scenario, printed by `ops/test.sh` after the run.
enum FaultTable {
    static let header = [
        "scenario", "events in", "cases", "lost", "dup cases", "conflicting ids", "redelivered", "assignments",
        "double-booked units", "over-held beds", "DLQ", "recovery", "clean", "figures",
    ]

    static var file: URL {
        ProcessInfo.processInfo.environment["SAMU_FAULT_TABLE"].map { URL(fileURLWithPath: $0) }
            ?? PrivateServers.local.appendingPathComponent("run/fault-table.tsv")
    }

    static func append(_ columns: [String]) {
        let line = columns.map { $0.replacingOccurrences(of: "\t", with: " ") }.joined(separator: "\t") + "\n"
        try? FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: file.path) {
            _ = FileManager.default.createFile(
                atPath: file.path, contents: Data((header.joined(separator: "\t") + "\n").utf8))
        }
        guard let handle = try? FileHandle(forWritingTo: file) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data(line.utf8))
    }
}

@Suite("Fault tests (integration)", .serialized, .timeLimit(.minutes(4)))
struct FaultTests {
    let zones = ["rabat", "sale", "casablanca-anfa", "marrakech", "fes", "tanger-assilah", "oujda-angad", "meknes"]

    func produceSteadily(
        _ harness: PipelineHarness, _ records: [KafkaRecord], perChunk: Int = 50
    ) -> Task<Void, any Error> {
        Task {
            try await KafkaProducer.withProducer(configuration: harness.configuration.producer, logger: harness.logger)
            {
                producer in
                var batches: [KafkaDeliveryBatch] = []
                for start in stride(from: 0, to: records.count, by: perChunk) {
                    batches.append(await producer.submit(Array(records[start..<min(start + perChunk, records.count)])))
                    try await Task.sleep(for: .milliseconds(50))
                }
                for batch in batches { for result in await batch.results() { _ = try result.get() } }
            }
        }
    }

    /// The demo deployment's 62 crews and 46 shelters report in, so that reports get units and beds.
    func announceDeployment(_ harness: PipelineHarness) async throws {
        let plan = try Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json"))
        try await harness.produce(DeploymentEvents.records(plan, catalog: harness.catalog))
    }

    /// Fresh topics and schema, the deployment reported in, and `count` reports (with their ids)
    /// spread over the scenario zones.
    func prepared(
        reports count: Int, batchSize: Int = 100, bootstrapServers: String? = nil, databaseURL: String? = nil
    ) async throws -> (harness: PipelineHarness, documents: [JSONValue], ids: [UUID]) {
        let harness = try PipelineHarness(
            batchSize: batchSize, bootstrapServers: bootstrapServers, databaseURL: databaseURL)
        try await harness.prepare()
        try await announceDeployment(harness)
        let documents = reports(count)
        return (harness, documents, Self.ids(documents))
    }

    static func ids(_ documents: [JSONValue]) -> [UUID] {
        documents.compactMap { $0["event_id"]?.stringValue.flatMap(UUID.init(uuidString:)) }
    }

    /// The environment of a `samu worker` process named `worker` in this scenario, logging at info
    /// level (the scenarios read its group and fencing lines).
    func workerEnvironment(_ harness: PipelineHarness, worker: String) -> [String: String] {
        var environment = harness.environment
        environment["SAMU_WORKER_ID"] = "\(worker)-\(harness.id)"
        environment["SAMU_LOG_LEVEL"] = "info"
        return environment
    }

    func cases(_ harness: PipelineHarness) async throws -> Int {
        try await harness.withStore { try await $0.counts().cases }
    }

    @Test("F1: kill -9 of the worker in the middle of 10,000 reports, then a restart")
    func killNine() async throws {
        let (harness, documents, ids) = try await prepared(reports: 10_000)
        let worker = try SamuBinary.start(["worker"], environment: harness.environment, name: "f1-\(harness.id)")
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) })
        #expect(try await eventually(timeout: .seconds(60)) { try await cases(harness) >= 3000 })
        worker.signal(SIGKILL)
        _ = try await worker.wait(timeout: .seconds(10))
        let atKill = try await cases(harness)
        try await producing.value
        let restarted = ContinuousClock.now
        let second = try SamuBinary.start(["worker"], environment: harness.environment, name: "f1b-\(harness.id)")
        let recovered = try await eventually(timeout: .seconds(90)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - restarted
        second.signal(SIGTERM)
        _ = try await second.wait(timeout: .seconds(30))
        print("fault F1 kill -9 at \(atKill) cases: \(ledger)")
        ledger.record("F1 kill -9 mid-stream, restart", note: "killed at \(atKill) cases")
        #expect(recovered, "second worker: \(second.log.suffix(2000))")
        #expect(atKill < ids.count, "the kill came after the stream was done: nothing was interrupted")
        #expect(ledger.clean, "\(ledger)")
        #expect(ledger.cases == ids.count)
        try await harness.cleanUp()
    }

    @Test("two workers in one group, one killed with kill -9 while both are busy: the other takes its zones over")
    func twoWorkersOneKilled() async throws {
        let (harness, documents, ids) = try await prepared(reports: 3000)
        var first = harness.environment
        first["SAMU_WORKER_ID"] = "w1-\(harness.id)"
        var second = harness.environment
        second["SAMU_WORKER_ID"] = "w2-\(harness.id)"
        let victim = try SamuBinary.start(["worker"], environment: first, name: "f2a-\(harness.id)")
        let survivor = try SamuBinary.start(
            ["worker"], environment: second.merging(["SAMU_LOG_LEVEL": "info"]) { $1 }, name: "f2b-\(harness.id)")
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) })
        #expect(try await eventually(timeout: .seconds(60)) { try await cases(harness) >= 900 })
        victim.signal(SIGKILL)
        _ = try await victim.wait(timeout: .seconds(10))
        let killedAt = ContinuousClock.now
        try await producing.value
        let recovered = try await eventually(timeout: .seconds(120)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - killedAt
        survivor.signal(SIGTERM)
        let outcome = try await survivor.wait(timeout: .seconds(30))
        print("fault two workers, one killed: \(ledger)")
        ledger.record("two workers, one kill -9", note: "survivor rebuilt the victim's zones")
        #expect(recovered, "survivor: \(survivor.log.suffix(2000))")
        #expect(outcome.output.contains("zones rebuilt from the database"), "the survivor took zones over")
        #expect(ledger.clean, "\(ledger)")
        try await harness.cleanUp()
    }

    @Test("F3: a rebalance storm, a second worker started or stopped every 5 s for 60 s while 200 reports/s flow")
    func rebalanceStorm() async throws {
        let (harness, documents, ids) = try await prepared(reports: 12_000)
        let steady = workerEnvironment(harness, worker: "steady")
        let base = try SamuBinary.start(["worker"], environment: steady, name: "f3-base-\(harness.id)")
        // About 200 reports a second for 60 s.
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) }, perChunk: 10)
        let started = ContinuousClock.now
        var visitor: SamuBinary.Running?
        var changes = 0
        var generation = 0
        while ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .seconds(5))
            if let running = visitor {
                running.signal(changes % 4 == 1 ? SIGKILL : SIGTERM)  // now and then a crash, not a stop
                _ = try await running.wait(timeout: .seconds(30))
                visitor = nil
            } else {
                generation += 1
                var environment = harness.environment
                environment["SAMU_WORKER_ID"] = "visitor-\(generation)-\(harness.id)"
                visitor = try SamuBinary.start(
                    ["worker"], environment: environment, name: "f3-visitor-\(generation)-\(harness.id)")
            }
            changes += 1
        }
        visitor?.signal(SIGTERM)
        if let visitor { _ = try await visitor.wait(timeout: .seconds(30)) }
        try await producing.value
        let stormEnded = ContinuousClock.now
        let recovered = try await eventually(timeout: .seconds(180)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - stormEnded
        base.signal(SIGTERM)
        let outcome = try await base.wait(timeout: .seconds(60))
        let rebalances = outcome.output.components(separatedBy: "partitions assigned").count - 1
        // Latency from the report's record to its case.received outcome, from the broker's timestamps.
        var producedAt: [String: Int64] = [:]
        for message in try await harness.readAll(.reports) {
            guard let id = message.value.flatMap({ try? JSONParser.parse($0) })?["event_id"]?.stringValue,
                let time = message.timestampMilliseconds
            else { continue }
            producedAt[id] = time
        }
        var latencies: [Int64] = []
        for message in try await harness.readAll(.outcomes) {
            for event in OutcomeRecord.steps(message.value) {
                guard event["type"]?.stringValue == "case.received",
                    let report = event["report_id"]?.stringValue, let sent = producedAt[report],
                    let time = message.timestampMilliseconds
                else { continue }
                latencies.append(time - sent)
            }
        }
        latencies.sort()
        func percentile(_ p: Double) -> Int64 {
            latencies.isEmpty ? -1 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        ledger.conclude(
            "F3 rebalance storm (60 s, 200/s)",
            note:
                "\(changes) membership changes, \(rebalances) assignments at the steady worker; report→case.received p50 \(percentile(0.5)) ms, p99 \(percentile(0.99)) ms"
        )
        #expect(recovered, "steady worker: \(outcome.output.suffix(2000))")
        #expect(rebalances >= 6, "the storm did not rebalance the group")
        try await harness.cleanUp()
    }

    @Test("F2: a zombie worker paused past its session, then resumed, while another took its zones over")
    func zombie() async throws {
        let (harness, documents, ids) = try await prepared(reports: 3000)
        let first = workerEnvironment(harness, worker: "zombie")
        let second = workerEnvironment(harness, worker: "survivor")
        let zombie = try SamuBinary.start(["worker"], environment: first, name: "f2z-\(harness.id)")
        #expect(try await eventually(timeout: .seconds(30)) { zombie.log.contains("partitions assigned") })
        let survivor = try SamuBinary.start(["worker"], environment: second, name: "f2s-\(harness.id)")
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) })
        // The zombie is paused holding partitions: after the rebalance the survivor's arrival
        // started, never in the middle of it (a worker paused between its revoke and its new
        // assignment holds nothing, and the scenario would not happen).
        let settled = try await eventually(timeout: .seconds(60)) {
            survivor.log.contains("partitions assigned")
                && zombie.log.components(separatedBy: "partitions assigned").count - 1 >= 2
        }
        #expect(settled, "the group did not settle with both workers: \(zombie.log.suffix(2000))")
        #expect(try await eventually(timeout: .seconds(60)) { try await cases(harness) >= 600 })
        zombie.signal(SIGSTOP)
        try await Task.sleep(for: .seconds(18))  // three session timeouts: the group gives its partitions away
        zombie.signal(SIGCONT)
        try await producing.value
        let resumed = ContinuousClock.now
        let recovered = try await eventually(timeout: .seconds(120)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - resumed
        // Zones changed owner here: rows the zombie left unpublished went out through the
        // survivor, before anything it decided for those zones.
        let (outOfOrder, ordered) = try await outcomeOrder(harness)
        zombie.signal(SIGTERM)
        survivor.signal(SIGTERM)
        let zombieLog = try await zombie.wait(timeout: .seconds(30)).output
        let survivorLog = try await survivor.wait(timeout: .seconds(30)).output
        let fenced = zombieLog.components(separatedBy: "write refused (fenced)").count - 1
        // Leases are taken on assignment only: the zombie, waking up with a batch in hand, never
        // leases a zone on its own, so the survivor's writes are never refused.
        let survivorFenced = survivorLog.components(separatedBy: "write refused (fenced)").count - 1
        ledger.conclude(
            "F2 zombie worker (SIGSTOP 18 s)",
            note:
                "zombie writes fenced: \(fenced); survivor writes fenced: \(survivorFenced); zombie found its partitions lost: \(zombieLog.contains("lost: true") ? "yes" : "no"); cases with outcomes out of commit order: \(outOfOrder) of \(ordered)"
        )
        #expect(recovered)
        #expect(ordered == ids.count)
        #expect(outOfOrder == 0, "a case's outcomes reached the topic out of their commit order across the takeover")
        // The zombie woke up after the takeover: either with a batch in hand, whose write is
        // fenced, or between batches, when it finds its partitions lost and writes nothing. Either
        // way the ledger above shows no case twice and no unit double-booked.
        let lostOnWaking = zombieLog.contains("lost: true")
        #expect(
            fenced > 0 || lostOnWaking,
            "the zombie neither had a write fenced nor lost its partitions: the scenario did not happen")
        #expect(survivorFenced == 0, "the zombie took a lease outside an assignment")
        try await harness.cleanUp()
    }

    @Test("F11: 1,000 fuzzed malformed events mixed into 1,000 valid reports")
    func fuzzed() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        var random = SystemRandomNumberGenerator()
        let valid = (0..<1000).map { ReportFixture.document(id: UUID(), zone: zones[$0 % zones.count]) }
        let ids = Self.ids(valid)
        let topic = harness.catalog.name(.reports)
        let template = ReportFixture.document().serialized
        func bad(_ index: Int) -> KafkaRecord {
            let zone = zones[index % zones.count]
            let text = ReportFixture.document(zone: zone).serialized
            let value: [UInt8]?
            switch index % 10 {
            case 0: value = Array(text.utf8.prefix(Int.random(in: 1..<text.utf8.count, using: &random)))  // truncated
            case 1:
                value = (0..<Int.random(in: 1...200, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
            case 2: value = Array(text.replacingOccurrences(of: "\"age\":54", with: "\"age\":\"fifty\"").utf8)
            case 3: value = Array(text.replacingOccurrences(of: "34.0209", with: "NaN").utf8)
            case 4: value = Array(text.replacingOccurrences(of: "homeless_adult", with: "astronaut").utf8)
            case 5:
                value = Array(
                    text.replacingOccurrences(of: "\"channel\":", with: "\"cin\":\"AB123456\",\"channel\":").utf8)
            case 6: value = Array(text.replacingOccurrences(of: "\"event_id\"", with: "\"id\"").utf8)
            case 7:
                value = Array(
                    text.replacingOccurrences(of: "رجل مسن", with: String(repeating: "x", count: 70_000)).utf8)
            case 8: value = Array(text.replacingOccurrences(of: "34.0209", with: "91.5").utf8)
            default: value = index % 20 == 9 ? nil : [0xC3, 0x28] + Array(template.utf8)
            }
            return KafkaRecord(topic: topic, key: Array(zone.utf8), value: value)
        }
        var records: [KafkaRecord] = []
        for index in 0..<1000 {
            records.append(harness.reportRecord(valid[index]))
            records.append(bad(index))
        }
        try await harness.withWorker { worker in
            try await harness.produce(records)
            let done = try await eventually(timeout: .seconds(90)) {
                let stats = worker.statistics.snapshot
                let unpublished = try await harness.withStore { try await $0.counts().unpublished }
                return stats.casesOpened == 1000 && stats.deadLettered == 1000 && unpublished == 0
            }
            #expect(done, "\(worker.statistics.snapshot)")
        }
        let ledger = try await Ledger.check(harness, reports: ids, eventsIn: records.count)
        ledger.conclude("F11 1,000 fuzzed events + 1,000 valid", note: "every bad event in the DLQ")
        #expect(ledger.cases == 1000)
        #expect(ledger.deadLetters == 1000)
        try await harness.cleanUp()
    }

    @Test("F17: poison in the stream, one event per 1,000 that the database or the decoder refuses, at 200/s")
    func poisonInStream() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        try await announceDeployment(harness)
        try await PoisonTests.installPoisonTrigger(harness)
        let plan = try Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json"))
        let topic = harness.catalog.name(.reports)
        var records: [KafkaRecord] = []
        var valid: [UUID] = []
        var poison = 0
        for index in 0..<6_006 {
            let zone = plan.zones[index % plan.zones.count].zone
            let id = UUID()
            let notes: String
            if index % 1_001 == 500 {
                // Alternately refused by PostgreSQL (the trigger) and by the decoder (U+0000).
                notes = poison % 2 == 0 ? #""POISON""# : #""a\u0000b""#
                poison += 1
            } else {
                notes = #""note""#
                valid.append(id)
            }
            records.append(
                KafkaRecord(
                    topic: topic, key: harness.areas.key(for: zone),
                    value: PoisonTests.report(id: id, zone: zone, notesJSON: notes)
                ))
        }
        let started = ContinuousClock.now
        try await harness.withWorker { worker in
            // 10 records every 50 ms: about 200 reports a second.
            let producing = produceSteadily(harness, records, perChunk: 10)
            try await producing.value
            let done = try await eventually(timeout: .seconds(120)) {
                let stats = worker.statistics.snapshot
                return stats.casesOpened == valid.count && stats.deadLettered == poison
            }
            #expect(done, "\(worker.statistics.snapshot)")
        }
        var ledger = try await Ledger.check(harness, reports: valid, eventsIn: records.count)
        ledger.recovery = ContinuousClock.now - started
        var reasons: [String: Int] = [:]
        var validInDLQ = 0
        let validSet = Set(valid)
        for letter in try await harness.readAll(.deadLetters) {
            let json = try JSONParser.parse(letter.value ?? [])
            reasons[json["reason"]?.stringValue ?? "", default: 0] += 1
            let original = json["original"]?["value_base64"]?.stringValue.flatMap { Data(base64Encoded: $0) }
            let id = original.flatMap { try? JSONParser.parse(Array($0)) }?["event_id"]?.stringValue
                .flatMap(UUID.init(uuidString:))
            if let id, validSet.contains(id) { validInDLQ += 1 }
        }
        ledger.conclude(
            "F17 poison 1 per 1,000 at 200/s",
            note: "valid in DLQ \(validInDLQ), poison in DLQ \(ledger.deadLetters)/\(poison); reasons \(reasons)")
        #expect(validInDLQ == 0)
        #expect(reasons == ["unprocessable": poison / 2, "nul_character": poison - poison / 2])
        try await harness.cleanUp()
    }

    @Test(
        "F12: producers of the current and a next version interleaved (it adds an optional field); an unknown version is dead-lettered"
    )
    func schemaEvolution() async throws {
        // The catalog as it would be with a next report schema version: the newest plus an
        // optional field; version 1 producers carry on beside it.
        let newest = try #require(Repository.catalog().definition(.reports).schemas.keys.max())
        let next = newest + 1
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("topics-next-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for file in try FileManager.default.contentsOfDirectory(at: Repository.topics, includingPropertiesForKeys: nil)
        {
            var data = try Data(contentsOf: file)
            if file.lastPathComponent == "samu.reports.v1.json" {
                guard case .object(var topic) = try JSONParser.parse(Array(data)),
                    case .object(var schemas)? = topic["schemas"], case .object(var schema)? = schemas["\(newest)"],
                    case .object(var properties)? = schema["properties"]
                else { throw LoopbackHTTP.Failure(description: "unexpected reports topic file") }
                properties.set("schema_version", ["const": .integer(Int64(next))])
                properties.set("callback_window_minutes", ["type": "integer", "minimum": 0, "maximum": 1440])
                schema.set("properties", .object(properties))
                schemas.set("\(next)", .object(schema))
                topic.set("schemas", .object(schemas))
                #expect(SchemaCompatibility.breakingChanges(from: schemas["\(newest)"]!, to: .object(schema)) == [])
                data = Data(JSONValue.object(topic).serializedBytes)
            }
            try data.write(to: directory.appendingPathComponent(file.lastPathComponent))
        }
        let harness = try PipelineHarness()
        let catalog = try TopicCatalog.load(directory: directory).withPrefix(harness.catalog.prefix)
        try await harness.prepare()
        let documents = reports(200)
        var records: [KafkaRecord] = []
        for (index, document) in documents.enumerated() {
            var text = document.serialized
            if index % 2 == 1 {
                text = text.replacingOccurrences(of: #""schema_version":1"#, with: "\"schema_version\":\(next)")
                    .replacingOccurrences(of: #""channel":"#, with: #""callback_window_minutes":30,"channel":"#)
            }
            records.append(
                KafkaRecord(
                    topic: harness.catalog.name(.reports), key: Array((document["zone"]?.stringValue ?? "").utf8),
                    value: Array(text.utf8)))
        }
        let unknown = ReportFixture.document(zone: "rabat").serialized
            .replacingOccurrences(of: #""schema_version":1"#, with: "\"schema_version\":\(next + 1)")
        records.append(
            KafkaRecord(topic: harness.catalog.name(.reports), key: Array("rabat".utf8), value: Array(unknown.utf8)))
        try await harness.withWorker(catalog: catalog) { worker in
            try await harness.produce(records)
            let done = try await eventually(timeout: .seconds(90)) {
                let stats = worker.statistics.snapshot
                return stats.casesOpened == documents.count && stats.deadLettered == 1
            }
            #expect(done, "\(worker.statistics.snapshot)")
        }
        let ledger = try await Ledger.check(harness, reports: Self.ids(documents), eventsIn: records.count)
        let reasons = try await harness.readAll(.deadLetters).compactMap {
            $0.value.flatMap { try? JSONParser.parse($0) }?["reason"]?.stringValue
        }
        ledger.conclude(
            "F12 v1 and v\(next) reports interleaved, one v\(next + 1)",
            note: "100 v1 + 100 v\(next) cases; v\(next + 1): \(reasons.joined())")
        #expect(reasons == ["schema_version_unknown"])
        try await harness.cleanUp()
    }

    @Test("F13: an outcome too large for the broker is parked with an alert; every other outcome flows")
    func oversizeOutcome() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        // A committed outcome row of 2 MB for Rabat (over the broker's 1 MB message limit), left
        // unpublished as if its worker had crashed: the sweep finds it.
        let oversize = UUID()
        _ = try await harness.withStore { store in
            try await store.client.query(
                """
                insert into outbox (outbox_id, topic, key, payload, created_at)
                values (\(oversize), \(harness.catalog.name(.outcomes)), 'rabat',
                        '{"pad":"' || repeat('x', 2000000) || '"}', now() - interval '1 minute')
                """, logger: harness.logger)
        }
        let documents = reports(300)
        try await harness.withWorker { worker in
            try await harness.produce(documents.map { harness.reportRecord($0) })
            let done = try await eventually(timeout: .seconds(90)) {
                let counts = try await harness.withStore { try await $0.counts() }
                return worker.statistics.snapshot.outboxParked == 1 && counts.cases == documents.count
                    && counts.unpublished == 1
            }
            #expect(done, "\(worker.statistics.snapshot)")
        }
        let parked = try await harness.withStore { try await $0.parkedOutboxCount() }
        #expect(parked == 1)
        let ledger = try await Ledger.check(harness, reports: Self.ids(documents), eventsIn: documents.count)
        let received = try await harness.outcomes(ofType: "case.received").count
        ledger.conclude("F13 a 2 MB outcome among 300 reports", note: "parked \(parked); case.received \(received)/300")
        #expect(received == documents.count)
        try await harness.cleanUp()
    }

    @Test("F13: the worker killed between an outcome's delivery and its published mark: sent again, byte-identical")
    func killedBeforeMark() async throws {
        let (harness, documents, ids) = try await prepared(reports: 6)
        let environment = workerEnvironment(harness, worker: "mark")
        // A reader of the outcome topic of its own (a group of one, from the beginning), so that the
        // kill follows the delivery within a few milliseconds: the "published" mark waits for the
        // next batch or half a second.
        var reading = KafkaConsumerConfiguration(client: harness.configuration.kafka, groupID: "f13-\(harness.id)")
        reading.autoOffsetReset = "earliest"
        let reader = try KafkaConsumer(
            configuration: reading, topics: [harness.catalog.name(.outcomes)], logger: harness.logger)
        var seen: [UUID: Int] = [:]
        func read(until condition: () async throws -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if try await condition() { return true }
                guard case .messages(let batch) = try await reader.next(maxMessages: 500, timeout: .milliseconds(50))
                else { continue }
                for message in batch {
                    guard let value = message.value, let outcome = try? JSONParser.parse(value),
                        let caseID = outcome["case_id"]?.stringValue.flatMap(UUID.init(uuidString:))
                    else { continue }
                    seen[caseID, default: 0] += 1
                }
            }
            return try await condition()
        }
        func unmarked(_ caseID: UUID) async throws -> Int {
            try await harness.scalar(
                "select count(*) from outbox where published_at is null and payload::jsonb ->> 'case_id' = '\(caseID.lowercased)'"
            )
        }
        // Each round: a worker, one report, and kill -9 as soon as its outcome is on the topic. A
        // round whose mark was written before the kill tries again with the next report.
        var caught: UUID?
        var sent = 0
        for (round, document) in documents.enumerated() where caught == nil {
            let worker = try SamuBinary.start(["worker"], environment: environment, name: "f13m\(round)-\(harness.id)")
            #expect(try await eventually(timeout: .seconds(30)) { worker.log.contains("partitions assigned") })
            try await harness.produce([harness.reportRecord(document)])
            sent += 1
            let caseID = DerivedID.caseID(forReport: ids[round])
            let delivered = try await read { seen[caseID] != nil }
            worker.signal(SIGKILL)
            _ = try await worker.wait(timeout: .seconds(10))
            #expect(delivered, "round \(round): no outcome on the topic: \(worker.log.suffix(1500))")
            if try await unmarked(caseID) > 0 { caught = caseID }
        }
        guard let caught else {
            Issue.record("in \(sent) rounds the kill never fell between a delivery and its mark")
            return
        }
        // The next worker's sweep finds the row unmarked and publishes it again, with the same id
        // and bytes: consumers dedupe by event_id.
        let restarted = ContinuousClock.now
        let worker = try SamuBinary.start(["worker"], environment: environment, name: "f13r-\(harness.id)")
        let republished = try await read {
            try await unmarked(caught) == 0 && (seen[caught] ?? 0) >= 2
        }
        var ledger = try await Ledger.check(harness, reports: Array(ids.prefix(sent)), eventsIn: sent)
        ledger.recovery = ContinuousClock.now - restarted
        worker.signal(SIGTERM)
        _ = try await worker.wait(timeout: .seconds(30))
        try? await reader.close()
        ledger.conclude(
            "F13 relay killed between delivery and mark",
            note: "kill -9 after the delivery, before the mark (round \(sent)); the row sent \(seen[caught] ?? 0)×")
        #expect(republished, "the unmarked row was not published again: \(worker.log.suffix(1500))")
        #expect(ledger.redeliveredOutcomes >= 1)
        #expect(ledger.cases == sent)
        try await harness.cleanUp()
    }

    @Test("F9/F10: duplicated reports and shuffled, replayed unit and bed reports")
    func duplicatesAndStaleUnits() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        let documents = (0..<300).map { _ in ReportFixture.document(id: UUID(), zone: "rabat") }
        let ids = Self.ids(documents)
        var records: [KafkaRecord] = []
        var injectedDuplicates = 0
        for (index, document) in documents.enumerated() {
            let copies = 1 + index % 3
            injectedDuplicates += copies - 1
            records += Array(repeating: harness.reportRecord(document), count: copies)
        }
        // One unit reports versions 1...40 in a shuffled order, each version twice.
        let topic = harness.catalog.name(.units)
        var unitEvents: [KafkaRecord] = []
        for version in Array(1...40).shuffled() {
            let event: JSONValue = [
                "schema_version": 1, "event_id": .string(UUID().uuidString.lowercased()), "zone": "rabat",
                "unit_id": "rabat-u9", "version": .integer(Int64(version)),
                "status": .string(version == 40 ? "off_duty" : "available"), "position": ["lat": 34.02, "lon": -6.84],
                "reported_at": "2026-01-15T01:00:00Z",
            ]
            let record = KafkaRecord(topic: topic, key: Array("rabat".utf8), value: Array(event.serialized.utf8))
            unitEvents += [record, KafkaRecord(topic: topic, key: record.key, value: record.value)]
        }
        // One shelter reports versions 1...40 the same way; version v has v men's beds occupied of 50.
        let bedsTopic = harness.catalog.name(.beds)
        for version in Array(1...40).shuffled() {
            let event: JSONValue = [
                "schema_version": 1, "event_id": .string(UUID().uuidString.lowercased()), "zone": "rabat",
                "shelter_id": "rabat-s9", "version": .integer(Int64(version)),
                "location": ["lat": 34.01, "lon": -6.83],
                "beds": ["men": ["capacity": 50, "occupied": .integer(Int64(version))]],
                "reported_at": "2026-01-15T01:00:00Z",
            ]
            let record = KafkaRecord(topic: bedsTopic, key: Array("rabat".utf8), value: Array(event.serialized.utf8))
            unitEvents += [record, KafkaRecord(topic: bedsTopic, key: record.key, value: record.value)]
        }
        unitEvents.shuffle()
        try await harness.withWorker { worker in
            try await harness.produce(unitEvents)
            try await harness.produce(records)
            let done = try await eventually(timeout: .seconds(60)) {
                worker.statistics.snapshot.casesOpened == ids.count
                    && worker.statistics.snapshot.eventsConsumed == records.count + unitEvents.count
            }
            #expect(done, "\(worker.statistics.snapshot)")
            let stats = worker.statistics.snapshot
            print(
                "fault F9/F10: \(records.count) report events (\(injectedDuplicates) duplicates), \(unitEvents.count) unit and bed events (40 versions each, shuffled, each twice): duplicates ignored \(stats.duplicatesIgnored), stale inputs refused \(stats.inputsRejected)"
            )
            #expect(
                stats.duplicatesIgnored == injectedDuplicates + 80,
                "duplicated reports and the second copy of each unit and bed event")
        }
        let ledger = try await Ledger.check(harness, reports: ids, eventsIn: records.count)
        #expect(ledger.clean, "\(ledger)")
        ledger.record(
            "F9/F10 duplicated reports, shuffled unit and bed versions",
            note:
                "\(injectedDuplicates) duplicate reports + 80 duplicate unit and bed events ignored; latest versions kept"
        )
        let final = try await harness.withStore { store in
            let rows = try await store.client.query("select version, status from units where unit_id = 'rabat-u9'")
            for try await (version, status) in rows.decode((Int64, String).self) { return (version, status) }
            return (Int64(-1), "")
        }
        #expect(final.0 == 40)
        #expect(final.1 == "off_duty", "the highest version wins, whatever the order")
        let shelter = try await harness.withStore { store in
            let rows = try await store.client.query(
                "select version, occupied from shelter_beds where shelter_id = 'rabat-s9' and bed_type = 'men'")
            for try await (version, occupied) in rows.decode((Int64, Int32).self) {
                return (version, Int(occupied))
            }
            return (Int64(-1), -1)
        }
        #expect(shelter.0 == 40 && shelter.1 == 40, "the shelter's latest counts win, whatever the order: \(shelter)")
        try await harness.cleanUp()
    }
}
