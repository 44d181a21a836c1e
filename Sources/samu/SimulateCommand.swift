import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuPipeline

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Load generator: a night of hotline reports with crew and shelter updates, on the local broker only.",
        discussion: """
            Reports follow the night profile (about 80 % between 19:00 and 07:00), the category mix and the \
            cold-wave multiplier of the temperature (×2 at −8 °C, ×3 at −12 °C); one crew update and one shelter \
            update go out every --updates-every reports. --rate sends at a fixed rate (open loop: the schedule \
            does not wait for deliveries); --rate 0 sends as fast as the producer takes them. Bounded by --count \
            and --duration. Refuses a broker that is not on this machine.
            """)

    @Option(help: "Reports to send.") var count = 1000
    @Option(help: "Events per second (0: as fast as possible).") var rate = 200.0
    @Option(help: "Stop after this many seconds whatever the count.") var duration = 60.0
    @Option(help: "Air temperature of the night, °C (the cold-wave multiplier scales --rate).") var temperature = 6.0
    @Option(help: "Seed of the generator (the same seed gives the same night).") var seed: UInt64 = 1
    @Option(help: "One crew update and one shelter update every N reports (0: none).") var updatesEvery = 10
    @Option(
        help:
            "Stamp reports across this night (YYYY-MM-DD, hours drawn from the night profile) instead of the time of sending."
    )
    var night: String?

    func validate() throws {
        guard count > 0, rate >= 0, duration > 0, updatesEvery >= 0 else {
            throw ValidationError("--count and --duration must be positive, --rate and --updates-every not negative")
        }
    }

    func run() async throws {
        try requireLibrdKafka()
        let context = try Context.forCommand(label: "samu.simulate")
        let servers = context.configuration.kafka.bootstrapServers.split(separator: ",")
        for server in servers {
            let host = server.trimmingCharacters(in: .whitespaces).split(separator: ":").dropLast().joined(
                separator: ":")
            guard ["127.0.0.1", "localhost", "[::1]", "::1"].contains(host) else {
                throw ValidationError("samu simulate only loads a broker on this machine; \(server) is not on loopback")
            }
        }
        guard let plan = try context.deployment() else { throw ValidationError("no deployment file found") }
        let nightStart: Date? = try night.map { text in
            guard let date = RFC3339.parse("\(text)T00:00:00Z") else { throw ValidationError("--night: YYYY-MM-DD") }
            return date
        }
        var generator = NightGenerator(deployment: plan, temperature: temperature, seed: seed)
        let effectiveRate = rate * NightProfile.coldWaveMultiplier(temperature: temperature)
        let catalog = context.catalog
        let areas = plan.areas
        func record(_ role: TopicRole, zone: String, _ event: JSONValue) -> KafkaRecord {
            KafkaRecord(topic: catalog.name(role), key: areas.key(for: zone), value: Array(event.serialized.utf8))
        }
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int64(duration * 1000))
        var sent = (reports: 0, units: 0, beds: 0)
        let results = try await KafkaProducer.withProducer(
            configuration: context.configuration.producer, logger: context.logger
        ) { producer -> [Result<KafkaDeliveryReport, KafkaError>] in
            var batches: [KafkaDeliveryBatch] = []
            var pending: [KafkaRecord] = []
            var events = 0
            while sent.reports < count && ContinuousClock.now < deadline {
                let time: Date
                if let nightStart {
                    let hour = generator.hour()
                    let dayOffset = hour < 12 ? 86_400.0 : 0  // the night runs from evening to morning
                    time = nightStart.addingTimeInterval(
                        dayOffset + Double(hour) * 3600 + generator.random.double(in: 0...3599))
                } else {
                    time = Date()
                }
                let report = generator.report(at: time)
                pending.append(record(.reports, zone: report["zone"]?.stringValue ?? "", report))
                sent.reports += 1
                if updatesEvery > 0 && sent.reports % updatesEvery == 0 {
                    let unit = generator.unitUpdate(at: time)
                    pending.append(record(.units, zone: unit.zone, unit.event))
                    let beds = generator.bedUpdate(at: time)
                    pending.append(record(.beds, zone: beds.zone, beds.event))
                    sent.units += 1
                    sent.beds += 1
                }
                if effectiveRate > 0 {
                    // Open loop: each event leaves at its scheduled time, whatever the deliveries.
                    batches.append(await producer.submit(pending))
                    events += pending.count
                    pending.removeAll(keepingCapacity: true)
                    let due = started + .nanoseconds(Int64(Double(events) / effectiveRate * 1e9))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                } else if pending.count >= 1000 {
                    batches.append(await producer.submit(pending))
                    events += pending.count
                    pending.removeAll(keepingCapacity: true)
                }
            }
            if !pending.isEmpty { batches.append(await producer.submit(pending)) }
            var results: [Result<KafkaDeliveryReport, KafkaError>] = []
            for batch in batches { results += await batch.results() }
            return results
        }
        let seconds =
            Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        let failed = results.filter { if case .failure = $0 { true } else { false } }.count
        let total = sent.reports + sent.units + sent.beds
        let offered = effectiveRate > 0 ? String(format: "%.0f events/s offered", effectiveRate) : "as fast as possible"
        let achieved = String(format: "%.0f", Double(total) / max(seconds, 0.001))
        print(
            "simulate: \(sent.reports) reports, \(sent.units) crew and \(sent.beds) shelter updates in "
                + String(format: "%.1f s", seconds)
                + " (\(offered), \(achieved) events/s achieved); \(results.count - failed) delivered, \(failed) failed")
        if let firstFailure = results.lazy.compactMap({ if case .failure(let error) = $0 { error } else { nil } }).first
        {
            print("simulate: first failure: \(firstFailure) (are the topics created? `samu topics create`)")
            throw ExitCode.failure
        }
    }
}
