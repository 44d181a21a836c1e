import Foundation
import MetricsTestKit
import PostgresNIO
import RdKafka
import SamuModel
import SamuPipeline
import SamuTestSupport
import Testing

@testable import SamuStore

/// Input that no single event may use to hold the others back (F17 and its neighbours): events the
/// database refuses, strings it cannot store, zones that do not exist, reused event ids and dead
/// letters larger than the broker takes.
@Suite("Poison input (integration)", .timeLimit(.minutes(5)))
struct PoisonTests {
    static let zones = ["rabat", "sale", "casablanca-anfa", "marrakech", "fes", "tanger-assilah"]

    /// A report whose notes are `notes` (written into the JSON as given: escapes stay escapes).
    static func report(id: UUID = UUID(), zone: String, notesJSON: String) -> [UInt8] {
        let document = ReportFixture.document(id: id, zone: zone).serialized
        let original = JSONValue.string("رجل مسن ينام قرب باب الأحد").serialized
        return Array(document.replacingOccurrences(of: original, with: notesJSON).utf8)
    }

    /// Makes PostgreSQL refuse, for its data, any report whose notes hold `POISON` (SQLSTATE 22023,
    /// the class a value PostgreSQL cannot take belongs to): a refusal the decoder cannot foresee.
    static func installPoisonTrigger(_ harness: PipelineHarness) async throws {
        let schema = harness.configuration.database.schema
        try await harness.withStore { store in
            try await store.client.query(
                PostgresQuery(
                    unsafeSQL: """
                        create function \(schema).refuse_poison() returns trigger language plpgsql as $$
                        begin
                            raise exception 'poisoned report' using errcode = '22023';
                        end $$
                        """), logger: harness.logger)
            try await store.client.query(
                PostgresQuery(
                    unsafeSQL: """
                        create trigger refuse_poison before insert on \(schema).reports for each row
                        when (new.payload->>'notes' like '%POISON%') execute function \(schema).refuse_poison()
                        """), logger: harness.logger)
        }
    }

    @Test(
        "a batch the database refuses is split: only the poison events are dead-lettered; U+0000, unknown zones and reused ids get their own reasons"
    )
    func poisonIsolated() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        try await Self.installPoisonTrigger(harness)
        let topic = harness.catalog.name(.reports)
        var records: [KafkaRecord] = []
        var validIDs: [UUID] = []
        var expected: [String: Int] = [:]
        let reused = UUID()
        for index in 0..<300 {
            let zone = Self.zones[index % Self.zones.count]
            let id = index == 0 ? reused : UUID()
            let value: [UInt8]
            switch index {
            case 40, 210:
                value = Self.report(id: id, zone: zone, notesJSON: #""POISON in the notes""#)
                expected["unprocessable", default: 0] += 1
            case 90, 250:
                value = Self.report(id: id, zone: zone, notesJSON: #""a\u0000b""#)
                expected["nul_character", default: 0] += 1
            default:
                // An escaped backslash before u0000 is text, not U+0000: accepted.
                value = Self.report(id: id, zone: zone, notesJSON: index == 7 ? #""C:\\u0000""# : #""note""#)
                validIDs.append(id)
            }
            records.append(KafkaRecord(topic: topic, key: harness.areas.key(for: zone), value: value))
        }
        // Zones that do not exist: Casablanca's dispatch area's id (an area is not a zone; it was
        // also the prefecture's code before 2015) and nonsense.
        for zone in ["casablanca", "zz-nowhere"] {
            records.append(
                KafkaRecord(
                    topic: topic, key: harness.areas.key(for: zone), value: Self.report(zone: zone, notesJSON: #""x""#))
            )
            expected["unknown_zone", default: 0] += 1
        }
        // The first report's id reused for another payload, and an identical redelivery of it.
        let first = records[0]
        records.append(
            KafkaRecord(
                topic: topic, key: first.key, value: Self.report(id: reused, zone: "rabat", notesJSON: #""other""#)))
        expected["conflicting_duplicate", default: 0] += 1
        records.append(first)

        try await harness.withWorker { worker in
            try await harness.produce(records)
            let done = try await eventually(timeout: .seconds(90)) {
                let stats = worker.statistics.snapshot
                return stats.casesOpened == validIDs.count && stats.deadLettered == expected.values.reduce(0, +)
            }
            #expect(done, "worker statistics: \(worker.statistics.snapshot)")
            #expect(worker.statistics.snapshot.batchesSplit > 0)
            #expect(worker.statistics.snapshot.conflictingDuplicates == 1)
        }
        let counts = try await harness.withStore { try await $0.caseCountsByReport(validIDs) }
        #expect(counts.count == validIDs.count, "every valid report has its case")
        #expect(counts.values.allSatisfy { $0 == 1 })

        let schema = try #require(harness.catalog.definition(.deadLetters).schemas[1])
        var reasons: [String: Int] = [:]
        for letter in try await harness.readAll(.deadLetters) {
            let json = try JSONParser.parse(letter.value ?? [])
            try schema.validate(json)
            let reason = json["reason"]?.stringValue ?? ""
            reasons[reason, default: 0] += 1
            let original = try #require(
                json["original"]?["value_base64"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            let id = try JSONParser.parse(Array(original))["event_id"]?.stringValue.flatMap(UUID.init(uuidString:))
            if reason != "conflicting_duplicate" {
                #expect(!validIDs.contains(try #require(id)), "a valid event was dead-lettered (\(reason))")
            }
            switch reason {
            case "nul_character": #expect(json["field"] == "/notes")
            case "unknown_zone": #expect(json["field"] == "/zone")
            case "conflicting_duplicate":
                #expect(id == reused)
                let conflict = try #require(json["conflict"])
                #expect(conflict["stored_sha256"] != conflict["received_sha256"])
            default: break
            }
        }
        #expect(reasons == expected)
        // Unknown zones left nothing behind: no lease, no case (the area `casablanca` has its lease).
        let stray = try await harness.withStore { store in
            let rows = try await store.client.query(
                PostgresQuery(
                    unsafeSQL: """
                        select (select count(*) from \(harness.configuration.database.schema).zone_leases
                                where zone = 'zz-nowhere')
                             + (select count(*) from \(harness.configuration.database.schema).cases
                                where zone in ('casablanca', 'zz-nowhere'))
                        """), logger: harness.logger)
            for try await count in rows.decode(Int.self) { return count }
            return -1
        }
        #expect(stray == 0)
    }

    @Test(
        "a record with a huge key and many headers makes a dead letter the broker takes; later reports still get cases")
    func oversizedDeadLetter() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        let topic = harness.catalog.name(.reports)
        // 900 KB of key, 40 headers of 20 KB: the broker takes the record (under 1 MB), but a dead
        // letter copying it raw, plus its base64, would not fit.
        let key = Array(repeating: UInt8(ascii: "k"), count: 600_000)
        let headers = (0..<12).map { KafkaHeader(name: "h\($0)", value: Array(repeating: UInt8($0), count: 20_000)) }
        let huge = KafkaRecord(topic: topic, key: key, value: Array("{}".utf8), headers: headers)
        let later = (0..<12).map { ReportFixture.document(zone: Self.zones[$0 % Self.zones.count]) }
        try await harness.withWorker { worker in
            try await harness.produce([huge])
            try await harness.produce(later.map { harness.reportRecord($0) })
            let done = try await eventually {
                let stats = worker.statistics.snapshot
                return stats.casesOpened == later.count && stats.deadLettered == 1
            }
            #expect(done, "worker statistics: \(worker.statistics.snapshot)")
        }
        let letters = try await harness.readAll(.deadLetters)
        #expect(letters.count == 1)
        let letter = try #require(letters.first)
        let size =
            (letter.value?.count ?? 0) + (letter.key?.count ?? 0)
            + letter.headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
        #expect(size <= DeadLetter.maximumRecordBytes)
        let json = try JSONParser.parse(letter.value ?? [])
        try #require(harness.catalog.definition(.deadLetters).schemas[1]).validate(json)
        #expect(json["original"]?["key_truncated"] == true)
        #expect(json["original"]?["key_size"] == .integer(Int64(key.count)))
        #expect(json["original"]?["headers_truncated"] == true)
        #expect(json["original"]?["headers_size"] != nil)
        #expect(letter.key == nil)
    }

    @Test(
        "with the dead-letter topic gone the worker says it is stuck, stops at once on SIGTERM, and after a restart with the topic back nothing is lost"
    )
    func deadLetterTopicUnavailable() async throws {
        let harness = try PipelineHarness()
        // Every topic but the dead-letter one.
        _ = try await KafkaAdmin.createTopics(
            harness.catalog.topics(partners: []).filter { $0.definition.role != .deadLetters }.map { name, definition in
                KafkaTopicSpecification(name: name, partitions: definition.partitions, configs: definition.configs)
            }, client: harness.configuration.kafka, logger: harness.logger)
        _ = try await harness.withStore { try await $0.migrate() }
        let port = Int.random(in: 30_000..<40_000)
        var environment = harness.environment
        environment["SAMU_WORKER_HTTP_ADDRESS"] = "127.0.0.1:\(port)"
        // A missing topic is reported after a second rather than librdkafka's 30 s.
        environment["SAMU_KAFKA_PROPERTIES"] = "topic.metadata.propagation.max.ms=1000"
        let valid = ReportFixture.document(zone: "rabat")
        try await harness.produce([
            KafkaRecord(topic: harness.catalog.name(.reports), key: Array("rabat".utf8), value: Array("{".utf8)),
            harness.reportRecord(valid),
        ])
        let worker = try SamuBinary.start(["worker"], environment: environment)
        let client = WebClient(base: URL(string: "http://127.0.0.1:\(port)")!)
        let stuck = try await eventually(timeout: .seconds(90)) {
            guard let ready = try? await client.send("GET", "/health/ready") else { return false }
            return ready.status == 503 && ready.json["checks"]?["progress"]?.stringValue == "stuck"
        }
        #expect(stuck, "readiness never reported the stuck partition:\n\(worker.log.suffix(2000))")
        #expect(worker.log.contains("dead letter not delivered; retrying"))
        // A stop while the dead letter is being retried ends within the grace period.
        let signalled = ContinuousClock.now
        worker.signal(SIGTERM)
        let stopped = try await worker.wait(timeout: .seconds(30))
        let stopping = ContinuousClock.now - signalled
        #expect(stopping < .seconds(15), "stopping took \(stopping)")
        #expect(stopped.status == 0, "\(stopped.output.suffix(1500))")
        print("dead-letter topic gone: stuck reported, stopped \(stopping) after SIGTERM")
        // The topic comes back: a new worker writes the dead letter and the valid report's case.
        _ = try await KafkaAdmin.createTopics(
            harness.catalog.topics(partners: []).filter { $0.definition.role == .deadLetters }.map { name, definition in
                KafkaTopicSpecification(name: name, partitions: definition.partitions, configs: definition.configs)
            }, client: harness.configuration.kafka, logger: harness.logger)
        try await harness.withWorker { worker in
            let done = try await eventually(timeout: .seconds(60)) {
                let cases = try await harness.withStore { try await $0.counts().cases }
                return worker.statistics.snapshot.deadLettered == 1 && cases == 1
            }
            #expect(done, "\(worker.statistics.snapshot)")
        }
        #expect(try await harness.readAll(.deadLetters).count == 1)
        try await harness.cleanUp()
    }

    @Test("a dead letter over the size the producer may send is parked in PostgreSQL; the partition moves on")
    func deadLetterParked() async throws {
        // A deployment whose limit is lower than samu's caps: the local broker does not enforce a
        // topic's max.message.bytes, so the producer's own limit (librdkafka refuses the record
        // with MSG_SIZE_TOO_LARGE, as a broker would) stands in for it.
        let harness = try PipelineHarness()
        try await harness.prepare()
        var limited = harness
        limited.environment["SAMU_KAFKA_PROPERTIES"] = "message.max.bytes=4000"
        limited.configuration = try SamuConfiguration(environment: limited.environment)
        let bad = Array(repeating: UInt8(ascii: "x"), count: 5_000)
        let later = (0..<6).map { ReportFixture.document(zone: Self.zones[$0 % Self.zones.count]) }
        try await limited.withWorker { worker in
            try await harness.produce(
                [KafkaRecord(topic: harness.catalog.name(.reports), key: Array("rabat".utf8), value: bad)]
                    + later.map { harness.reportRecord($0) })
            let done = try await eventually(timeout: .seconds(60)) {
                let stats = worker.statistics.snapshot
                return stats.deadLettersParked == 1 && stats.casesOpened == later.count
            }
            #expect(done, "\(worker.statistics.snapshot)")
        }
        let parked = try await harness.withStore { try await $0.parkedDeadLetterCount() }
        #expect(parked == 1)
        #expect(try await harness.readAll(.deadLetters).isEmpty)
        try await harness.cleanUp()
    }

    @Test(
        "a database refusing writes for the worker's rights (42501) or a fail-over (25006): the batch waits with an alert, nothing is dead-lettered, and it drains once writes pass"
    )
    func unwritableDatabaseWaits() async throws {
        let metrics = ProcessMetrics.recorder
        let harness = try PipelineHarness()
        try await harness.prepare()
        let schema = harness.configuration.database.schema
        // A switch the test turns: while it holds an SQLSTATE, every report is refused with it.
        try await harness.withStore { store in
            for sql in [
                "create table \(schema).refuse_writes (code text)",
                """
                create function \(schema).refuse_writes() returns trigger language plpgsql as $$
                declare c text;
                begin
                    select code into c from \(schema).refuse_writes limit 1;
                    if c is not null then raise exception 'writes refused (test)' using errcode = c; end if;
                    return new;
                end $$
                """,
                """
                create trigger refuse_writes before insert on \(schema).reports for each row
                execute function \(schema).refuse_writes()
                """,
            ] {
                try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: harness.logger)
            }
        }
        func refuse(_ code: String?) async throws {
            try await harness.withStore { store in
                try await store.client.query(
                    PostgresQuery(unsafeSQL: "delete from \(schema).refuse_writes"), logger: harness.logger)
                if let code {
                    try await store.client.query(
                        "insert into \(unescaped: schema).refuse_writes values (\(code))", logger: harness.logger)
                }
            }
        }
        let documents = (0..<40).map { ReportFixture.document(id: UUID(), zone: Self.zones[$0 % Self.zones.count]) }
        let records = documents.map { harness.reportRecord($0) }
        try await refuse("42501")
        try await harness.withWorker { worker in
            func stuck(on code: String) async throws -> Bool {
                try await eventually(timeout: .seconds(30)) {
                    worker.statistics.snapshot.stuck?.reason.contains("SQLSTATE \(code)") == true
                }
            }
            try await harness.produce(Array(records.prefix(20)))
            #expect(try await stuck(on: "42501"), "\(worker.statistics.snapshot)")
            #expect(try metrics.expectGauge("samu_database_unwritable").values.contains(1))
            try await refuse("25006")
            #expect(try await stuck(on: "25006"), "\(worker.statistics.snapshot)")
            try await harness.produce(Array(records.suffix(20)))
            try await Task.sleep(for: .seconds(1))
            #expect(try await harness.scalar("select count(*) from cases") == 0)
            try await refuse(nil)
            let drained = try await eventually(timeout: .seconds(60)) {
                try await harness.scalar("select count(*) from cases") == documents.count
            }
            #expect(drained, "\(worker.statistics.snapshot)")
            let snapshot = worker.statistics.snapshot
            #expect(snapshot.stuck == nil)
            #expect(snapshot.storeRetries > 0)
            #expect(snapshot.deadLettered == 0)
            #expect(snapshot.batchesSplit == 0)
        }
        #expect(try await harness.readAll(.deadLetters).isEmpty)
        try await harness.cleanUp()
    }
}
