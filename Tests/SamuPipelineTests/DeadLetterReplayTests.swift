import Foundation
import SamuModel
import SamuPipeline
import SamuTestSupport
import Testing

@Suite("Dead-letter replay (integration)", .timeLimit(.minutes(2)))
struct DeadLetterReplayTests {
    /// The reports topic as it was before the mental-distress category: the value removed from
    /// every schema version's category enumeration, and examples that used it dropped.
    static func withoutMentalDistress(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            return .object(
                JSONObject(
                    object.entries.compactMap { entry -> (String, JSONValue)? in
                        if entry.key == "examples", case .array(let examples) = entry.value {
                            return (entry.key, .array(examples.filter { $0["category"] != "mental_distress" }))
                        }
                        return (entry.key, withoutMentalDistress(entry.value))
                    }))
        case .array(let items):
            return .array(items.filter { $0 != "mental_distress" }.map(withoutMentalDistress))
        default:
            return value
        }
    }

    @Test("after a schema upgrade, replaying the dead letters opens their cases, and a second replay adds nothing")
    func replayAfterUpgrade() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        // The old schema did not know the mental-distress category.
        let old = FileManager.default.temporaryDirectory.appendingPathComponent("topics-old-\(harness.id)")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: Repository.topics.path)
        where file.hasSuffix(".json") {
            var data = try Data(contentsOf: Repository.topics.appendingPathComponent(file))
            if file == "samu.reports.v1.json" {
                data = Data(try Self.withoutMentalDistress(JSONParser.parse(Array(data))).serializedBytes)
                #expect(!String(decoding: data, as: UTF8.self).contains("\"mental_distress\""))
            }
            try data.write(to: old.appendingPathComponent(file))
        }
        let oldCatalog = try TopicCatalog.load(directory: old).withPrefix(harness.catalog.prefix)
        let tool = DeadLetterTool(
            configuration: harness.configuration, catalog: harness.catalog, logger: harness.logger)
        let distressed = [
            ReportFixture.document(category: "mental_distress"), ReportFixture.document(category: "mental_distress"),
        ]
        try await harness.withWorker(catalog: oldCatalog) { worker in
            try await harness.produce(
                distressed.map { harness.reportRecord($0) } + [harness.reportRecord(ReportFixture.document())])
            let done = try await eventually {
                worker.statistics.snapshot.deadLettered == 2 && worker.statistics.snapshot.casesOpened == 1
            }
            #expect(done, "old worker: \(worker.statistics.snapshot)")
        }
        let letters = try await tool.entries()
        #expect(letters.count == 2)
        #expect(letters.allSatisfy { $0.reason == "schema_violation" && $0.field == "/category" })

        let first = try await harness.withStore { try await tool.replay(store: $0) }
        #expect(first == .init(considered: 2, replayed: 2, alreadyReplayed: 0, notReplayable: 0))
        try await harness.withWorker { worker in
            let done = try await eventually { try await harness.withStore { try await $0.counts().cases } == 3 }
            #expect(done, "new worker: \(worker.statistics.snapshot)")
        }
        let second = try await harness.withStore { try await tool.replay(store: $0) }
        #expect(second == .init(considered: 2, replayed: 0, alreadyReplayed: 2, notReplayable: 0))
        #expect(try await tool.entries().count == 2, "the replayed events were accepted: no new dead letters")
        try await harness.cleanUp()
    }
}
