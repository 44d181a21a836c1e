import Foundation
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

@Suite("Graceful stop and restart of the worker binary (integration)", .timeLimit(.minutes(3)))
struct GracefulRestartTests {
    @Test("SIGTERM in the middle of a stream, then a restart: every report has exactly one case and one outcome")
    func sigtermMidStream() async throws {
        let harness = try PipelineHarness(batchSize: 100)
        try await harness.prepare()
        let zones = ["rabat", "sale", "casablanca-anfa", "marrakech", "fes", "tanger-assilah", "oujda-angad", "meknes"]
        let documents = (0..<3000).map { ReportFixture.document(id: UUID(), zone: zones[$0 % zones.count]) }
        let ids = documents.compactMap { $0["event_id"]?.stringValue.flatMap(UUID.init(uuidString:)) }
        let records = documents.map { harness.reportRecord($0) }

        let first = try SamuBinary.start(
            ["worker"], environment: harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 },
            name: "first-\(harness.id)")
        // Produce at about 1,000 reports a second while the worker runs.
        let producing = Task {
            try await KafkaProducer.withProducer(configuration: harness.configuration.producer, logger: harness.logger)
            {
                producer in
                var batches: [KafkaDeliveryBatch] = []
                for chunk in stride(from: 0, to: records.count, by: 50).map({
                    Array(records[$0..<min($0 + 50, records.count)])
                }) {
                    batches.append(await producer.submit(chunk))
                    try await Task.sleep(for: .milliseconds(50))
                }
                for batch in batches { for result in await batch.results() { _ = try result.get() } }
            }
        }
        let reachedQuarter = try await eventually(timeout: .seconds(60)) {
            try await harness.withStore { try await $0.counts().cases } >= records.count / 4
        }
        #expect(reachedQuarter, "the first worker never got going; its log:\n\(first.log.suffix(3000))")
        first.signal(SIGTERM)
        let firstStatus = try await first.wait(timeout: .seconds(30)).status
        let casesAtStop = try await harness.withStore { try await $0.counts().cases }
        #expect(firstStatus == 0, "exit status after SIGTERM; log:\n\(first.log.suffix(3000))")
        #expect(casesAtStop < records.count, "the stop came after the stream ended: nothing was interrupted")
        #expect(first.log.contains("worker stopped"))
        try await producing.value

        let second = try SamuBinary.start(
            ["worker"], environment: harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 },
            name: "second-\(harness.id)")
        let finished = try await eventually(timeout: .seconds(90)) {
            let counts = try await harness.withStore { try await $0.counts() }
            return counts.cases == records.count && counts.unpublished == 0
        }
        second.signal(SIGTERM)
        let secondStatus = try await second.wait(timeout: .seconds(30)).status
        #expect(finished, "second worker log:\n\(second.log.suffix(3000))")
        #expect(secondStatus == 0)

        let counts = try await harness.withStore { try await $0.counts() }
        #expect(counts.processedEvents == records.count)
        #expect(counts.cases == records.count)
        let perReport = try await harness.withStore { try await $0.caseCountsByReport(ids) }
        #expect(perReport.count == records.count && perReport.values.allSatisfy { $0 == 1 })
        let outcomeIDs = try await harness.outcomes(ofType: "case.received").compactMap { $0["event_id"]?.stringValue }
        #expect(outcomeIDs.count == records.count, "outcome records (duplicates would make this larger)")
        #expect(Set(outcomeIDs).count == records.count)
        #expect(try await harness.readAll(.deadLetters).isEmpty)
        print(
            "graceful restart: \(records.count) reports, \(casesAtStop) cases when SIGTERM arrived, \(counts.cases) cases and \(outcomeIDs.count) outcomes in the end"
        )
        try await harness.cleanUp()
    }
}
