import ArgumentParser
import Foundation
import RdKafka
import SamuModel

struct IntakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intake",
        abstract: "Publish reports from NDJSON (one JSON report per line) to the reports topic.",
        discussion: """
            Each line is validated first; a rejected line is reported with its line number, field and \
            reason, and the command exits non-zero if any line was rejected. Valid lines are published \
            keyed by zone, byte for byte as read. Blank lines are skipped and counted.
            """
    )

    @Argument(help: "An NDJSON file, or - for standard input.")
    var file: String

    @Flag(
        help: """
            Publish every non-blank line as it is, without validation, as a misbehaving producer would \
            (for demos and tests of the worker's dead-letter path).
            """)
    var raw = false

    func run() async throws {
        try requireLibrdKafka()
        let context = try Context.forCommand(label: "samu.intake")
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            data = contents
        }
        let decoder = ReportDecoder(
            definition: context.catalog.definition(.reports), zones: try context.configuration.zoneDirectory())
        let areas = try context.areas()
        let topic = context.catalog.name(.reports)
        var records: [KafkaRecord] = []
        var lineNumbers: [Int] = []
        var rejected: [(Int, Rejection)] = []
        var blank = 0
        for (index, slice) in Array(data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated()
        {
            var line = Array(slice)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                if index > 0 || !line.isEmpty { blank += 1 }
                continue
            }
            let lineNumber = index + 1
            switch decoder.decode(value: line) {
            case .success(let report):
                records.append(record(topic: topic, key: areas.key(for: report.zone), value: line, line: lineNumber))
                lineNumbers.append(lineNumber)
            case .failure(let rejection):
                rejected.append((lineNumber, rejection))
                if raw {
                    // Publish it anyway, keyed by its zone's area when a zone can be read.
                    let zone = (try? JSONParser.parse(line))?["zone"]?.stringValue
                    records.append(
                        record(topic: topic, key: zone.map { areas.key(for: $0) }, value: line, line: lineNumber))
                    lineNumbers.append(lineNumber)
                }
            }
        }
        // The last newline of a file ends a line; it does not start a blank one.
        if data.last == UInt8(ascii: "\n") { blank -= 1 }
        let source = file == "-" ? "stdin" : file
        for (line, rejection) in rejected {
            let prefix = raw ? "published anyway" : "rejected"
            FileHandle.standardError.write(
                Data("intake: \(source):\(line): \(prefix): \(rejection.reason.rawValue): \(rejection.detail)\n".utf8))
        }
        let results = try await KafkaProducer.withProducer(
            configuration: context.configuration.producer, logger: context.logger
        ) { producer in
            await producer.send(records)
        }
        var failed = 0
        for (line, result) in zip(lineNumbers, results) {
            if case .failure(let error) = result {
                failed += 1
                FileHandle.standardError.write(Data("intake: \(source):\(line): not delivered: \(error)\n".utf8))
            }
        }
        let published = records.count - failed
        var summary = "intake: \(published) published to \(topic)"
        summary += raw ? " (\(rejected.count) of them invalid, sent unvalidated)" : ", \(rejected.count) rejected"
        if blank > 0 { summary += ", \(max(blank, 0)) blank lines skipped" }
        if failed > 0 { summary += ", \(failed) NOT delivered" }
        print(summary)
        if failed > 0 || (!raw && !rejected.isEmpty) { throw ExitCode.failure }
    }

    private func record(topic: String, key: [UInt8]?, value: [UInt8], line: Int) -> KafkaRecord {
        KafkaRecord(
            topic: topic, key: key, value: value,
            headers: [KafkaHeader(name: "samu-source", string: "intake:\(file == "-" ? "stdin" : file):\(line)")])
    }
}
