import ArgumentParser
import Foundation
import Logging
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore
import Synchronization

/// samu end to end at a fixed rate (issue 5, first part): a real `samu worker` process on fresh
/// topics and a fresh schema, reports sent open loop with their send time, outcomes read back.
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract:
            "samu end to end: report sent → case.received and the dispatch decision read back, at a fixed rate, with a real worker."
    )

    @Option(help: "Reports per second (open loop).") var rate = 200.0
    @Option(help: "Reports to time.") var count = 4000
    @Option(help: "Reports sent first and not timed.") var warmup = 200

    func run() async throws {
        try requireLibrdKafka()
        let base = try Context.load(label: "samu.bench")
        let logger = base.logger
        let run = UUID().uuidString.prefix(8).lowercased()
        let prefix = "bench-\(run)."
        let schema = "bench_\(run)"
        var environment = ProcessInfo.processInfo.environment
        environment["SAMU_TOPIC_PREFIX"] = prefix
        environment["SAMU_DATABASE_SCHEMA"] = schema
        environment["SAMU_KAFKA_GROUP_ID"] = "bench-\(run)"
        environment["SAMU_WORKER_ID"] = "bench-\(run)"
        environment["SAMU_LOG_LEVEL"] = "warning"
        let configuration = try SamuConfiguration(environment: environment)
        let catalog = base.catalog.withPrefix(prefix)
        _ = try await KafkaAdmin.createTopics(
            catalog.definitions.map {
                KafkaTopicSpecification(name: prefix + $0.name, partitions: $0.partitions, configs: $0.configs)
            }, client: configuration.kafka, logger: logger)
        try await SamuStore.withStore(configuration: configuration.database, logger: logger) {
            _ = try await $0.migrate()
        }
        guard let plan = try base.deployment() else { throw ValidationError("no deployment file found") }
        let total = warmup + count
        let collected = Collected()
        let sent = collected.sent
        let received = collected.received
        let decided = collected.decided
        let urgent = collected.urgent
        let priorities = collected.priorities
        // The reader of outcomes (its own group, from the start of the topic).
        var readerConfiguration = configuration.consumer
        readerConfiguration.groupID = "bench-\(run)-reader"
        let reader = try KafkaConsumer(
            configuration: readerConfiguration, topics: [catalog.name(.outcomes)], logger: logger)
        let workerPath = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: workerPath)
        worker.arguments = ["worker"]
        worker.environment = environment
        var firstOutcome: Double?
        var cpuSeconds = 0.0
        var peakResident = 0
        try await KafkaProducer.withProducer(configuration: configuration.producer, logger: logger) { producer in
            _ = await producer.submit(DeploymentEvents.records(plan, catalog: catalog))
            var generator = NightGenerator(deployment: plan, temperature: 6, seed: 5)
            func send() async -> UUID {
                let report = generator.report(at: Date())
                let id = UUID(uuidString: report["event_id"]?.stringValue ?? "") ?? UUID()
                sent.withLock { $0[DerivedID.caseID(forReport: id)] = Date() }
                _ = await producer.submit([
                    KafkaRecord(
                        topic: catalog.name(.reports), key: Array((report["zone"]?.stringValue ?? "").utf8),
                        value: Array(report.serialized.utf8))
                ])
                return DerivedID.caseID(forReport: id)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let giveUp = ContinuousClock.now + .seconds(Double(total) / rate + 120)
                    while received.withLock({ $0.count }) < total + 1, ContinuousClock.now < giveUp,
                        let event = try await reader.next(timeout: .milliseconds(100))
                    {
                        guard case .messages(let messages) = event else { continue }
                        let now = Date()
                        for message in messages {
                            guard let value = message.value, let outcome = try? JSONParser.parse(value),
                                let caseID = outcome["case_id"]?.stringValue.flatMap(UUID.init(uuidString:)),
                                let start = sent.withLock({ $0[caseID] })
                            else { continue }
                            let milliseconds = now.timeIntervalSince(start) * 1000
                            switch outcome["type"]?.stringValue {
                            case "case.received": received.withLock { $0.append(milliseconds) }
                            case "case.triaged":
                                if let priority = outcome["priority"]?.stringValue {
                                    priorities.withLock { $0[caseID] = priority }
                                }
                            case "case.assigned", "case.queued":
                                decided.withLock { $0.append(milliseconds) }
                                if priorities.withLock({ $0[caseID] }) == "P1" {
                                    urgent.withLock { $0.append(milliseconds) }
                                }
                            default: break
                            }
                        }
                    }
                    reader.stopConsuming()
                }
                // Time to first outcome: the worker starts, one report goes out at once.
                let spawned = ContinuousClock.now
                try worker.run()
                _ = await send()
                while received.withLock({ $0.isEmpty }) && ContinuousClock.now - spawned < .seconds(60) {
                    try await Task.sleep(for: .milliseconds(5))
                }
                firstOutcome = Self.seconds(ContinuousClock.now - spawned)
                let cpuBefore = Self.cpuSeconds(worker.processIdentifier)
                let started = ContinuousClock.now
                for index in 0..<total {
                    _ = await send()
                    let due = started + .nanoseconds(Int64(Double(index + 1) / rate * 1e9))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                }
                try await group.waitForAll()
                cpuSeconds = Self.cpuSeconds(worker.processIdentifier) - cpuBefore
                peakResident = Self.peakResidentBytes(worker.processIdentifier)
            }
        }
        worker.terminate()
        try await reader.close()
        try await SamuStore.withStore(configuration: configuration.database, logger: logger) {
            try await $0.dropSchema()
        }
        let receivedTimes = Array(received.withLock { $0 }.dropFirst(1 + warmup))
        let decidedTimes = Array(decided.withLock { $0 }.dropFirst(1 + warmup))
        guard receivedTimes.count == count else {
            throw ValidationError("only \(receivedTimes.count) of \(count) timed reports came back")
        }
        func line(_ name: String, _ values: [Double]) -> String {
            func at(_ q: Double) -> Double { values.isEmpty ? .nan : DispatchBench.percentile(values, q) }
            return "  \(name) (\(values.count)): "
                + String(format: "p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms", at(0.5), at(0.99), at(0.999))
        }
        print(
            String(
                format: "bench pipeline: %d reports at %.0f/s through a samu worker (fresh topics and schema)", count,
                rate))
        print(line("sent → case.received read back", receivedTimes))
        print(line("sent → decision (assigned or queued) read back", decidedTimes))
        print(line("P1 only, sent → decision", urgent.withLock { $0 }))
        print(
            String(
                format: "  worker CPU %.0f µs per report, peak RSS %.0f MB; worker start → first outcome %.2f s",
                cpuSeconds / Double(total) * 1e6, Double(peakResident) / 1_048_576, firstOutcome ?? .nan))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// User plus system CPU time of a process, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 13,
            let user = Double(fields[11]), let system = Double(fields[12])
        else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The peak resident set size of a process (VmHWM), from /proc.
    static func peakResidentBytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }
}

/// What the bench's reader collects (shared by the sender and the reader tasks).
final class Collected: Sendable {
    /// Case id → when its report was sent.
    let sent = Shared([UUID: Date]())
    let received = Shared([Double]())
    let decided = Shared([Double]())
    let urgent = Shared([Double]())
    let priorities = Shared([UUID: String]())
}

/// A value behind a lock, shareable between tasks.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
