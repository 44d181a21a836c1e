import Foundation
import RdKafka
import SamuModel
import SamuTestSupport
import Testing

/// The real `samu worker` binary, as an operator runs it.
final class WorkerProcess {
    let process = Process()
    let logURL: URL

    init(environment: [String: String], name: String) throws {
        let binary =
            ProcessInfo.processInfo.environment["SAMU_BINARY"]
            ?? Repository.root.appendingPathComponent(".build/debug/samu").path
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["worker"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            .merging(["SAMU_LOG_LEVEL": "info"]) { $1 }
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("samu-\(name).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status.
    func terminate(timeout: Duration = .seconds(30)) async throws -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                throw TimedOut(log: log)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    struct TimedOut: Error, CustomStringConvertible {
        var log: String
        var description: String { "the worker did not stop after SIGTERM; its log:\n\(log.suffix(3000))" }
    }
}

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

        let first = try WorkerProcess(environment: harness.environment, name: "first-\(harness.id)")
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
        let firstStatus = try await first.terminate()
        let casesAtStop = try await harness.withStore { try await $0.counts().cases }
        #expect(firstStatus == 0, "exit status after SIGTERM; log:\n\(first.log.suffix(3000))")
        #expect(casesAtStop < records.count, "the stop came after the stream ended: nothing was interrupted")
        #expect(first.log.contains("worker stopped"))
        try await producing.value

        let second = try WorkerProcess(environment: harness.environment, name: "second-\(harness.id)")
        let finished = try await eventually(timeout: .seconds(90)) {
            let counts = try await harness.withStore { try await $0.counts() }
            return counts.cases == records.count && counts.unpublished == 0
        }
        let secondStatus = try await second.terminate()
        #expect(finished, "second worker log:\n\(second.log.suffix(3000))")
        #expect(secondStatus == 0)

        let counts = try await harness.withStore { try await $0.counts() }
        #expect(counts.processedEvents == records.count)
        #expect(counts.cases == records.count)
        #expect(counts.outbox == records.count)
        let perReport = try await harness.withStore { try await $0.caseCountsByReport(ids) }
        #expect(perReport.count == records.count && perReport.values.allSatisfy { $0 == 1 })
        let outcomes = try await harness.readAll(.outcomes)
        let outcomeIDs = outcomes.compactMap {
            $0.value.flatMap { try? JSONParser.parse($0) }?["event_id"]?.stringValue
        }
        #expect(outcomeIDs.count == records.count, "outcome records (duplicates would make this larger)")
        #expect(Set(outcomeIDs).count == records.count)
        #expect(try await harness.readAll(.deadLetters).isEmpty)
        print(
            "graceful restart: \(records.count) reports, \(casesAtStop) cases when SIGTERM arrived, \(counts.cases) cases and \(outcomeIDs.count) outcomes in the end"
        )
        try await harness.cleanUp()
    }
}
