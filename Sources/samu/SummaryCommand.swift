import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuStore

struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract:
            "Show what happened to a file of reports: cases in PostgreSQL, outcomes and dead letters on the topics.",
        discussion: """
            With --file, waits (up to --wait seconds) until every valid line of the file has exactly one \
            case and a case.received outcome, and every malformed line a dead letter; exits non-zero if \
            that does not happen.
            """
    )

    @Option(help: "The NDJSON file that was fed to `samu intake --raw`.")
    var file: String?

    @Option(help: "Seconds to wait for the pipeline to catch up.")
    var wait: Int = 60

    func run() async throws {
        let context = try Context.forCommand(label: "samu.summary")
        let decoder = ReportDecoder(definition: context.catalog.definition(.reports))
        var valid: [UUID] = []
        var malformed: [(line: Int, bytes: [UInt8], rejection: Rejection)] = []
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            for (index, slice) in Array(data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .enumerated()
            {
                let line = Array(slice)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                switch decoder.decode(value: line) {
                case .success(let report): valid.append(report.id)
                case .failure(let rejection): malformed.append((index + 1, line, rejection))
                }
            }
        }
        let outcomesTopic = context.catalog.name(.outcomes)
        let deadLetterTopic = context.catalog.name(.deadLetters)
        let deadline = ContinuousClock.now + .seconds(wait)
        while true {
            let observed = try await observe(
                context: context, valid: valid, outcomesTopic: outcomesTopic, deadLetterTopic: deadLetterTopic)
            let caseCounts = observed.caseCounts
            let withOneCase = valid.filter { caseCounts[$0] == 1 }.count
            let doubled = valid.filter { (caseCounts[$0] ?? 0) > 1 }.count
            let validSet = Set(valid)
            let outcomesForFile = observed.outcomes.filter { validSet.contains($0.reportID) }
            let distinctOutcomes = Set(outcomesForFile.map(\.eventID)).count
            let letterCounts = malformed.map { line in observed.deadLetters.filter { $0.original == line.bytes } }
            let complete =
                file == nil
                || (withOneCase == valid.count && doubled == 0 && distinctOutcomes == valid.count
                    && letterCounts.allSatisfy { $0.count == 1 })
            if complete || ContinuousClock.now > deadline {
                print(
                    "samu summary (topics \(context.catalog.name(.reports)), \(outcomesTopic), \(deadLetterTopic); schema \(context.configuration.database.schema))"
                )
                if let file {
                    print("  file \(file): \(valid.count) valid reports, \(malformed.count) malformed lines")
                    print(
                        "  cases in PostgreSQL:  \(withOneCase) of \(valid.count) valid reports have exactly one case (\(doubled) with more)"
                    )
                    print(
                        "  case.received read back from \(outcomesTopic): \(distinctOutcomes) distinct for this file (\(outcomesForFile.count) records)"
                    )
                    print(
                        "  dead letters read back from \(deadLetterTopic): \(letterCounts.filter { $0.count == 1 }.count) of \(malformed.count) malformed lines have exactly one"
                    )
                    for (line, letters) in zip(malformed, letterCounts) {
                        let reason = letters.first.map { "\($0.reason) \($0.field ?? "")" } ?? "(no dead letter)"
                        print("    line \(line.line): \(letters.count) record(s), reason \(reason)")
                    }
                }
                let dispatch = try await context.withStore { try await $0.dispatchSummary() }
                let statuses = dispatch.filter { $0.key.hasPrefix("cases.") }.sorted { $0.key < $1.key }
                    .map { "\($0.key.dropFirst(6)) \($0.value)" }.joined(separator: ", ")
                let decisions = dispatch.filter { $0.key.hasPrefix("decisions.") }.sorted { $0.key < $1.key }
                    .map { "\($0.key.dropFirst(10)) \($0.value)" }.joined(separator: ", ")
                print("  dispatch: cases by status.priority: \(statuses.isEmpty ? "none" : statuses)")
                print(
                    "            decisions: \(decisions.isEmpty ? "none" : decisions); active assignments \(dispatch["assignments.active"] ?? 0); units known \(dispatch["units.known"] ?? 0); beds held \(dispatch["beds.held"] ?? 0), free \(dispatch["beds.free"] ?? 0); follow-ups \(dispatch["follow_ups"] ?? 0) (open: re-visits \(dispatch["follow_ups.open.revisit"] ?? 0), day follow-ups \(dispatch["follow_ups.open.follow_up"] ?? 0), overdue \(dispatch["follow_ups.overdue"] ?? 0))"
                )
                print(
                    "  totals: \(observed.counts.reports) reports, \(observed.counts.cases) cases, \(observed.counts.timelineEntries) timeline entries, \(observed.counts.outbox) outbox rows (\(observed.counts.unpublished) unpublished); \(observed.outcomes.count) outcome records, \(observed.deadLetters.count) dead letters on the topics"
                )
                print(complete ? "summary: OK" : "summary: INCOMPLETE after \(wait) s")
                if !complete { throw ExitCode.failure }
                return
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    struct Observed {
        struct Outcome {
            var eventID: String
            var reportID: UUID
        }

        struct Letter {
            var reason: String
            var field: String?
            var original: [UInt8]?
        }

        var counts: SamuStore.Counts
        var caseCounts: [UUID: Int]
        var outcomes: [Outcome]
        var deadLetters: [Letter]
    }

    private func observe(
        context: Context, valid: [UUID], outcomesTopic: String, deadLetterTopic: String
    ) async throws -> Observed {
        let (counts, caseCounts) = try await context.withStore { store in
            (try await store.counts(), try await store.caseCountsByReport(valid))
        }
        let outcomeMessages = try await KafkaTopicReader.readAll(
            topic: outcomesTopic, client: context.configuration.kafka, logger: context.logger)
        // A record is one step, or (schema version 5) the steps of one case that committed together.
        let outcomes = outcomeMessages.flatMap { OutcomeRecord.steps($0.value) }.compactMap {
            json -> Observed.Outcome? in
            guard let eventID = json["event_id"]?.stringValue,
                let report = json["report_id"]?.stringValue.flatMap(UUID.init(uuidString:))
            else { return nil }
            return .init(eventID: eventID, reportID: report)
        }
        let letterMessages = try await KafkaTopicReader.readAll(
            topic: deadLetterTopic, client: context.configuration.kafka, logger: context.logger)
        let letters = letterMessages.compactMap { message -> Observed.Letter? in
            guard let value = message.value, let json = try? JSONParser.parse(value),
                let reason = json["reason"]?.stringValue
            else { return nil }
            let original = json["original"]?["value_base64"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map(
                Array.init)
            return .init(reason: reason, field: json["field"]?.stringValue, original: original)
        }
        return Observed(counts: counts, caseCounts: caseCounts, outcomes: outcomes, deadLetters: letters)
    }
}
