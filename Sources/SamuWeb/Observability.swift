import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Prometheus
import RdKafka
import SamuStore
import Synchronization

/// One dependency `/health/ready` checks: the database, the migrations, the broker.
public struct ReadinessCheck: Sendable {
    public var name: String
    public var check: @Sendable () async throws -> Void

    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }

    /// The database answers a query.
    public static func database(_ store: SamuStore, logger: Logger) -> ReadinessCheck {
        ReadinessCheck(name: "database") {
            try await store.ping()
        }
    }

    /// Every migration this build knows is applied.
    public static func migrations(_ store: SamuStore) -> ReadinessCheck {
        ReadinessCheck(name: "migrations") { try await store.requireMigrated() }
    }

    /// A broker answers a metadata request.
    public static func broker(_ producer: @escaping @Sendable () -> KafkaProducer?) -> ReadinessCheck {
        ReadinessCheck(name: "broker") {
            guard let producer = producer() else { throw ConsoleError("not connected yet") }
            try await producer.checkBroker(timeout: .seconds(2))
        }
    }
}

/// A readiness check's own verdict, shown as is (other errors show as `failed`, their text logged).
public struct ReadinessFailure: Error, Sendable {
    public var code: String
    public init(_ code: String) { self.code = code }
}

/// Prometheus metrics for the whole process: the executable bootstraps swift-metrics once with a
/// registry (``bootstrap()``) and hands it to the listeners whose `/metrics` renders it in the text
/// exposition format. Libraries never bootstrap; tests use `MetricsTestKit`.
public enum SamuMetrics {
    /// Decision latency buckets: from a report's consumption to the commit of its decision.
    public static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(50), .milliseconds(100),
        .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]

    private static let shared = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics with a Prometheus registry and returns it; called by `samu worker`
    /// and `samu console` before any metric is made (swift-metrics binds each metric to the
    /// factory of its time). A second call returns the same registry.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        shared.withLock { shared in
            if let registry = shared { return registry }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.defaultDurationHistogramBuckets = latencyBuckets
            MetricsSystem.bootstrap(factory)
            shared = registry
            return registry
        }
    }
}

/// `/metrics`, `/health/live` and `/health/ready`: the same three on the console and on a worker.
public enum OpsEndpoints {
    struct Readiness: Encodable {
        var status: String
        var checks: [String: String]
    }

    public static func add<Context: RequestContext>(
        to router: Router<Context>, registry: PrometheusCollectorRegistry, checks: [ReadinessCheck]
    ) {
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        // Live: the process answers (a supervisor restarts it otherwise).
        router.get("/health/live") { _, _ -> Response in
            JSONBody.response(Readiness(status: "live", checks: [:]))
        }
        // Ready: every dependency answers; a load balancer sends no traffic otherwise. Probes
        // closer together than a second share one run of the checks.
        let cache = ReadinessCache(checks: checks)
        router.get("/health/ready") { _, _ -> Response in
            let results = await cache.results()
            let ready = results.values.allSatisfy { $0 == "ok" }
            return JSONBody.response(
                Readiness(status: ready ? "ready" : "not_ready", checks: results),
                status: ready ? .ok : .serviceUnavailable)
        }
    }

    /// Runs the checks concurrently, each bounded to 3 s.
    static func run(_ checks: [ReadinessCheck]) async -> [String: String] {
        await withTaskGroup(of: (String, String).self) { group in
            for check in checks {
                group.addTask {
                    do {
                        try await withThrowingTaskGroup(of: Void.self) { inner in
                            inner.addTask { try await check.check() }
                            inner.addTask {
                                try await Task.sleep(for: .seconds(3))
                                throw ConsoleError("no answer within 3 s")
                            }
                            defer { inner.cancelAll() }
                            try await inner.next()
                        }
                        return (check.name, "ok")
                    } catch let failure as ReadinessFailure {
                        return (check.name, failure.code)
                    } catch {
                        // The error's text stays in the logs: an HTTP answer says only that it failed.
                        Logger(label: "samu.health").warning(
                            "readiness check failed",
                            metadata: ["health.check": "\(check.name)", "error": "\(String(reflecting: error))"])
                        return (check.name, "failed")
                    }
                }
            }
            var results: [String: String] = [:]
            for await (name, result) in group { results[name] = result }
            return results
        }
    }
}

/// At most one run of the readiness checks at a time, and its answer reused for a second: a
/// flood of probes cannot pile up blocking broker metadata requests.
actor ReadinessCache {
    let checks: [ReadinessCheck]
    private var last: (at: ContinuousClock.Instant, results: [String: String])?
    private var running: Task<[String: String], Never>?

    init(checks: [ReadinessCheck]) {
        self.checks = checks
    }

    func results() async -> [String: String] {
        if let last, ContinuousClock.now - last.at < .seconds(1) { return last.results }
        if let running { return await running.value }
        let task = Task { [checks] in await OpsEndpoints.run(checks) }
        running = task
        let results = await task.value
        last = (.now, results)
        running = nil
        return results
    }
}
