import Foundation
import Logging
import PostgresNIO
import SamuModel
import SamuTestSupport
import SamuWeb
import Synchronization
import Testing

@testable import SamuPipeline
@testable import SamuStore

@Suite("Failure policy and configuration")
struct PolicyTests {
    @Test("a database call that never answers is abandoned at its deadline, and retried as a transient failure")
    func deadline() async throws {
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
        await #expect(throws: StoreCallTimedOut.self) {
            // Ignores cancellation, like a query stuck on a dead connection.
            try await withDeadline(.milliseconds(200)) {
                for _ in 0..<30 { try? await Task.sleep(for: .milliseconds(100)) }
                return 0
            }
        }
        #expect(StoreFailurePolicy.decide(StoreCallTimedOut(deadline: .seconds(1))) == .retry)
        await #expect(throws: CancellationError.self) {
            try await withDeadline(.seconds(5)) { throw CancellationError() }
        }
    }

    @Test(
        "deadlines share one sleeping task: a later one waits with the armed one, an earlier one arms its own, a removed one never fires"
    )
    func deadlineTimer() async throws {
        let timer = DeadlineTimer()
        let fired = Mutex<[Int]>([])
        let late = ContinuousClock.now + .seconds(2)
        // Fifty calls with the same allowance, one after another: one sleeping task for them all.
        let tokens = (0..<50).map { index in
            timer.add(at: late + .milliseconds(index)) { fired.withLock { $0.append(index) } }
        }
        #expect(timer.sleepersStarted == 1)
        for token in tokens[10...] { timer.remove(token) }
        // Earlier than the armed sleeper: it arms its own and does not wait for the other.
        _ = timer.add(at: .now + .milliseconds(10)) { fired.withLock { $0.append(-1) } }
        #expect(timer.sleepersStarted == 2)
        for _ in 0..<200 where fired.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        if ContinuousClock.now < late {
            #expect(fired.withLock { $0 } == [-1])
            // Once woken, the early sleeper left the later deadlines to the sleeper already armed
            // for them instead of starting another.
            #expect(timer.sleepersStarted == 2)
        }
        for _ in 0..<200 where fired.withLock({ $0.count }) < 11 { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .milliseconds(100))
        let order = fired.withLock { $0 }
        #expect(Set(order) == Set([-1] + Array(0..<10)))
        #expect(order.count == 11)
        #expect(timer.pending == 0)
    }

    @Test(
        "database failures that say 'later' are retried; failures caused by the data are dead-lettered",
        arguments: [
            (nil, StoreFailurePolicy.Decision.retry), ("08006", .retry), ("40001", .retry), ("40P01", .retry),
            ("53300", .retry), ("57P01", .retry), ("57014", .retry), ("55P03", .retry), ("58030", .retry),
            ("25006", .retry), ("28P01", .retry), ("28000", .retry), ("42501", .retry), ("22P05", .deadLetter),
            ("22021", .deadLetter),
            ("23505", .deadLetter), ("22001", .deadLetter), ("23514", .deadLetter), ("42P01", .deadLetter),
        ] as [(String?, StoreFailurePolicy.Decision)])
    func decisions(sqlState: String?, expected: StoreFailurePolicy.Decision) {
        #expect(StoreFailurePolicy.decide(sqlState: sqlState) == expected)
    }

    @Test("an empty environment gives the embedded default")
    func defaults() throws {
        let configuration = try SamuConfiguration(environment: [:])
        #expect(configuration.kafka.bootstrapServers == "127.0.0.1:19092")
        #expect(configuration.groupID == "samu-dispatch")
        #expect(configuration.database.host == "127.0.0.1")
        #expect(configuration.database.port == 15432)
        #expect(configuration.database.schema == "samu")
        #expect(configuration.batchSize == 500)
        #expect(configuration.sessionTimeoutMilliseconds == 45_000)
    }

    @Test("production settings pass through to librdkafka and PostgresNIO")
    func production() throws {
        let configuration = try SamuConfiguration(environment: [
            "SAMU_KAFKA_BOOTSTRAP_SERVERS": "kafka-1.gov.ma:9093,kafka-2.gov.ma:9093",
            "SAMU_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SAMU_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "SAMU_KAFKA_SASL_USERNAME": "samu-worker",
            "SAMU_KAFKA_SASL_PASSWORD": "secret",
            "SAMU_KAFKA_SSL_CA_LOCATION": "/etc/samu/kafka-ca.pem",
            "SAMU_KAFKA_PROPERTIES": "statistics.interval.ms=5000; client.rack=rabat-1",
            "SAMU_DATABASE_URL":
                "postgres://samu_worker:pw@db.gov.ma:5432/samu?sslmode=verify-full&sslrootcert=/etc/samu/pg-ca.pem",
            "SAMU_WORKER_ID": "w7",
        ])
        let properties = Dictionary(
            try configuration.consumer.librdkafkaProperties(), uniquingKeysWith: { _, last in last })
        #expect(properties["security.protocol"] == "sasl_ssl")
        #expect(properties["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(properties["sasl.username"] == "samu-worker")
        #expect(properties["sasl.password"] == "secret")
        #expect(properties["ssl.ca.location"] == "/etc/samu/kafka-ca.pem")
        #expect(properties["statistics.interval.ms"] == "5000")
        #expect(properties["client.rack"] == "rabat-1")
        #expect(properties["client.id"] == "samu-w7")
        #expect(configuration.database.tlsMode == .verifyFull)
        #expect(configuration.database.rootCertificatePath == "/etc/samu/pg-ca.pem")
    }

    @Test(
        "invalid settings name their variable",
        arguments: [
            ("SAMU_KAFKA_SECURITY_PROTOCOL", "tls"), ("SAMU_WORKER_BATCH_SIZE", "0"),
            ("SAMU_KAFKA_SESSION_TIMEOUT_MS", "soon"), ("SAMU_DATABASE_URL", "mysql://x@y/z"),
            ("SAMU_KAFKA_PROPERTIES", "linger.ms"), ("SAMU_LOG_FORMAT", "xml"),
            ("SAMU_CONSOLE_ADDRESS", "8080"), ("SAMU_WORKER_HTTP_ADDRESS", "localhost:http"),
            ("SAMU_CONSOLE_SECURE_COOKIES", "yes"), ("SAMU_CONSOLE_CONNECTIONS_PER_CLIENT", "-1"),
        ])
    func invalid(variable: String, value: String) {
        let error = #expect(throws: SamuConfiguration.Invalid.self) {
            try SamuConfiguration(environment: [variable: value])
        }
        #expect(error?.variable == variable)
    }

    @Test("every variable the configuration reads is documented in the README's table")
    func documented() throws {
        let readme = try String(
            contentsOf: Repository.root.appendingPathComponent("README.md"), encoding: .utf8)
        for variable in SamuConfiguration.variables {
            #expect(readme.contains("`\(variable.name)`"), "\(variable.name) is missing from the README")
        }
    }
}

@Suite("JSON log lines")
struct JSONLogTests {
    @Test("one object per line: time in UTC with milliseconds, level, label, message, source, metadata as strings")
    func line() throws {
        let event = LogEvent(
            level: .warning, message: "database unavailable \"again\"", metadata: nil, source: "SamuPipeline",
            file: "f", function: "g", line: 1)
        let text = JSONLogHandler.line(
            event: event, label: "samu.worker", metadata: ["kafka.partition": "3", "zone.id": "rabat"],
            at: Date(timeIntervalSince1970: 1_768_000_000.25))
        #expect(text.hasSuffix("\n"))
        #expect(text.dropLast().contains("\n") == false)
        let object = try JSONParser.parse(String(text.dropLast()))
        #expect(object["time"]?.stringValue == "2026-01-09T23:06:40.250Z")
        #expect(object["level"]?.stringValue == "warning")
        #expect(object["label"]?.stringValue == "samu.worker")
        #expect(object["message"]?.stringValue == "database unavailable \"again\"")
        #expect(object["source"]?.stringValue == "SamuPipeline")
        #expect(object["kafka.partition"]?.stringValue == "3")
        #expect(object["zone.id"]?.stringValue == "rabat")
    }
}

@Suite("Night report window")
struct NightWindowTests {
    func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test("19:00 to 07:00 in Morocco: UTC+1 in winter, UTC+0 during Ramadan (the tz database)")
    func nights() throws {
        let january = try #require(NightReport.night(of: "2026-01-14"))
        #expect(january.from == utc("2026-01-14T18:00:00Z"))
        #expect(january.to == utc("2026-01-15T06:00:00Z"))
        let ramadan = try #require(NightReport.night(of: "2026-03-01"))
        #expect(ramadan.from == utc("2026-03-01T19:00:00Z"))
        #expect(ramadan.to == utc("2026-03-02T07:00:00Z"))
        // The night clocks go back from +01 to +00 (15 February 2026, 03:00): 13 hours long.
        let change = try #require(NightReport.night(of: "2026-02-14"))
        #expect(change.to.timeIntervalSince(change.from) == 13 * 3600)
        #expect(NightReport.night(of: "2026-02-30") == nil)
        #expect(NightReport.night(of: "yesterday") == nil)
    }

    @Test("the last night that began: before 19:00 it is yesterday's")
    func lastNight() {
        #expect(NightReport.lastNight(now: utc("2026-01-15T03:00:00Z")).from == utc("2026-01-14T18:00:00Z"))
        #expect(NightReport.lastNight(now: utc("2026-01-15T17:59:00Z")).from == utc("2026-01-14T18:00:00Z"))
        #expect(NightReport.lastNight(now: utc("2026-01-15T18:00:00Z")).from == utc("2026-01-15T18:00:00Z"))
    }
}

/// A clock a test moves by hand: the limiter's tests take no time and cannot be flaky.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}

@Suite("Rate limiter")
struct RateLimiterTests {
    let clock = ManualClock()
    func limiter(capacity: Int = 10_000) -> RateLimiter {
        RateLimiter(capacity: capacity) { [clock] in clock.now }
    }

    @Test("a burst, then refusal with the seconds to wait; each key has its own bucket")
    func buckets() {
        let limiter = limiter()
        #expect(limiter.take(client: "a", ratePerMinute: 60, burst: 2) == nil)
        #expect(limiter.take(client: "a", ratePerMinute: 60, burst: 2) == nil)
        #expect(limiter.take(client: "a", ratePerMinute: 60, burst: 2) == 1)
        #expect(limiter.take(client: "a", ratePerMinute: 6, burst: 2) == 10)
        #expect(limiter.take(client: "b", ratePerMinute: 60, burst: 2) == nil)
    }

    @Test("tokens come back at the rate: the wait a refusal names is the wait that works")
    func refill() {
        let limiter = limiter()
        for _ in 0..<5 { #expect(limiter.take(client: "a", ratePerMinute: 10, burst: 5) == nil) }
        // One token every 6 s.
        #expect(limiter.wait(client: "a", ratePerMinute: 10, burst: 5) == 6)
        clock.advance(by: .seconds(5))
        #expect(limiter.take(client: "a", ratePerMinute: 10, burst: 5) == 1)
        clock.advance(by: .seconds(1))
        #expect(limiter.wait(client: "a", ratePerMinute: 10, burst: 5) == nil)
        #expect(limiter.take(client: "a", ratePerMinute: 10, burst: 5) == nil)
        // A long quiet spell refills the burst, never more.
        clock.advance(by: .seconds(3600))
        for _ in 0..<5 { #expect(limiter.take(client: "a", ratePerMinute: 10, burst: 5) == nil) }
        #expect(limiter.take(client: "a", ratePerMinute: 10, burst: 5) != nil)
    }

    @Test("the table does not grow past its capacity: new keys wait, known keys keep their limits")
    func bounded() {
        let limiter = limiter(capacity: 3)
        for key in ["a", "b", "c"] { #expect(limiter.take(client: key, ratePerMinute: 1, burst: 2) == nil) }
        #expect(limiter.take(client: "d", ratePerMinute: 1, burst: 2) == 1)
        #expect(limiter.count == 3)
        #expect(limiter.take(client: "a", ratePerMinute: 1, burst: 2) == nil, "a known key keeps its second token")
        #expect(limiter.take(client: "a", ratePerMinute: 1, burst: 2) != nil)
    }

    @Test("full buckets are forgotten when the table is full")
    func forgetsRefilled() {
        let limiter = limiter(capacity: 2)
        #expect(limiter.take(client: "a", ratePerMinute: 60, burst: 1) == nil)
        #expect(limiter.take(client: "b", ratePerMinute: 60, burst: 1) == nil)
        // Not refilled yet: the new key waits.
        #expect(limiter.take(client: "c", ratePerMinute: 60, burst: 1) == 1)
        clock.advance(by: .seconds(1))
        #expect(limiter.take(client: "c", ratePerMinute: 60, burst: 1) == nil)
        #expect(limiter.count == 1)
    }
}

@Suite("Bounded queue")
struct BoundedQueueTests {
    @Test("a producer waits while the queue is full and continues when the consumer takes")
    func backPressure() async throws {
        let queue = BoundedQueue<Int>(capacity: 2)
        await queue.push([1, 2])
        let pushed = Task {
            await queue.push([3])
            return queue.count
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(queue.count == 2, "the third element must wait for room")
        #expect(await queue.pop() == [1, 2])
        _ = await pushed.value
        #expect(await queue.pop() == [3])
        queue.finish()
        #expect(await queue.pop() == nil)
    }

    @Test("finish wakes a waiting consumer, and what was queued is still delivered")
    func finishDrains() async {
        let queue = BoundedQueue<Int>(capacity: 10)
        let consumer = Task { () -> [Int] in
            var all: [Int] = []
            while let items = await queue.pop(limit: 2) { all += items }
            return all
        }
        await queue.push([1, 2, 3])
        queue.finish()
        #expect(await consumer.value == [1, 2, 3])
    }
}

@Suite("Database failure classification (integration)", .timeLimit(.minutes(1)))
struct FailureClassificationTests {
    @Test("a constraint violation inside a transaction is recognised by its SQLSTATE and dead-lettered, not retried")
    func insideTransaction() async throws {
        try await withTestStore { store in
            let error = await #expect(throws: (any Error).self) {
                let logger = Logger(label: "test")
                try await store.client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "insert into processed_events values (gen_random_uuid(), 't', 0, -1, now())", logger: logger)
                    try await connection.query("insert into cases (case_id) values (gen_random_uuid())", logger: logger)
                }
            }
            let failure = try #require(error)
            #expect(failure is PostgresTransactionError)
            #expect(StoreFailurePolicy.sqlState(of: failure) == "23502")
            #expect(StoreFailurePolicy.decide(failure) == .deadLetter)
        }
    }
}
