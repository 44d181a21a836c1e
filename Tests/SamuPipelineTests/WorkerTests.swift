import Foundation
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore
import SamuTestSupport
import SamuTriage
import Testing

@Suite("Worker through the real broker and PostgreSQL (integration)", .timeLimit(.minutes(3)))
struct WorkerTests {
    @Test(
        "a producer librdkafka declares dead (a fatal idempotence error) stops the worker with its error, instead of deciding cases whose outcomes could never leave the outbox"
    )
    func fatalProducerStopsWorker() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        let store = try SamuStore(configuration: harness.configuration.database, logger: harness.logger)
        let worker = DispatchWorker(
            configuration: harness.configuration, catalog: harness.catalog, store: store,
            triage: TriageEngine(
                rules: try TriageRules.load(Repository.seeds.appendingPathComponent("triage/rules.json"))),
            zones: try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json")),
            areas: harness.areas, logger: harness.logger)
        let stopped: Result<Void, any Error> = try await harness.withServices([StoreService(store: store)]) {
            let run = Task { try await worker.run() }
            let started = try await eventually(timeout: .seconds(30)) { worker.producer != nil }
            #expect(started)
            worker.producer?.raiseFatalErrorForTesting()
            return await run.result
        }
        guard case .failure(let error) = stopped else {
            Issue.record("the worker went on with a dead producer")
            return
        }
        #expect((error as? KafkaError)?.isFatal == true, "\(error)")
        try await harness.cleanUp()
    }

    @Test(
        "valid reports become one case and one outcome each; every malformed event becomes one dead letter with its reason"
    )
    func validAndMalformed() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        let zones = ["rabat", "sale", "casablanca-anfa", "marrakech", "fes", "tanger-assilah"]
        let valid = (0..<60).map { ReportFixture.document(id: UUID(), zone: zones[$0 % zones.count]) }
        let good = ReportFixture.document(zone: "rabat").serialized
        let topic = harness.catalog.name(.reports)
        let marker = KafkaHeader(name: "x-test", string: "kept")
        let malformed: [(KafkaRecord, RejectionReason)] = [
            (KafkaRecord(topic: topic, key: Array("rabat".utf8), value: nil, headers: [marker]), .emptyValue),
            (
                KafkaRecord(
                    topic: topic, key: Array("rabat".utf8), value: Array("{\"schema_version\":1,".utf8),
                    headers: [marker]), .notJSON
            ),
            (
                KafkaRecord(
                    topic: topic, key: Array("rabat".utf8), value: [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D],
                    headers: [marker]), .invalidUTF8
            ),
            (
                KafkaRecord(
                    topic: topic, key: Array("rabat".utf8),
                    value: Array(
                        good.replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":7").utf8),
                    headers: [marker]), .schemaVersionUnknown
            ),
            (
                KafkaRecord(
                    topic: topic, key: Array("rabat".utf8),
                    value: Array(good.replacingOccurrences(of: "homeless_adult", with: "unicorn").utf8),
                    headers: [marker]), .schemaViolation
            ),
            (
                KafkaRecord(topic: topic, key: Array("sale".utf8), value: Array(good.utf8), headers: [marker]),
                .keyZoneMismatch
            ),
            (
                KafkaRecord(
                    topic: topic, key: Array("rabat".utf8), value: Array(repeating: UInt8(ascii: "x"), count: 300_000),
                    headers: [marker]), .oversized
            ),
            (
                KafkaRecord(topic: topic, key: Array("rabat".utf8), value: Array("[]".utf8), headers: [marker]),
                .notAnObject
            ),
        ]
        // Malformed events interleaved with valid ones, and every valid one sent twice.
        var records: [KafkaRecord] = []
        for (index, document) in valid.enumerated() {
            records.append(harness.reportRecord(document))
            if index % 7 == 0, index / 7 < malformed.count { records.append(malformed[index / 7].0) }
        }
        records += valid.map { harness.reportRecord($0) }

        try await harness.withWorker { worker in
            try await harness.produce(records)
            let done = try await eventually {
                let stats = worker.statistics.snapshot
                let unpublished = try await harness.withStore { try await $0.counts().unpublished }
                return stats.casesOpened == valid.count && stats.deadLettered == malformed.count && unpublished == 0
                    && stats.outcomesPublished > 0
            }
            #expect(done, "worker statistics: \(worker.statistics.snapshot)")
        }

        let ids = valid.compactMap { $0["event_id"]?.stringValue.flatMap(UUID.init(uuidString:)) }
        let counts = try await harness.withStore { try await $0.caseCountsByReport(ids) }
        #expect(counts.count == valid.count)
        #expect(counts.values.allSatisfy { $0 == 1 })

        let outcomes = try await harness.readAll(.outcomes)
        let outcomeIDs = try await harness.outcomes(ofType: "case.received").compactMap { $0["event_id"]?.stringValue }
        #expect(outcomeIDs.count == valid.count)
        #expect(Set(outcomeIDs).count == valid.count)
        #expect(try await harness.outcomes(ofType: "case.triaged").count == valid.count)
        for outcome in outcomes {
            let json = try JSONParser.parse(outcome.value ?? [])
            try #require(harness.catalog.definition(.outcomes).schema(for: json)).validate(json)
            #expect(outcome.header("samu-event-id") != nil)
        }

        let letters = try await harness.readAll(.deadLetters)
        #expect(letters.count == malformed.count)
        let letterSchema = try #require(harness.catalog.definition(.deadLetters).schemas[1])
        var reasons: [String] = []
        for letter in letters {
            let json = try JSONParser.parse(letter.value ?? [])
            try letterSchema.validate(json)
            reasons.append(json["reason"]?.stringValue ?? "")
            // Original headers are kept, and the reason travels as a header too.
            #expect(letter.header("x-test") == .some(Array("kept".utf8)))
            #expect(letter.header("samu-dlq-reason") == .some(Array((json["reason"]?.stringValue ?? "").utf8)))
            #expect(json["source"]?["topic"]?.stringValue == topic)
            #expect(json["source"]?["offset"]?.integerValue != nil)
            let original = json["original"]?["value_base64"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map {
                Array($0)
            }
            let expected = malformed.first { $0.1.rawValue == json["reason"]?.stringValue }?.0.value
            if json["reason"] == "oversized" {
                #expect(json["original"]?["value_truncated"] == true)
                #expect(json["original"]?["value_size"] == 300_000)
            } else {
                #expect(original == expected)
            }
        }
        #expect(reasons.sorted() == malformed.map(\.1.rawValue).sorted())
        try await harness.cleanUp()
    }
}
