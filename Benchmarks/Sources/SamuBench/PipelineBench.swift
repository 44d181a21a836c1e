import ArgumentParser
import Foundation
import Logging
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore
import Synchronization

/// samu end to end at a fixed rate: a real `samu worker` process on fresh topics and a fresh
/// schema, reports sent open loop with their send time, outcomes read back.
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract:
            "samu end to end: report sent → case.received and the dispatch decision read back, at a fixed rate, with a real worker."
    )

    @OptionGroup var load: OpenLoop
    @Option(help: "Zones (the demo deployment's first zones, repeated past its 23; 23 is the demo itself).")
    var zones = 23
    @Flag(help: "Catch-up: produce every report before the worker starts, then time the drain.") var backlog = false

    func run() async throws {
        try SamuContext.requireLibrdKafka()
        let context = try SamuContext.load(label: "samu.bench")
        guard let plan = try context.deployment() else { throw ValidationError("no deployment file found") }
        let (rate, count) = (load.rate, load.count)
        var pipeline = PipelineRun(
            context: context, plan: plan.scaled(toZones: zones), rate: rate, count: count, warmup: load.warmup)
        pipeline.backlog = backlog
        let result = try await pipeline.measure()
        print(
            String(
                format: "bench pipeline: %d reports at %.0f/s (achieved %.0f/s) through a samu worker, %d zones",
                count, rate, result.achievedRate, zones))
        func line(_ name: String, _ values: [Double]) -> String {
            "  \(name) (\(values.count)): "
                + String(
                    format: "p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms", percentile(values, 0.5),
                    percentile(values, 0.99), percentile(values, 0.999))
        }
        if backlog { print(String(format: "  catch-up: the backlog drained at %.0f reports/s", result.drainRate)) }
        print(line("sent → case.received read back", result.received))
        print(line("sent → decision (assigned or queued) read back", result.decided))
        print(line("P1 only, sent → decision", result.urgent))
        for (name, values) in zip(PipelineResult.segmentNames, result.segments) {
            print(line("  stage " + name, values))
        }
        print(
            String(
                format:
                    "  worker CPU %.0f µs per report, peak RSS %.0f MB, %d open cases at the end; worker start → first outcome %.2f s",
                result.cpuMicrosecondsPerReport, result.peakResidentMegabytes, result.openCases,
                result.firstOutcomeSeconds))
        print(
            String(
                format: "  CPU per report elsewhere: broker %.0f µs, PostgreSQL %.0f µs, this bench process %.0f µs",
                result.brokerMicrosecondsPerReport, result.databaseMicrosecondsPerReport,
                result.benchMicrosecondsPerReport))
    }
}

/// What one pipeline run measured (latencies in milliseconds).
struct PipelineResult: Sendable {
    var rate: Double
    var achievedRate: Double
    /// Sent → `case.received` read back, for each timed report.
    var received: [Double]
    /// Sent → the first decision (`case.assigned` or `case.queued`) read back.
    var decided: [Double]
    /// The same for P1 reports alone.
    var urgent: [Double]
    /// Per stage of the decision's path (``segmentNames``), from the `samu-stages` header.
    var segments: [[Double]]
    var cpuMicrosecondsPerReport: Double
    /// CPU of the other processes on the machine per report: the broker (Tansu processes), PostgreSQL
    /// (every `postgres` process) and this bench process (load generator and outcome reader).
    var brokerMicrosecondsPerReport = Double.nan
    var databaseMicrosecondsPerReport = Double.nan
    var benchMicrosecondsPerReport = Double.nan
    var peakResidentMegabytes: Double
    var firstOutcomeSeconds: Double
    var openCases: Int
    /// p99 of the decisions in the last fifth of the run against the first fifth: a backlog that
    /// grows shows as a ratio well above 1.
    var trend: Double
    /// Catch-up runs: reports decided per second from the first decision read back to the last.
    var drainRate = Double.nan

    static let segmentNames = [
        "sent → consumed", "consumed → triaged", "triaged → dispatched", "dispatched → committed",
        "committed → published", "published → read back",
    ]

    /// Sustained: everything came back, p99 under 100 ms, the rate was offered and no backlog grew.
    var sustained: Bool {
        percentile(decided, 0.99) < 100 && achievedRate >= rate * 0.97 && trend < 2
    }
}

/// One run of samu end to end: fresh topics and schema, the deployment reporting in, a real worker
/// process (`samu worker`, with stage tracing), reports sent open loop, outcomes read back.
struct PipelineRun {
    let context: SamuContext
    let plan: Deployment
    let rate: Double
    let count: Int
    let warmup: Int
    var temperature = 6.0
    /// Catch-up: every report is produced before the worker starts (the backlog an outage leaves),
    /// then the worker drains it; `drainRate` is read from the first decision read back to the last.
    var backlog = false

    func measure() async throws -> PipelineResult {
        let logger = context.logger
        let run = UUID().uuidString.prefix(8).lowercased()
        let prefix = "bench-\(run)."
        let schema = "bench_\(run)"
        var environment = ProcessInfo.processInfo.environment
        environment["SAMU_TOPIC_PREFIX"] = prefix
        environment["SAMU_DATABASE_SCHEMA"] = schema
        environment["SAMU_KAFKA_GROUP_ID"] = "bench-\(run)"
        environment["SAMU_WORKER_ID"] = "bench-\(run)"
        // The worker logs warnings only, unless SAMU_BENCH_WORKER_LOG_LEVEL says otherwise (to diagnose).
        environment["SAMU_LOG_LEVEL"] = environment["SAMU_BENCH_WORKER_LOG_LEVEL"] ?? "warning"
        // The plan's zones (75 when scaled: `rabat-b2`…) are the worker's, which refuses any other.
        let zonesFile = FileManager.default.temporaryDirectory.appendingPathComponent("samu-bench-zones-\(run).json")
        try JSONValue.array(plan.zones.map { ["code": .string($0.zone)] }).serialized.write(
            to: zonesFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: zonesFile) }
        environment["SAMU_ZONES"] = zonesFile.path
        let configuration = try SamuConfiguration(environment: environment)
        let catalog = context.catalog.withPrefix(prefix)
        _ = try await KafkaAdmin.createTopics(
            catalog.topics(partners: []).map { name, definition in
                KafkaTopicSpecification(name: name, partitions: definition.partitions, configs: definition.configs)
            }, client: configuration.kafka, logger: logger)
        try await SamuStore.withStore(configuration: configuration.database, logger: logger) {
            _ = try await $0.migrate()
        }
        let total = warmup + count
        let collected = Collected()
        var readerConfiguration = configuration.consumer
        readerConfiguration.groupID = "bench-\(run)-reader"
        let reader = try KafkaConsumer(
            configuration: readerConfiguration, topics: [catalog.name(.outcomes)], logger: logger)
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
        worker.arguments = ["worker"]
        worker.environment = environment
        var firstOutcome = Double.nan
        var cpuSeconds = Double.nan
        var peakResident = 0
        var sendSeconds = 0.0
        var others = CPUBudget()
        let plan = self.plan
        let rate = self.rate
        try await KafkaProducer.withProducer(configuration: configuration.producer, logger: logger) { producer in
            _ = await producer.submit(DeploymentEvents.records(plan, catalog: catalog))
            var generator = NightGenerator(deployment: plan, temperature: temperature, seed: 5)
            func send(_ index: Int) async {
                let report = generator.report(at: Date())
                let id = UUID(uuidString: report["event_id"]?.stringValue ?? "") ?? UUID()
                collected.sent(DerivedID.caseID(forReport: id).lowercased, index: index)
                // Keyed by the zone's dispatch area, as every producer samu ships keys (a zone's
                // key would be a producer not yet told of the area: forwarded, one hop more).
                _ = await producer.submit([
                    KafkaRecord(
                        topic: catalog.name(.reports), key: plan.areas.key(for: report["zone"]?.stringValue ?? ""),
                        value: Array(report.serialized.utf8))
                ])
            }
            if backlog {
                // The backlog is on the broker before the worker exists.
                for index in 0..<total { await send(index) }
                try await producer.flush(timeout: .seconds(120))
            }
            let backlog = self.backlog
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let giveUp =
                        ContinuousClock.now + .seconds((backlog ? Double(total) / 1000 : Double(total) / rate) + 60)
                    // A backlog run has no extra report (the time to first outcome is the drain's).
                    while !collected.done(backlog ? total : total + 1), ContinuousClock.now < giveUp,
                        let event = try await reader.next(timeout: .milliseconds(100))
                    {
                        guard case .messages(let messages) = event else { continue }
                        collected.read(messages, at: WallClock.now())
                    }
                    reader.stopConsuming()
                }
                if backlog {
                    let othersBefore = CPUBudget.sample()
                    let spawned = ContinuousClock.now
                    try worker.run()
                    while !collected.done(total) && ContinuousClock.now - spawned < .seconds(Double(total) / 500 + 60) {
                        try await Task.sleep(for: .milliseconds(20))
                        peakResident = max(peakResident, Self.residentBytes(worker.processIdentifier))
                    }
                    sendSeconds = seconds(ContinuousClock.now - spawned)
                    // CPU over the drain alone: the worker from its start, the others from then.
                    cpuSeconds = Self.cpuSeconds(worker.processIdentifier)
                    others = CPUBudget.sample().minus(othersBefore)
                    try await group.waitForAll()
                    peakResident = max(peakResident, Self.peakResidentBytes(worker.processIdentifier))
                    return
                }
                // Time to first outcome: the worker starts, one report goes out at once.
                let spawned = ContinuousClock.now
                try worker.run()
                await send(-1)
                while !collected.done(1) && ContinuousClock.now - spawned < .seconds(60) {
                    try await Task.sleep(for: .milliseconds(5))
                }
                firstOutcome = seconds(ContinuousClock.now - spawned)
                let cpuBefore = Self.cpuSeconds(worker.processIdentifier)
                let othersBefore = CPUBudget.sample()
                let started = ContinuousClock.now
                for index in 0..<total {
                    await send(index)
                    let due = started + .nanoseconds(Int64(Double(index + 1) / rate * 1e9))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                }
                sendSeconds = seconds(ContinuousClock.now - started)
                try await group.waitForAll()
                cpuSeconds = Self.cpuSeconds(worker.processIdentifier) - cpuBefore
                others = CPUBudget.sample().minus(othersBefore)
                peakResident = Self.peakResidentBytes(worker.processIdentifier)
            }
        }
        worker.terminate()
        worker.waitUntilExit()
        try await reader.close()
        let openCases = try await SamuStore.withStore(configuration: configuration.database, logger: logger) {
            store -> Int in
            let summary = try await store.dispatchSummary()
            let open = summary.filter { key, _ in
                key.hasPrefix("cases.") && !["resolved", "closed", "cancelled"].contains(where: { key.contains($0) })
            }
            try await store.dropSchema()
            return open.values.reduce(0, +)
        }
        var result = collected.result(from: warmup, count: count)
        guard result.decided.count == count else {
            throw ValidationError("only \(result.decided.count) of \(count) timed reports were decided and read back")
        }
        result.rate = rate
        result.achievedRate = Double(total) / sendSeconds
        if backlog {
            // From the first decision read back to the last: the worker's start and group join are
            // not part of the drain.
            let span = collected.decisionSpanSeconds()
            result.drainRate = span > 0 ? Double(total - 1) / span : .nan
            result.firstOutcomeSeconds = sendSeconds - span
        }
        result.cpuMicrosecondsPerReport = cpuSeconds / Double(total) * 1e6
        result.brokerMicrosecondsPerReport = others.broker / Double(total) * 1e6
        result.databaseMicrosecondsPerReport = others.database / Double(total) * 1e6
        result.benchMicrosecondsPerReport = others.bench / Double(total) * 1e6
        result.peakResidentMegabytes = Double(peakResident) / 1_048_576
        if !backlog { result.firstOutcomeSeconds = firstOutcome }
        result.openCases = openCases
        return result
    }

    /// User plus system CPU time of a process, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 13,
            let user = Double(fields[11]), let system = Double(fields[12])
        else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The resident set size of a process now (VmRSS), from /proc.
    static func residentBytes(_ pid: Int32) -> Int { statusKilobytes(pid, "VmRSS:") * 1024 }

    static func statusKilobytes(_ pid: Int32, _ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
            let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
        else { return 0 }
        return kilobytes
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

/// What the bench's reader collects, shared by the sender and the reader tasks. Outcomes are
/// recognised by a byte search of their fields (the bench must not spend the machine on parsing
/// at 16,000 reports a second).
final class Collected: Sendable {
    private struct Case {
        var index: Int
        var sent: Int64
        var received: Int64?
        var decided: Int64?
        var priority: String?
        var stages: [Int64] = []
    }

    private struct State {
        var cases: [String: Case] = [:]
        var decidedCount = 0
    }

    private let state = Mutex(State())

    func sent(_ caseID: String, index: Int) {
        let now = WallClock.now()
        state.withLock { $0.cases[caseID] = Case(index: index, sent: now) }
    }

    /// Seconds from the first decision read back to the last.
    func decisionSpanSeconds() -> Double {
        state.withLock { state in
            let times = state.cases.values.compactMap(\.decided)
            guard let first = times.min(), let last = times.max() else { return 0 }
            return Double(last - first) / 1_000_000
        }
    }

    /// Whether `count` cases have been decided and read back.
    func done(_ count: Int) -> Bool { state.withLock { $0.decidedCount >= count } }

    func read(_ messages: [KafkaMessage], at now: Int64) {
        var parsed: [(String, String, String?, [Int64])] = []
        for message in messages {
            guard let value = message.value, let type = Self.field("type", in: value),
                let caseID = Self.field("case_id", in: value)
            else { continue }
            var stages: [Int64] = []
            if let header = message.headers.first(where: { $0.name == "samu-stages" })?.value {
                stages = String(decoding: header, as: UTF8.self).split(separator: ",").compactMap { Int64($0) }
            }
            // One step, or (outcomes schema version 5) the steps of a case that committed together:
            // the record's stages are its steps'.
            guard type == OutcomeRecord.stepsType else {
                let priority = type == "case.triaged" ? Self.field("priority", in: value) : nil
                parsed.append((type, caseID, priority, stages))
                continue
            }
            for step in OutcomeRecord.steps(value) {
                guard let stepType = step["type"]?.stringValue else { continue }
                parsed.append((stepType, caseID, step["priority"]?.stringValue, stages))
            }
        }
        state.withLock { state in
            for (type, caseID, priority, stages) in parsed {
                guard var entry = state.cases[caseID] else { continue }
                switch type {
                case "case.received": entry.received = entry.received ?? now
                case "case.triaged": entry.priority = priority
                case "case.assigned", "case.queued":
                    if entry.decided == nil {
                        entry.decided = now
                        entry.stages = stages
                        state.decidedCount += 1
                    }
                default: break
                }
                state.cases[caseID] = entry
            }
        }
    }

    /// The timed reports' figures: those with index in `from ..< from + count`.
    func result(from first: Int, count: Int) -> PipelineResult {
        let cases = state.withLock { $0.cases.values.filter { $0.index >= first && $0.index < first + count } }
            .sorted { $0.index < $1.index }
        func milliseconds(_ from: Int64, _ to: Int64) -> Double { Double(to - from) / 1000 }
        var result = PipelineResult(
            rate: 0, achievedRate: 0, received: [], decided: [], urgent: [],
            segments: Array(repeating: [], count: PipelineResult.segmentNames.count), cpuMicrosecondsPerReport: 0,
            peakResidentMegabytes: 0, firstOutcomeSeconds: 0, openCases: 0, trend: 0)
        for entry in cases {
            if let received = entry.received { result.received.append(milliseconds(entry.sent, received)) }
            guard let decided = entry.decided else { continue }
            result.decided.append(milliseconds(entry.sent, decided))
            if entry.priority == "P1" { result.urgent.append(milliseconds(entry.sent, decided)) }
            if entry.stages.count == 5 {
                let points = [entry.sent] + entry.stages + [decided]
                for index in 0..<PipelineResult.segmentNames.count {
                    result.segments[index].append(milliseconds(points[index], points[index + 1]))
                }
            }
        }
        let fifth = max(1, result.decided.count / 5)
        result.trend =
            percentile(Array(result.decided.suffix(fifth)), 0.99)
            / max(percentile(Array(result.decided.prefix(fifth)), 0.99), 1)
        return result
    }

    /// The string value of `"name":"…"` in compact JSON written by samu (no escapes in these fields).
    static func field(_ name: String, in bytes: [UInt8]) -> String? {
        let pattern = Array("\"\(name)\":\"".utf8)
        guard bytes.count > pattern.count else { return nil }
        var index = 0
        let last = bytes.count - pattern.count
        while index <= last {
            if bytes[index] == pattern[0], bytes[index..<index + pattern.count].elementsEqual(pattern) {
                let start = index + pattern.count
                guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                return String(decoding: bytes[start..<end], as: UTF8.self)
            }
            index += 1
        }
        return nil
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The q-quantile of `values` in their unit (NaN when empty).
func percentile(_ values: [Double], _ q: Double) -> Double {
    values.isEmpty ? .nan : DispatchBench.percentile(values, q)
}

/// CPU time (user + system) of the machine's other actors, from /proc: every process named `tansu`
/// (the broker), every `postgres` process, and this process.
struct CPUBudget {
    var broker = 0.0
    var database = 0.0
    var bench = 0.0

    static func sample() -> CPUBudget {
        var budget = CPUBudget()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries where entry.allSatisfy(\.isNumber) {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = stat[stat.index(after: open)..<close]
            guard name == "tansu" || name == "postgres", let pid = Int32(entry) else { continue }
            let seconds = PipelineRun.cpuSeconds(pid)
            guard seconds.isFinite else { continue }
            if name == "tansu" { budget.broker += seconds } else { budget.database += seconds }
        }
        budget.bench = PipelineRun.cpuSeconds(getpid())
        return budget
    }

    func minus(_ other: CPUBudget) -> CPUBudget {
        CPUBudget(broker: broker - other.broker, database: database - other.database, bench: bench - other.bench)
    }
}
