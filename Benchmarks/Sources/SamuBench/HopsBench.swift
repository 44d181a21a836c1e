import ArgumentParser
import Foundation
import Logging
import RdKafka
import SamuPipeline
import Synchronization

/// The broker floor of samu's end-to-end path (issue 5's first baseline): two raw hops through
/// librdkafka with samu's settings — produce to A, a pass-through consumer re-produces to B, a
/// consumer reads B — and no work in between. Each record carries its send time.
struct HopsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hops",
        abstract: "Baseline: two raw broker hops (produce → consume → produce → consume) at a fixed rate, e2e latency.")

    @OptionGroup var load: OpenLoop
    @Option(help: "Bytes per record (a report is ~600).") var size = 600

    func run() async throws {
        try SamuContext.requireLibrdKafka()
        let context = try SamuContext.load(label: "samu.bench")
        let rate = load.rate
        let timed = try await HopsRun(
            context: context, rate: rate, count: load.count, warmup: load.warmup, size: size
        ).measure()
        func at(_ q: Double) -> Double { percentile(timed, q) }
        print(
            String(
                format:
                    "bench hops: %d records at %.0f/s through two hops (linger.ms=5, fetch.wait.max.ms=10): p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms",
                timed.count, rate, at(0.5), at(0.99), at(0.999), timed.max() ?? 0))
    }
}

/// One run of the two-hop baseline; returns the timed records' latencies in milliseconds.
struct HopsRun {
    let context: SamuContext
    let rate: Double
    let count: Int
    let warmup: Int
    var size = 600
    /// The broker's CPU time per record over the timed run (every `tansu` process), after ``measure()``.
    final class BrokerCPU: Sendable {
        private let value = Mutex(Double.nan)
        var microsecondsPerRecord: Double {
            get { value.withLock { $0 } }
            set { value.withLock { $0 = newValue } }
        }
    }
    let brokerCPU = BrokerCPU()

    func measure() async throws -> [Double] {
        let logger = context.logger
        let rate = self.rate
        let run = UUID().uuidString.prefix(8).lowercased()
        let first = "bench-hops-\(run).a"
        let second = "bench-hops-\(run).b"
        _ = try await KafkaAdmin.createTopics(
            [first, second].map { KafkaTopicSpecification(name: $0, partitions: 12) },
            client: context.configuration.kafka, logger: logger)
        func consumerConfiguration(_ group: String) -> KafkaConsumerConfiguration {
            var configuration = context.configuration.consumer
            configuration.groupID = group
            return configuration
        }
        let forwarder = try KafkaConsumer(
            configuration: consumerConfiguration("bench-hops-\(run)-forward"), topics: [first], logger: logger)
        let sink = try KafkaConsumer(
            configuration: consumerConfiguration("bench-hops-\(run)-sink"), topics: [second], logger: logger)
        let total = warmup + count
        let latencies = try await KafkaProducer.withProducer(
            configuration: context.configuration.producer, logger: logger
        ) { producer -> [Double] in
            try await withThrowingTaskGroup(of: [Double].self) { group in
                group.addTask {  // hop 2: A → B, untouched
                    while let event = try await forwarder.next(timeout: .milliseconds(100)) {
                        guard case .messages(let messages) = event else { continue }
                        _ = await producer.submit(
                            messages.map {
                                KafkaRecord(topic: second, key: $0.key, value: $0.value, headers: [])
                            })
                    }
                    return []
                }
                group.addTask {  // the end: read B, time each record
                    var seen: [Double] = []
                    // Give up (and report what came through) well after the last record was due.
                    let giveUp = ContinuousClock.now + .seconds(Double(total) / rate + 90)
                    while seen.count < total, ContinuousClock.now < giveUp,
                        let event = try await sink.next(timeout: .milliseconds(100))
                    {
                        switch event {
                        case .messages(let messages):
                            let now = Date().timeIntervalSince1970
                            for message in messages {
                                guard let value = message.value,
                                    let sent = Double(
                                        String(decoding: value.prefix(20), as: UTF8.self)
                                            .trimmingCharacters(in: .whitespaces))
                                else { continue }
                                seen.append((now - sent) * 1000)
                            }
                        default: break
                        }
                    }
                    forwarder.stopConsuming()
                    sink.stopConsuming()
                    return seen
                }
                // Let both groups settle before the clock starts.
                try await Task.sleep(for: .seconds(Double(context.configuration.sessionTimeoutMilliseconds) / 1000 + 2))
                let padding = [UInt8](repeating: UInt8(ascii: "x"), count: max(0, size - 20))
                let started = ContinuousClock.now
                let before = CPUBudget.sample()
                for index in 0..<total {
                    let stamp = String(format: "%-20.6f", Date().timeIntervalSince1970)
                    _ = await producer.submit([
                        KafkaRecord(
                            topic: first, key: Array("zone-\(index % 82)".utf8), value: Array(stamp.utf8) + padding,
                            headers: [])
                    ])
                    let due = started + .nanoseconds(Int64(Double(index + 1) / rate * 1e9))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                }
                var collected: [Double] = []
                for try await result in group { collected += result }
                brokerCPU.microsecondsPerRecord = CPUBudget.sample().minus(before).broker / Double(total) * 1e6
                return collected
            }
        }
        try await forwarder.close()
        try await sink.close()
        guard latencies.count == total else {
            throw ValidationError("only \(latencies.count) of \(total) records came through both hops")
        }
        return Array(latencies.dropFirst(warmup))
    }
}

/// The load of the open-loop benches: a fixed rate whatever the replies, a warm-up not timed.
struct OpenLoop: ParsableArguments {
    @Option(help: "Reports (or records) per second, open loop.") var rate = 1000.0
    @Option(help: "How many to time, after the warm-up.") var count = 5000
    @Option(help: "How many are sent first and not timed.") var warmup = 500
}
