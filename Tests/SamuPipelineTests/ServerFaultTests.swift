import Foundation
import PostgresNIO
import RdKafka
import SamuModel
import SamuPipeline
import SamuTestSupport
import Testing

@testable import SamuStore

/// Polls `condition` until it holds, treating a failure (a server that is down) as "not yet".
func eventuallyReachable(timeout: Duration, _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(250))
    }
    return (try? await condition()) == true
}

func seconds(_ duration: Duration) -> String {
    String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
}

/// Faults of the servers themselves. Each scenario that stops, pauses or wipes a server runs its
/// own (PrivateServers), so that the tests beside it on the shared ones are not disturbed.
extension FaultTests {
    func reports(_ count: Int) -> [JSONValue] {
        (0..<count).map { ReportFixture.document(id: UUID(), zone: zones[$0 % zones.count]) }
    }

    /// The database calls a worker's log says it retried.
    func storeRetries(in log: String) -> Int {
        log.components(separatedBy: "database unavailable").count - 1
            + log.components(separatedBy: "database write failed; retrying").count - 1
    }

    /// What a worker binary left after a fault healed at `healed`: whether every report got its
    /// case and outcome within `timeout`, the ledger, whether the worker stayed up, its log (after a
    /// graceful stop) and the database calls it retried.
    struct Aftermath {
        var recovered: Bool
        /// Where the worker's threads wait, when it did not recover.
        var threads: String
        var ledger: Ledger
        var survived: Bool
        var log: String
        var retries: Int
    }

    func aftermath(
        _ harness: PipelineHarness, worker: SamuBinary.Running, ids: [UUID], healed: ContinuousClock.Instant,
        timeout: Duration
    ) async throws -> Aftermath {
        let recovered = await eventuallyReachable(timeout: timeout) { try await allDone(harness, ids.count) }
        // If the worker stalled, say where its threads wait (kernel wait channel and state).
        let threads = recovered ? "" : SamuBinary.threadStates(of: worker.pid)
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - healed
        let survived = worker.isRunning
        worker.signal(SIGTERM)
        let log = (try? await worker.wait(timeout: .seconds(30)).output) ?? worker.log
        return Aftermath(
            recovered: recovered, threads: threads, ledger: ledger, survived: survived, log: log,
            retries: storeRetries(in: log))
    }

    /// F8's network faults once 500 cases are in: the proxy down 15 s, then slow (200 ms a chunk)
    /// 10 s, then stalled 10 s. Returns when it healed and the cases written meanwhile.
    func partition(
        through proxy: FaultProxy, _ harness: PipelineHarness
    ) async throws -> (healed: ContinuousClock.Instant, during: Int) {
        #expect(await eventuallyReachable(timeout: .seconds(60)) { try await cases(harness) >= 500 })
        let before = try await cases(harness)
        proxy.mode = .down
        try await Task.sleep(for: .seconds(15))
        proxy.mode = .slow(.milliseconds(200))
        try await Task.sleep(for: .seconds(10))
        proxy.mode = .stalled
        try await Task.sleep(for: .seconds(10))
        proxy.mode = .pass
        let healed = ContinuousClock.now
        // Counted by the test's own connection, which no proxy stands in front of.
        return (healed, try await cases(harness) - before)
    }

    /// Each case's outcomes on the topic against their commit order: the outbox rows of each case by
    /// creation (one writer per zone at a time) against each event's first appearance on the topic,
    /// in its partition's offset order. Returns the cases whose orders differ, and the cases.
    func outcomeOrder(_ harness: PipelineHarness) async throws -> (outOfOrder: Int, cases: Int) {
        let committed = try await harness.withStore { try await $0.outboxOrder(topic: harness.catalog.name(.outcomes)) }
        var commitOrder: [String: [UUID]] = [:]
        for row in committed { commitOrder[row.key, default: []].append(row.id) }
        let messages = try await harness.readAll(.outcomes).sorted {
            ($0.partition, $0.offset) < ($1.partition, $1.offset)
        }
        var topicOrder: [String: [UUID]] = [:]
        var seen = Set<UUID>()
        for message in messages {
            guard let value = message.value, let outcome = try? JSONParser.parse(value),
                let id = outcome["event_id"]?.stringValue.flatMap(UUID.init(uuidString:)),
                let caseID = outcome["case_id"]?.stringValue, seen.insert(id).inserted
            else { continue }
            topicOrder[caseID, default: []].append(id)
        }
        return (commitOrder.filter { topicOrder[$0.key] != $0.value }.count, commitOrder.count)
    }

    func allDone(_ harness: PipelineHarness, _ expected: Int) async throws -> Bool {
        let counts = try await harness.withStore { try await $0.counts() }
        return counts.cases == expected && counts.unpublished == 0
    }

    @Test("F4: PostgreSQL crashes (immediate stop) in the middle of 5,000 reports and restarts 10 s later")
    func databaseCrash() async throws {
        let database = try await PrivateServers.Database()
        let (harness, documents, ids) = try await prepared(reports: 5000, databaseURL: database.url)
        let worker = try SamuBinary.start(
            ["worker"], environment: harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 },
            name: "f4-\(harness.id)")
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) })
        #expect(await eventuallyReachable(timeout: .seconds(60)) { try await cases(harness) >= 1500 })
        try await database.crash()
        let atCrash = ContinuousClock.now
        try await Task.sleep(for: .seconds(10))
        try await database.start()
        let restarted = ContinuousClock.now
        try await producing.value
        let after = try await aftermath(harness, worker: worker, ids: ids, healed: restarted, timeout: .seconds(120))
        let (recovered, threads, ledger, survived, log, retries) = (
            after.recovered, after.threads, after.ledger, after.survived, after.log, after.retries
        )
        print(
            "fault F4 PostgreSQL crash for \(seconds(restarted - atCrash)): \(ledger); retried store calls \(retries)")
        ledger.record(
            "F4 PostgreSQL crash + restart after 10 s",
            note: "worker stayed up: \(survived ? "yes" : "NO"); store retries logged: \(retries)")
        #expect(recovered, "threads: \(threads)\n\(log.suffix(2000))")
        #expect(survived, "the worker must ride out the outage without a restart")
        #expect(ledger.clean, "\(ledger)")
        #expect(ledger.cases == ids.count)
        try await database.destroy()
    }

    @Test(
        "F8: the network between the worker and PostgreSQL down 15 s, then slow (200 ms a chunk) and stalled 10 s each")
    func databasePartition() async throws {
        let (harness, documents, ids) = try await prepared(reports: 5000)
        // The worker reaches PostgreSQL through a proxy the test controls; the test itself does not.
        var components = try #require(URLComponents(string: harness.environment["SAMU_DATABASE_URL"] ?? ""))
        let proxy = try FaultProxy(target: try #require(components.port))
        defer { proxy.stop() }
        components.port = proxy.port
        var environment = harness.environment
        environment["SAMU_DATABASE_URL"] = components.string
        environment["SAMU_LOG_LEVEL"] = "info"
        let worker = try SamuBinary.start(["worker"], environment: environment, name: "f8-\(harness.id)")
        // About 200 reports a second: the stream is still flowing through all three faults.
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) }, perChunk: 10)
        let (healed, during) = try await partition(through: proxy, harness)
        try await producing.value
        let after = try await aftermath(harness, worker: worker, ids: ids, healed: healed, timeout: .seconds(150))
        let (recovered, threads, ledger, survived, log, retries) = (
            after.recovered, after.threads, after.ledger, after.survived, after.log, after.retries
        )
        ledger.conclude(
            "F8 worker↔PostgreSQL: down 15 s, slow 10 s, stalled 10 s",
            note:
                "worker stayed up: \(survived ? "yes" : "NO"); store retries logged: \(retries); cases written during the 35 s of faults: \(during)"
        )
        #expect(recovered, "threads: \(threads)\n\(log.suffix(2000))")
        #expect(survived, "the worker must ride out the partition without a restart")
        // The fault reached the worker: the proxy cut the connections its pool held open.
        #expect(proxy.cutSockets > 0, "the worker held no connection through the proxy")
        #expect(ledger.cases == ids.count)
        try await harness.cleanUp()
    }

    @Test("F6: the broker paused (SIGSTOP) for 30 s in the middle of 5,000 reports, then resumed")
    func brokerPause() async throws {
        let broker = try await PrivateServers.Broker.start()
        let (harness, documents, ids) = try await prepared(
            reports: 5000, bootstrapServers: broker.bootstrapServers)
        let worker = try SamuBinary.start(["worker"], environment: harness.environment, name: "f6-\(harness.id)")
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) })
        #expect(try await eventually(timeout: .seconds(60)) { try await cases(harness) >= 1500 })
        try await broker.pause()
        try await Task.sleep(for: .seconds(30))
        try await broker.resume()
        let resumed = ContinuousClock.now
        try await producing.value
        let after = try await aftermath(harness, worker: worker, ids: ids, healed: resumed, timeout: .seconds(150))
        let (recovered, ledger, survived, log) = (after.recovered, after.ledger, after.survived, after.log)
        ledger.conclude("F6 broker SIGSTOP 30 s, resumed", note: "worker stayed up: \(survived ? "yes" : "NO")")
        #expect(recovered, "\(log.suffix(2000))")
        #expect(survived)
        try await broker.kill()
        try await harness.cleanUp()
    }

    @Test("F6: a worker stopped while the broker is paused exits after its grace period; a restart publishes the rest")
    func stopDuringBrokerPause() async throws {
        let broker = try await PrivateServers.Broker.start()
        let (harness, documents, ids) = try await prepared(
            reports: 3000, bootstrapServers: broker.bootstrapServers)
        // Every report is on the broker before the worker starts: its first fetches take hundreds,
        // which it decides and commits while the broker is paused.
        try await produceSteadily(harness, documents.map { harness.reportRecord($0) }, perChunk: 500).value
        let environment = harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 }
        let worker = try SamuBinary.start(["worker"], environment: environment, name: "f6s-\(harness.id)")
        #expect(try await eventually(timeout: .seconds(60)) { try await cases(harness) >= 300 })
        try await broker.pause()
        // The worker commits what it fetched; the relay's batches await the paused broker (at most
        // eight), the rest of its rows wait in its queue.
        var unpublished = 0
        #expect(
            try await eventually(timeout: .seconds(20)) {
                unpublished = try await harness.withStore { try await $0.counts().unpublished }
                return unpublished >= 1000
            }, "outcome rows committed and not published during the pause: \(unpublished)")
        let stopped = ContinuousClock.now
        worker.signal(SIGTERM)
        // Killed (and nil) after two minutes.
        let outcome = try? await worker.wait(timeout: .seconds(120))
        let took = ContinuousClock.now - stopped
        let output = outcome?.output ?? worker.log
        // The consumer's close waits at most 15 s for the group, the relay 10 s for the broker
        // (then the purge): not the librdkafka timeouts (a request's 60 s, a delivery's 300 s).
        #expect(outcome != nil && took < .seconds(45), "the stop took \(seconds(took)); log:\n\(output.suffix(3000))")
        #expect(output.contains("outcomes still unpublished at shutdown"), "unpublished: \(unpublished)")
        try await broker.resume()
        let second = try SamuBinary.start(["worker"], environment: environment, name: "f6s2-\(harness.id)")
        let done = await eventuallyReachable(timeout: .seconds(90)) { try await allDone(harness, ids.count) }
        second.signal(SIGTERM)
        let log = try await second.wait(timeout: .seconds(60)).output
        #expect(done, "the restarted worker did not finish; its log:\n\(log.suffix(3000))")
        try await broker.kill()
        try await harness.cleanUp()
    }

    @Test(
        "F8: the network between the worker and the broker down 15 s, then slow (200 ms a chunk) and stalled 10 s each")
    func brokerPartition() async throws {
        // Every client reaches the broker through the proxy: the broker advertises the proxy's port,
        // so the connections opened after the bootstrap go there too (the test's own included).
        let brokerPort = PrivateServers.freePort()
        let proxy = try FaultProxy(target: brokerPort)
        defer { proxy.stop() }
        let broker = try await PrivateServers.Broker.start(port: brokerPort, advertisedPort: proxy.port)
        let (harness, documents, ids) = try await prepared(reports: 5000, bootstrapServers: broker.bootstrapServers)
        let worker = try SamuBinary.start(
            ["worker"], environment: harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 },
            name: "f8k-\(harness.id)")
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) }, perChunk: 10)
        let (healed, during) = try await partition(through: proxy, harness)
        try await producing.value
        let after = try await aftermath(harness, worker: worker, ids: ids, healed: healed, timeout: .seconds(150))
        let (recovered, threads, ledger, survived, log) = (
            after.recovered, after.threads, after.ledger, after.survived, after.log
        )
        ledger.conclude(
            "F8 worker↔broker: down 15 s, slow 10 s, stalled 10 s",
            note:
                "worker stayed up: \(survived ? "yes" : "NO"); cases written during the 35 s of faults: \(during)")
        #expect(recovered, "threads: \(threads)\n\(log.suffix(2000))")
        #expect(survived, "the worker must ride out the partition without a restart")
        #expect(proxy.cutSockets > 0, "no client connection went through the proxy")
        #expect(ledger.cases == ids.count)
        try await broker.kill()
        try await harness.cleanUp()
    }

    @Test(
        "F6: two workers and the broker paused 20 s: each case's outcomes reach the topic in commit order, each once"
    )
    func outcomeOrderAcrossBrokerPause() async throws {
        let broker = try await PrivateServers.Broker.start()
        let (harness, documents, ids) = try await prepared(reports: 4000, bootstrapServers: broker.bootstrapServers)
        var workers: [SamuBinary.Running] = []
        for name in ["a", "b"] {
            let environment = workerEnvironment(harness, worker: "order-\(name)")
            let worker = try SamuBinary.start(["worker"], environment: environment, name: "f6o\(name)-\(harness.id)")
            #expect(try await eventually(timeout: .seconds(30)) { worker.log.contains("partitions assigned") })
            workers.append(worker)
        }
        let producing = produceSteadily(harness, documents.map { harness.reportRecord($0) })
        #expect(try await eventually(timeout: .seconds(60)) { try await cases(harness) >= 1000 })
        let ownersBefore = try await harness.withStore { try await $0.leaseOwners() }
        try await broker.pause()
        try await Task.sleep(for: .seconds(20))
        try await broker.resume()
        let resumed = ContinuousClock.now
        try await producing.value
        let recovered = await eventuallyReachable(timeout: .seconds(150)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - resumed
        let ownersAfter = try await harness.withStore { try await $0.leaseOwners() }
        let (outOfOrder, ordered) = try await outcomeOrder(harness)
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { _ = try? await worker.wait(timeout: .seconds(30)) }
        let moved = ownersBefore.filter { ownersAfter[$0.key] != $0.value }.count
        ledger.conclude(
            "F6 two workers, broker SIGSTOP 20 s: outcome order",
            note:
                "cases with outcomes out of commit order: \(outOfOrder) of \(ordered); outcomes published twice: \(ledger.redeliveredOutcomes); zones that changed owner: \(moved)"
        )
        #expect(recovered)
        #expect(ordered == ids.count)
        #expect(outOfOrder == 0)
        // With no zone changing hands, nothing may be published twice: only a zone's lease holder
        // republishes its rows (a takeover can leave a byte-identical duplicate, deduped by event_id).
        if moved == 0 { #expect(ledger.redeliveredOutcomes == 0) }
        try await broker.kill()
        try await harness.cleanUp()
    }

    @Test("F5: a slow database (a lock held 20 s on cases) while 20,000 large reports arrive: memory stays bounded")
    func slowDatabase() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        try await announceDeployment(harness)
        // Notes of 2,000 Arabic letters: ~4.5 kB a report, a backlog far above the consumer's 16 MB queue.
        let notes = String(repeating: "ب", count: 1990)
        let documents = (0..<20_000).map { index -> JSONValue in
            var document = ReportFixture.document(id: UUID(), zone: zones[index % zones.count])
            if case .object(let object) = document {
                document = .object(
                    JSONObject(object.entries.map { $0.key == "notes" ? ($0.key, .string(notes)) : $0 }))
            }
            return document
        }
        let ids = Self.ids(documents)
        let records = documents.map { harness.reportRecord($0) }
        let backlogBytes = records.reduce(0) { $0 + ($1.value?.count ?? 0) }
        let worker = try SamuBinary.start(["worker"], environment: harness.environment, name: "f5-\(harness.id)")
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try await harness.withStore { try await $0.counts().processedEvents } >= 87
            })
        try await Task.sleep(for: .seconds(1))
        let baseline = worker.residentBytes ?? 0
        let locked = ContinuousClock.now
        // One session holds a SHARE lock on cases: every insert or update of a case waits for it.
        let lock = Task {
            try await harness.withStore { store in
                try await store.client.withTransaction(logger: harness.logger) { connection in
                    try await connection.query("lock table cases in share mode", logger: harness.logger)
                    try await Task.sleep(for: .seconds(20))
                }
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let producing = Task { try await harness.produce(records) }
        var peak = baseline
        while ContinuousClock.now - locked < .seconds(20) {
            peak = max(peak, worker.residentBytes ?? 0)
            try await Task.sleep(for: .milliseconds(200))
        }
        try await lock.value
        let released = ContinuousClock.now
        try await producing.value
        let drained = try await eventually(timeout: .seconds(150)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - released
        worker.signal(SIGTERM)
        let log = try await worker.wait(timeout: .seconds(30)).output
        let growth = max(0, peak - baseline)
        let megabytes = { (bytes: Int) in String(format: "%.0f MB", Double(bytes) / 1_048_576) }
        print(
            "fault F5 slow database (lock 20 s): \(ledger); backlog \(megabytes(backlogBytes)); worker RSS \(megabytes(baseline)) before, peak \(megabytes(peak)) during the stall (+\(megabytes(growth)))"
        )
        ledger.record(
            "F5 database stalled 20 s (lock), 20,000 reports",
            note: "backlog \(megabytes(backlogBytes)); RSS +\(megabytes(growth)) (peak \(megabytes(peak)))")
        #expect(drained, "\(log.suffix(2000))")
        #expect(ledger.clean, "\(ledger)")
        #expect(backlogBytes > 64 << 20, "the backlog must exceed what an unbounded consumer would hold")
        // The consumer's queue (queued.max.messages.kbytes = 16 MB) and two batches (one being written,
        // the next decided) bound what waits in memory: 25–32 MB of growth with one batch in hand,
        // 51 MB with two (2026-11-23).
        #expect(growth < 64 << 20, "RSS grew by \(megabytes(growth)) during the stall")
        try await harness.cleanUp()
    }
}

extension FaultTests {
    @Test(
        "F7: the broker restarted empty (its memory store lost) after 1,000 reports: recover with topics and a republish"
    )
    func brokerWiped() async throws {
        let broker = try await PrivateServers.Broker.start()
        let start = Date()
        let (harness, first, _) = try await prepared(reports: 1000, bootstrapServers: broker.bootstrapServers)
        let worker = try SamuBinary.start(
            ["worker"], environment: harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 },
            name: "f7-\(harness.id)")
        try await harness.produce(first.map { harness.reportRecord($0) })
        #expect(try await eventually(timeout: .seconds(60)) { try await allDone(harness, first.count) })
        let before = Set(
            try await harness.readAll(.outcomes).compactMap {
                $0.value.flatMap { try? JSONParser.parse($0) }?["event_id"]?.stringValue
            })
        try await broker.kill()
        try await broker.start()
        let wiped = ContinuousClock.now
        // librdkafka notices the missing topics at its next metadata refresh (10 s at most).
        let clearError = try await eventually(timeout: .seconds(30)) {
            worker.log.contains("Subscribed topic not available")
        }
        let survived = worker.isRunning
        // The operator's recovery: the topics again; the workers restarted (their idempotent
        // producers' ids died with the broker's state: librdkafka keeps bumping the epoch of an id
        // the new broker never issued); then the outbox republished from PostgreSQL.
        let topics = try await SamuBinary.run(["topics", "create"], environment: harness.environment)
        // The running worker usually finds the new topics at its next metadata refresh (10 s) and
        // rejoins; not always (seen once in CI: the group rebalanced to an empty assignment before
        // the topics came back, and librdkafka did not rejoin within 90 s). The documented recovery
        // restarts the workers, which this test does next: the rejoin is reported, not required.
        let rejoined = try await eventually(timeout: .seconds(30)) {
            worker.log.components(separatedBy: "kafka.rebalance=assign([t-").count - 1 >= 2
        }
        // What the worker said about its group and topics, for a failure's message.
        let groupLines = worker.log.split(separator: "\n").filter {
            $0.contains("rebalance") || $0.contains("Subscribed") || $0.contains("commit")
                || $0.contains("Coordinator") || $0.contains("fatal")
        }.map { String($0.prefix(220)) }.joined(separator: "\n")
        worker.signal(SIGTERM)
        let stopped = try await worker.wait(timeout: .seconds(40))
        let restarted = try SamuBinary.start(
            ["worker"], environment: harness.environment.merging(["SAMU_LOG_LEVEL": "info"]) { $1 },
            name: "f7b-\(harness.id)")
        let republish = try await SamuBinary.run(
            ["outbox", "republish", "--since", RFC3339.format(start)], environment: harness.environment)
        let second = reports(500)
        try await harness.produce(second.map { harness.reportRecord($0) })
        let ids = Self.ids(first + second)
        let recovered = try await eventually(timeout: .seconds(120)) { try await allDone(harness, ids.count) }
        var ledger = try await Ledger.check(harness, reports: ids, eventsIn: ids.count)
        ledger.recovery = ContinuousClock.now - wiped
        let after = Set(
            try await harness.readAll(.outcomes).compactMap {
                $0.value.flatMap { try? JSONParser.parse($0) }?["event_id"]?.stringValue
            })
        restarted.signal(SIGTERM)
        let log = stopped.output + (try await restarted.wait(timeout: .seconds(30)).output)
        let missing = before.subtracting(after).count
        print(
            "fault F7 broker wiped: \(ledger); outcomes before the wipe \(before.count), missing after republish \(missing); \(republish.standardOutput)"
        )
        ledger.record(
            "F7 broker restarted empty (memory wipe)",
            note:
                "worker stayed up: \(survived ? "yes" : "NO"), rejoined by itself: \(rejoined ? "yes" : "no"), stopped in \(String(format: "%.0f s", stopped.seconds)); \(before.count) outcomes republished from PostgreSQL, \(missing) missing"
        )
        #expect(topics.status == 0 && republish.status == 0, "\(topics.output) \(republish.output)")
        #expect(survived, "\(log.suffix(3000))")
        #expect(clearError, "the worker must say that its topics are gone:\n\(groupLines)")
        if !rejoined { print("fault F7: the running worker did not rejoin the recreated topics:\n\(groupLines)") }
        #expect(stopped.status == 0)
        #expect(recovered, "\(log.suffix(3000))")
        #expect(missing == 0)
        #expect(ledger.clean, "\(ledger)")
        try await broker.kill()
        try await harness.cleanUp()
    }
}
