import ArgumentParser
import Foundation
import Logging
import RdKafka
import SamuModel
import SamuPipeline
import SamuStore
import SamuTestSupport
import SamuTriage

/// Issue 5's benchmark in one run: the baselines (two raw broker hops, PostgreSQL `COPY`) and samu
/// interleaved, on the embedded default. `ops/bench.sh` builds in release mode, starts a fresh
/// broker for it, and draws the plots from the results it writes.
struct BenchSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract:
            "Baselines and samu in one run: latency at 200 and 1,000/s by stage, the sustained-rate sweep, COPY, memory with 75 zones."
    )

    @Option(help: "Where to write results.json and the latency samples (created).") var results = ".local/bench"
    @Option(help: "The sweep's offered rates (reports per second).")
    var rates = "500,1000,2000,3000,4000,8000,12000,16000,24000,32000"
    @Option(help: "Seconds each step sends for (the latency runs and the sweep): long enough to show the tail.")
    var stepSeconds = 20.0
    @Option(help: "Reports in the catch-up step's backlog.") var backlog = 60_000
    @Flag(help: "Small counts (a smoke run of the whole command; figures are not meaningful).") var quick = false
    @Flag(
        help:
            "Start an empty broker (ops/broker.sh) on the bootstrap address's port before every measurement (Tansu's memory store only grows). Without it, the configured broker is used throughout."
    ) var freshBroker = false

    func run() async throws {
        try SamuContext.requireLibrdKafka()
        let context = try SamuContext.load(label: "samu.bench")
        guard let demo = try context.deployment() else { throw ValidationError("no deployment file found") }
        let directory = URL(fileURLWithPath: results)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let machine = Machine.current
        say("samu bench suite — \(machine.description)")
        var report = SuiteResults(machine: machine.description, started: RFC3339.format(Date()))
        let ticksBefore = CPUTicks.sample()
        let scale = quick ? 0.1 : 1.0
        func count(_ value: Double) -> Int { max(200, Int(value * scale)) }
        let broker =
            freshBroker
            ? try await PrivateServers.Broker.fresh(bootstrap: context.configuration.kafka.bootstrapServers) : nil
        /// Each measurement gets an empty broker when the suite runs its own.
        func fresh() async throws { try await broker?.restart() }

        // 1. Latency at 30 reports a second (a national hotline on a cold night), 300 (ten times
        // that) and 1,000: baseline, then samu, at each rate. 3,000 (a hundred times) is a step of
        // the sweep.
        for rate in [30.0, 300.0, 1000.0] {
            try await fresh()
            let hopsRun = HopsRun(context: context, rate: rate, count: count(rate * stepSeconds), warmup: count(rate))
            let hops = try await hopsRun.measure()
            say(Self.line("baseline: two raw hops", rate, hops))
            try await fresh()
            let samu = try await PipelineRun(
                context: context, plan: demo, rate: rate, count: count(rate * stepSeconds), warmup: count(rate)
            ).measure()
            say(Self.line("samu: sent → decision read back", rate, samu.decided))
            say(Self.line("samu: P1 only", rate, samu.urgent))
            for (name, values) in zip(PipelineResult.segmentNames, samu.segments) {
                say(Self.line("  stage \(name)", rate, values))
            }
            say(
                String(
                    format: "  worker CPU %.0f µs per report, peak RSS %.0f MB, start → first outcome %.2f s",
                    samu.cpuMicrosecondsPerReport, samu.peakResidentMegabytes, samu.firstOutcomeSeconds))
            say(
                String(
                    format:
                        "  CPU per report: worker %.0f µs, broker %.0f µs, PostgreSQL %.0f µs, load generator and reader %.0f µs; baseline broker %.0f µs per record",
                    samu.cpuMicrosecondsPerReport, samu.brokerMicrosecondsPerReport, samu.databaseMicrosecondsPerReport,
                    samu.benchMicrosecondsPerReport, hopsRun.brokerCPU.microsecondsPerRecord))
            report.latency.append(
                .init(
                    rate: rate, baseline: hops, baselineBrokerMicroseconds: hopsRun.brokerCPU.microsecondsPerRecord,
                    samu: samu))
            try Self.samples(hops, to: directory.appendingPathComponent("hops-\(Int(rate)).txt"))
            try Self.samples(samu.decided, to: directory.appendingPathComponent("samu-\(Int(rate)).txt"))
        }

        // 2. PostgreSQL COPY of samu's rows for the same reports: what the database alone ingests.
        let copy = try await CopyBaseline(context: context, plan: demo, reports: count(20_000)).measure()
        say(
            String(
                format: "baseline: COPY of %d rows (%d reports' rows): %.0f rows/s, %.0f reports/s", copy.rows,
                copy.reports, copy.rowsPerSecond, copy.reportsPerSecond))
        report.copy = copy

        // 2b. Catch-up: a backlog produced while no worker runs, then one worker drains it.
        try await fresh()
        var catchUp = PipelineRun(context: context, plan: demo, rate: 1000, count: count(Double(backlog)), warmup: 0)
        catchUp.backlog = true
        let drained = try await catchUp.measure()
        report.catchUp = .init(
            reports: drained.decided.count, drainRate: drained.drainRate,
            peakResidentMegabytes: drained.peakResidentMegabytes, startToFirstSeconds: drained.firstOutcomeSeconds,
            cpuMicrosecondsPerReport: drained.cpuMicrosecondsPerReport)
        say(
            String(
                format:
                    "catch-up: %d reports produced before the worker started, drained at %.0f reports/s (%.2f× COPY), peak RSS %.0f MB, worker CPU %.0f µs per report",
                drained.decided.count, drained.drainRate, drained.drainRate / copy.reportsPerSecond,
                drained.peakResidentMegabytes, drained.cpuMicrosecondsPerReport))

        // 3. The sweep: the highest rate samu sustains (p99 < 100 ms, no growing backlog). A step
        // that fails is not the end (a 2-core VM has noisy seconds): two failures in a row are.
        let steps = rates.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        /// One step: the baseline, then samu unless `samuToo` is false. Returns whether each held.
        func step(_ rate: Double, samuToo: Bool) async throws -> (baseline: Bool, samu: Bool?) {
            let sent = max(count(rate * stepSeconds), 1000)
            try await fresh()
            let hops = try await HopsRun(context: context, rate: rate, count: sent, warmup: count(rate)).measure()
            let baselineHeld = SuiteResults.sustained(hops)
            guard samuToo else {
                report.sweep.append(SuiteResults.Step(rate: rate, baseline: hops))
                say(
                    String(
                        format: "sweep %6.0f/s: baseline alone p50 %.1f / p99 %.1f ms → %@", rate,
                        percentile(hops, 0.5), percentile(hops, 0.99), baselineHeld ? "sustained" : "not sustained"))
                return (baselineHeld, nil)
            }
            try await fresh()
            let samu = try await PipelineRun(
                context: context, plan: demo, rate: rate, count: sent, warmup: count(rate)
            ).measure()
            let step = SuiteResults.Step(rate: rate, baseline: hops, samu: samu)
            report.sweep.append(step)
            say(
                String(
                    format:
                        "sweep %6.0f/s: baseline p50 %.1f / p99 %.1f ms; samu achieved %.0f/s, p50 %.1f / p99 %.1f ms, trend %.1f, CPU per report: worker %.0f, broker %.0f, PostgreSQL %.0f µs → %@",
                    rate, step.baselineP50, step.baselineP99, samu.achievedRate, step.samuP50, step.samuP99,
                    samu.trend, samu.cpuMicrosecondsPerReport, samu.brokerMicrosecondsPerReport,
                    samu.databaseMicrosecondsPerReport, samu.sustained ? "sustained" : "not sustained"))
            return (baselineHeld, samu.sustained)
        }
        // Once samu has failed, the baseline goes on alone until it fails too: the ratio of the
        // highest sustained rates is measured, not assumed.
        var failures = 0
        var baselineFailures = 0
        for rate in steps {
            let held = try await step(rate, samuToo: failures < 2)
            baselineFailures = held.baseline ? 0 : baselineFailures + 1
            if let samuHeld = held.samu { failures = samuHeld ? 0 : failures + 1 }
            if failures >= 2 && baselineFailures >= 2 { break }
        }
        // A side that sustained none of the sweep's rates (a busy host) is measured below them, by
        // halving, down to 50/s: a ratio of zero would say nothing.
        var lower = (steps.min() ?? 100) / 2
        while lower >= 50 {
            let samuHeld = report.sweep.contains { $0.sustained }
            let baselineHeld = report.sweep.contains { $0.baselineSustained }
            if samuHeld && baselineHeld { break }
            _ = try await step(lower, samuToo: !samuHeld)
            lower /= 2
        }
        report.sweep.sort { $0.rate < $1.rate }
        report.sustainedRate = report.sweep.filter(\.sustained).map(\.rate).max() ?? 0
        report.baselineSustainedRate = report.sweep.filter(\.baselineSustained).map(\.rate).max() ?? 0

        // 4. Memory and start-up with 75 zones and 10,000 open cases.
        let big = demo.scaled(toZones: 75)
        try await fresh()
        let memory = try await PipelineRun(
            context: context, plan: big, rate: 2000, count: count(10_000), warmup: 0
        ).measure()
        report.memory = .init(
            zones: big.zones.count, units: big.units.count, openCases: memory.openCases,
            peakResidentMegabytes: memory.peakResidentMegabytes, firstOutcomeSeconds: memory.firstOutcomeSeconds)
        say(
            String(
                format: "memory: %d zones, %d units, %d open cases: peak RSS %.0f MB; start → first outcome %.2f s",
                big.zones.count, big.units.count, memory.openCases, memory.peakResidentMegabytes,
                memory.firstOutcomeSeconds))

        report.finished = RFC3339.format(Date())
        report.stealPercent = CPUTicks.sample().stealPercent(since: ticksBefore)
        say("")
        say(report.table)
        try report.json.serialized.write(
            to: directory.appendingPathComponent("results.json"), atomically: true, encoding: .utf8)
        try report.table.write(to: directory.appendingPathComponent("table.md"), atomically: true, encoding: .utf8)
        say("results: \(directory.path)/results.json, table.md")
        try? await broker?.kill()
    }

    /// Prints a line at once, also into a pipe or a file (a run takes minutes).
    func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    static func line(_ name: String, _ rate: Double, _ values: [Double]) -> String {
        String(
            format: "%@ at %.0f/s (%d): p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms", name, rate, values.count,
            percentile(values, 0.5), percentile(values, 0.99), percentile(values, 0.999))
    }

    static func samples(_ values: [Double], to url: URL) throws {
        try values.map { String(format: "%.3f", $0) }.joined(separator: "\n").write(
            to: url, atomically: true, encoding: .utf8)
    }
}

/// The machine a benchmark ran on, named in every result.
struct Machine {
    var host: String
    var cores: Int
    var model: String
    var memoryGigabytes: Double

    static var current: Machine {
        let info = ProcessInfo.processInfo
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpu.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map(String.init) ?? "" }?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return Machine(
            host: info.hostName, cores: info.activeProcessorCount, model: model,
            memoryGigabytes: Double(info.physicalMemory) / 1_073_741_824)
    }

    var description: String {
        String(format: "%@, %d cores (%@), %.0f GB, %@", host, cores, model, memoryGigabytes, "Linux")
    }
}

/// Everything the suite measured, as printed and as written to results.json.
struct SuiteResults {
    struct Latency {
        var rate: Double
        var baseline: [Double]
        var baselineBrokerMicroseconds: Double
        var samu: PipelineResult
    }

    struct Step {
        var rate: Double
        var baselineP50: Double
        var baselineP99: Double
        var samuP50: Double
        var samuP99: Double
        var achievedRate: Double
        var sustained: Bool
        /// The baseline held the rate: p99 < 100 ms and no growing backlog.
        var baselineSustained: Bool
        /// Whether samu ran this step (after two failures the baseline goes on alone).
        var samuMeasured = true
        var cpuMicrosecondsPerReport: Double
        var brokerMicrosecondsPerReport: Double
        var databaseMicrosecondsPerReport: Double
        var benchMicrosecondsPerReport: Double
        /// P1 reports alone: p99 (ms).
        var samuP1P99 = Double.nan

        init(rate: Double, baseline: [Double], samu: PipelineResult) {
            self.rate = rate
            baselineP50 = percentile(baseline, 0.5)
            baselineP99 = percentile(baseline, 0.99)
            samuP50 = percentile(samu.decided, 0.5)
            samuP99 = percentile(samu.decided, 0.99)
            achievedRate = samu.achievedRate
            sustained = samu.sustained
            baselineSustained = SuiteResults.sustained(baseline)
            samuP1P99 = percentile(samu.urgent, 0.99)
            cpuMicrosecondsPerReport = samu.cpuMicrosecondsPerReport
            brokerMicrosecondsPerReport = samu.brokerMicrosecondsPerReport
            databaseMicrosecondsPerReport = samu.databaseMicrosecondsPerReport
            benchMicrosecondsPerReport = samu.benchMicrosecondsPerReport
        }

        /// A baseline-only step.
        init(rate: Double, baseline: [Double]) {
            self.rate = rate
            baselineP50 = percentile(baseline, 0.5)
            baselineP99 = percentile(baseline, 0.99)
            baselineSustained = SuiteResults.sustained(baseline)
            samuMeasured = false
            samuP50 = .nan
            samuP99 = .nan
            achievedRate = .nan
            sustained = false
            cpuMicrosecondsPerReport = .nan
            brokerMicrosecondsPerReport = .nan
            databaseMicrosecondsPerReport = .nan
            benchMicrosecondsPerReport = .nan
        }
    }

    /// The baseline's criterion, samu's without the offered-rate check (it sends at the rate):
    /// p99 < 100 ms, and the last fifth's p99 under twice the first fifth's.
    static func sustained(_ latencies: [Double]) -> Bool {
        let fifth = max(1, latencies.count / 5)
        let trend =
            percentile(Array(latencies.suffix(fifth)), 0.99) / max(percentile(Array(latencies.prefix(fifth)), 0.99), 1)
        return !latencies.isEmpty && percentile(latencies, 0.99) < 100 && trend < 2
    }

    struct CatchUp {
        var reports: Int
        var drainRate: Double
        var peakResidentMegabytes: Double
        var startToFirstSeconds: Double
        var cpuMicrosecondsPerReport: Double
    }

    struct Memory {
        var zones: Int
        var units: Int
        var openCases: Int
        var peakResidentMegabytes: Double
        var firstOutcomeSeconds: Double
    }

    var machine: String
    var started: String
    var finished = ""
    /// The share of the machine's CPU time its hypervisor gave to others during the run (steal): a
    /// run on a crowded host is slower throughout, the baselines too.
    var stealPercent = Double.nan
    var latency: [Latency] = []
    var copy: CopyBaseline.Result?
    var sweep: [Step] = []
    var sustainedRate = 0.0
    var baselineSustainedRate = 0.0
    var catchUp: CatchUp?
    var memory: Memory?

    /// The table for the README (Markdown).
    var table: String {
        var lines = [
            "Machine: \(machine). Run \(started) → \(finished); "
                + String(format: "CPU time stolen by the hypervisor during the run: %.1f %%.", stealPercent), "",
        ]
        lines.append("| measure | baseline | samu | ratio samu / baseline |")
        lines.append("|---|---|---|---|")
        func ms(_ value: Double) -> String { String(format: "%.1f ms", value) }
        func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f×", a / b) }
        for entry in latency {
            let rate = Int(entry.rate)
            for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
                let base = percentile(entry.baseline, q)
                let samu = percentile(entry.samu.decided, q)
                lines.append(
                    "| e2e \(name) at \(rate)/s (two raw hops / report → decision read back) | \(ms(base)) | \(ms(samu)) | \(ratio(samu, base)) |"
                )
            }
            let p1 = percentile(entry.samu.urgent, 0.99)
            lines.append(
                "| P1 only, p99 at \(rate)/s (all reports / P1) | \(ms(percentile(entry.samu.decided, 0.99))) | \(ms(p1)) | \(ratio(p1, percentile(entry.samu.decided, 0.99))) |"
            )
        }
        if let copy {
            lines.append(
                String(
                    format:
                        "| rows/s into PostgreSQL (COPY / samu at its sustained rate) | %.0f rows/s (%.0f reports/s) | %.0f reports/s | %.2f× |",
                    copy.rowsPerSecond, copy.reportsPerSecond, sustainedRate, sustainedRate / copy.reportsPerSecond))
        }
        lines.append(
            String(
                format:
                    "| highest sustained rate (p99 < 100 ms, no growing backlog; two raw hops / samu) | %.0f reports/s | %.0f reports/s | %.2f× |",
                baselineSustainedRate, sustainedRate, sustainedRate / max(baselineSustainedRate, 1)))
        if let catchUp, let copy {
            lines.append(
                String(
                    format:
                        "| catch-up: %d reports produced before the worker started (COPY / samu's drain rate) | %.0f reports/s | %.0f reports/s | %.2f× |",
                    catchUp.reports, copy.reportsPerSecond, catchUp.drainRate, catchUp.drainRate / copy.reportsPerSecond
                ))
            lines.append(
                String(
                    format:
                        "| catch-up: worker peak RSS, CPU per report, start → first decision | | %.0f MB, %.0f µs, %.2f s | |",
                    catchUp.peakResidentMegabytes, catchUp.cpuMicrosecondsPerReport, catchUp.startToFirstSeconds))
        }
        for entry in latency {
            lines.append(
                String(
                    format:
                        "| CPU per report at %.0f/s: worker / broker / PostgreSQL / load generator and reader | broker %.0f µs per record | %.0f / %.0f / %.0f / %.0f µs | |",
                    entry.rate, entry.baselineBrokerMicroseconds, entry.samu.cpuMicrosecondsPerReport,
                    entry.samu.brokerMicrosecondsPerReport, entry.samu.databaseMicrosecondsPerReport,
                    entry.samu.benchMicrosecondsPerReport))
        }
        if let memory {
            lines.append(
                String(
                    format: "| worker peak RSS, %d zones, %d open cases | | %.0f MB | |", memory.zones,
                    memory.openCases,
                    memory.peakResidentMegabytes))
        }
        if let first = latency.first {
            lines.append(
                String(format: "| worker start → first outcome | | %.2f s | |", first.samu.firstOutcomeSeconds))
        }
        lines.append("")
        lines.append("Stages of the decision's path (p50 / p99, ms):")
        lines.append("")
        lines.append("| stage | " + latency.map { "\(Int($0.rate))/s" }.joined(separator: " | ") + " |")
        lines.append("|---|" + latency.map { _ in "---|" }.joined())
        for (index, name) in PipelineResult.segmentNames.enumerated() {
            let cells = latency.map {
                String(
                    format: "%.1f / %.1f", percentile($0.samu.segments[index], 0.5),
                    percentile($0.samu.segments[index], 0.99))
            }
            lines.append("| \(name) | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("Service level: a P1 report → its decision read back, p99 (this machine, everything on 2 cores):")
        lines.append("")
        lines.append("| rate | P1 p99 | all reports p99 |")
        lines.append("|---|---|---|")
        for entry in latency {
            lines.append(
                String(
                    format: "| %.0f/s | %.1f ms | %.1f ms |", entry.rate, percentile(entry.samu.urgent, 0.99),
                    percentile(entry.samu.decided, 0.99)))
        }
        for step in sweep where step.samuMeasured && !latency.contains(where: { $0.rate == step.rate }) {
            lines.append(
                String(
                    format: "| %.0f/s | %.1f ms | %.1f ms%@ |", step.rate, step.samuP1P99, step.samuP99,
                    step.sustained ? "" : " (not sustained)"))
        }
        lines.append("")
        lines.append("Sweep (offered rate → p50 / p99, ms):")
        lines.append("")
        lines.append(
            "| offered | baseline p50 / p99 | samu achieved | samu p50 / p99 | CPU per report: worker / broker / PostgreSQL / generator | sustained |"
        )
        lines.append("|---|---|---|---|---|---|")
        for step in sweep {
            guard step.samuMeasured else {
                lines.append(
                    String(
                        format: "| %.0f/s | %.1f / %.1f%@ | — | — | — | — |", step.rate, step.baselineP50,
                        step.baselineP99, step.baselineSustained ? "" : " (not sustained)"))
                continue
            }
            lines.append(
                String(
                    format: "| %.0f/s | %.1f / %.1f%@ | %.0f/s | %.1f / %.1f | %.0f / %.0f / %.0f / %.0f µs | %@ |",
                    step.rate,
                    step.baselineP50, step.baselineP99, step.baselineSustained ? "" : " (not sustained)",
                    step.achievedRate, step.samuP50, step.samuP99,
                    step.cpuMicrosecondsPerReport, step.brokerMicrosecondsPerReport, step.databaseMicrosecondsPerReport,
                    step.benchMicrosecondsPerReport, step.sustained ? "yes" : "no"))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var json: JSONValue {
        func number(_ value: Double) -> JSONValue { value.isFinite ? .number((value * 1000).rounded() / 1000) : .null }
        func quantiles(_ values: [Double]) -> JSONValue {
            [
                "p50": number(percentile(values, 0.5)), "p99": number(percentile(values, 0.99)),
                "p999": number(percentile(values, 0.999)), "count": .integer(Int64(values.count)),
            ]
        }
        var object = JSONObject()
        object.append("machine", .string(machine))
        object.append("started", .string(started))
        object.append("finished", .string(finished))
        object.append("steal_percent", .number((stealPercent * 10).rounded() / 10))
        object.append(
            "latency",
            .array(
                latency.map { entry in
                    var stages = JSONObject()
                    for (name, values) in zip(PipelineResult.segmentNames, entry.samu.segments) {
                        stages.append(name, quantiles(values))
                    }
                    return [
                        "rate": number(entry.rate), "baseline": quantiles(entry.baseline),
                        "samu": quantiles(entry.samu.decided), "samu_p1": quantiles(entry.samu.urgent),
                        "stages": .object(stages), "cpu_us_per_report": number(entry.samu.cpuMicrosecondsPerReport),
                        "broker_cpu_us_per_report": number(entry.samu.brokerMicrosecondsPerReport),
                        "postgres_cpu_us_per_report": number(entry.samu.databaseMicrosecondsPerReport),
                        "bench_cpu_us_per_report": number(entry.samu.benchMicrosecondsPerReport),
                        "baseline_broker_cpu_us_per_record": number(entry.baselineBrokerMicroseconds),
                        "peak_rss_mb": number(entry.samu.peakResidentMegabytes),
                        "first_outcome_s": number(entry.samu.firstOutcomeSeconds),
                    ]
                }))
        if let copy {
            object.append(
                "copy",
                [
                    "rows": .integer(Int64(copy.rows)), "reports": .integer(Int64(copy.reports)),
                    "rows_per_s": number(copy.rowsPerSecond), "reports_per_s": number(copy.reportsPerSecond),
                ])
        }
        object.append(
            "sweep",
            .array(
                sweep.map {
                    [
                        "rate": number($0.rate), "baseline_p50": number($0.baselineP50),
                        "baseline_p99": number($0.baselineP99), "samu_p50": number($0.samuP50),
                        "samu_p99": number($0.samuP99), "achieved": number($0.achievedRate),
                        "sustained": .bool($0.sustained), "cpu_us_per_report": number($0.cpuMicrosecondsPerReport),
                        "broker_cpu_us_per_report": number($0.brokerMicrosecondsPerReport),
                        "postgres_cpu_us_per_report": number($0.databaseMicrosecondsPerReport),
                        "bench_cpu_us_per_report": number($0.benchMicrosecondsPerReport),
                        "baseline_sustained": .bool($0.baselineSustained), "samu_measured": .bool($0.samuMeasured),
                        "samu_p1_p99": number($0.samuP1P99),
                    ]
                }))
        object.append("sustained_rate", number(sustainedRate))
        object.append("baseline_sustained_rate", number(baselineSustainedRate))
        if let catchUp {
            object.append(
                "catch_up",
                [
                    "reports": .integer(Int64(catchUp.reports)), "drain_reports_per_s": number(catchUp.drainRate),
                    "peak_rss_mb": number(catchUp.peakResidentMegabytes),
                    "start_to_first_decision_s": number(catchUp.startToFirstSeconds),
                    "cpu_us_per_report": number(catchUp.cpuMicrosecondsPerReport),
                ])
        }
        if let memory {
            object.append(
                "memory",
                [
                    "zones": .integer(Int64(memory.zones)), "units": .integer(Int64(memory.units)),
                    "open_cases": .integer(Int64(memory.openCases)),
                    "peak_rss_mb": number(memory.peakResidentMegabytes),
                    "first_outcome_s": number(memory.firstOutcomeSeconds),
                ])
        }
        return .object(object)
    }
}

/// PostgreSQL `COPY` of the rows samu writes for each report — the report, its case, the inbox row,
/// one timeline entry, the decision and one outbox row (the case's steps together) — into a fresh schema, in one durable
/// transaction: what the database ingests with no per-batch round trips and no dispatch.
struct CopyBaseline {
    struct Result {
        var rows: Int
        var reports: Int
        var seconds: Double
        var rowsPerSecond: Double { Double(rows) / seconds }
        var reportsPerSecond: Double { Double(reports) / seconds }
    }

    let context: SamuContext
    let plan: Deployment
    let reports: Int

    func measure() async throws -> Result {
        let triage = try context.triageEngine()
        let decoder = ReportDecoder(definition: context.catalog.definition(.reports))
        var generator = NightGenerator(deployment: plan, temperature: 6, seed: 9)
        let now = Date()
        let stamp = RFC3339.format(now)
        var tables: [String: BulkCopy.CopyTable] = [:]
        func add(_ table: String, _ columns: [String], _ row: [String?]) {
            tables[table, default: .init(table: table, columns: columns, rows: [])].rows.append(row)
        }
        for index in 0..<reports {
            let document = generator.report(at: now)
            guard case .success(let report) = decoder.decode(value: document.serializedBytes) else { continue }
            let caseID = DerivedID.caseID(forReport: report.id)
            let decision = triage.triage(report)
            let triageText = SamuStore.triageText(decision)
            add(
                "processed_events", ["event_id", "topic", "partition", "offset", "processed_at"],
                [report.id.lowercased, "samu.reports.v1", "0", String(index), stamp])
            add(
                "reports",
                [
                    "report_id", "zone", "category", "reported_at", "received_at", "payload", "source_topic",
                    "source_partition", "source_offset",
                ],
                [
                    report.id.lowercased, report.zone, report.category.rawValue, RFC3339.format(report.reportedAt),
                    stamp,
                    document.serialized, "samu.reports.v1", "0", String(index),
                ])
            add(
                "cases",
                [
                    "case_id", "report_id", "zone", "category", "status", "opened_at", "updated_at", "priority",
                    "bed_type", "triage", "location_lat", "location_lon",
                ],
                [
                    caseID.lowercased, report.id.lowercased, report.zone, report.category.rawValue, "queued", stamp,
                    stamp, decision.priority.code, decision.bedType.rawValue, triageText,
                    String(report.location.latitude), String(report.location.longitude),
                ])
            // One timeline entry: the report received and triaged (as samu writes it).
            let rules: JSONValue = [
                "report_id": .string(report.id.lowercased), "source": .string("samu.reports.v1/0/\(index)"),
                "priority": .string(decision.priority.code), "bed_type": .string(decision.bedType.rawValue),
                "rules": .array(decision.reasons.map { .string($0.rule) }),
            ]
            add(
                "case_timeline", ["case_id", "at", "status", "actor", "detail"],
                [caseID.lowercased, stamp, "triaged", "triage:copy", rules.serialized])
            let decisionID = UUID(v5: "copy-decision/\(caseID.lowercased)")
            let record: JSONValue = [
                "decision_id": .string(decisionID.lowercased), "kind": "queue",
                "priority": .string(decision.priority.code), "unit_id": nil,
                "unit_candidates": .array(
                    (1...3).map { ["id": .string("\(report.zone)-u\($0)"), "travel_seconds": 412.5, "score": 9.1] }),
                "shelter_candidates": [], "rules_version": .string(decision.rulesVersion),
                "reason": "no free unit with the required skills; queued",
            ]
            add(
                "decisions",
                [
                    "decision_id", "case_id", "zone", "kind", "priority", "bed_type", "rules_version", "reason",
                    "record", "decided_at",
                ],
                [
                    decisionID.lowercased, caseID.lowercased, report.zone, "queue", decision.priority.code,
                    decision.bedType.rawValue, decision.rulesVersion, "queued", record.serialized, stamp,
                ])
            // One outbox row per case per batch, as samu writes it: the case's steps in one
            // `case.steps` record (received, triaged, queued).
            let step = CaseOutcome.received(report: report, caseID: caseID, at: now).json.serialized
            let id = DerivedID.outcomeID(caseID: caseID, transition: "received", channel: "outcomes")
            let payload =
                #"{"schema_version":5,"event_id":""# + id.lowercased + #"","type":"case.steps","case_id":""#
                + caseID.lowercased + #"","zone":""# + report.zone + #"","occurred_at":""# + stamp
                + #"","steps":["# + [step, step, step].joined(separator: ",") + "]}"
            add(
                "outbox", ["outbox_id", "topic", "key", "payload", "created_at"],
                [id.lowercased, "samu.outcomes.v1", report.zone, payload, stamp])
        }
        let order = ["processed_events", "reports", "cases", "case_timeline", "decisions", "outbox"]
        let batches = order.compactMap { tables[$0] }
        let run = UUID().uuidString.prefix(8).lowercased()
        var configuration = context.configuration.database
        configuration.schema = "bench_copy_\(run)"
        let logger = context.logger
        return try await SamuStore.withStore(configuration: configuration, logger: logger) { store in
            _ = try await store.migrate()
            let started = ContinuousClock.now
            let rows = try await BulkCopy.copy(batches, configuration: configuration, logger: logger)
            let elapsed = seconds(ContinuousClock.now - started)
            try await store.dropSchema()
            return Result(rows: rows, reports: reports, seconds: elapsed)
        }
    }
}

extension PrivateServers.Broker {
    /// A broker of the suite's own on the bootstrap address's port (loopback), started by
    /// `ops/broker.sh` like every other samu broker.
    static func fresh(bootstrap: String) async throws -> PrivateServers.Broker {
        guard let first = bootstrap.split(separator: ",").first,
            let port = first.split(separator: ":").last.flatMap({ Int($0) }),
            first.hasPrefix("127.0.0.1:") || first.hasPrefix("localhost:")
        else {
            throw ValidationError(
                "--fresh-broker needs a loopback bootstrap address (SAMU_KAFKA_BOOTSTRAP_SERVERS), not \(bootstrap)")
        }
        return try await start(port: port)
    }

    /// kill -9 and start again: an empty memory store.
    func restart() async throws {
        try await kill()
        try await start()
    }
}

/// The machine's CPU time by state, from the first line of /proc/stat (clock ticks).
struct CPUTicks {
    var total: Int64 = 0
    var steal: Int64 = 0

    static func sample() -> CPUTicks {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return CPUTicks() }
        // user nice system idle iowait irq softirq steal (guest time is counted in user already).
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { Int64($0) }
        guard fields.count == 8 else { return CPUTicks() }
        return CPUTicks(total: fields.reduce(0, +), steal: fields[7])
    }

    func stealPercent(since before: CPUTicks) -> Double {
        let total = self.total - before.total
        return total > 0 ? Double(steal - before.steal) / Double(total) * 100 : .nan
    }
}
