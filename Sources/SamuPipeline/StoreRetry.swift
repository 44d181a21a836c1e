import Logging
import Metrics
import SamuStore
import ServiceLifecycle

/// The worker's database calls: retried with backoff while the database cannot take them (down,
/// failing over, refusing the worker's rights), with an alert gauge and the worker's "stuck"
/// mark; a failure caused by the data is rethrown as ``DeterministicStoreFailure`` (the batch is
/// split or dead-lettered), fencing and redeliveries as themselves.
struct StoreRetry: Sendable {
    let logger: Logger
    let statistics: WorkerStatistics
    /// 1 while the database refuses writes for a reason that should pass (fail-over, rights,
    /// authentication, unavailability): an operator's alert; the batch waits, nothing is dead-lettered.
    let unwritable: Gauge
    /// The longest a single database call may take before it is abandoned and retried.
    let attemptDeadline: Duration

    /// Runs a database operation, retrying while the database is unavailable; a failure caused by
    /// the data is rethrown as ``DeterministicStoreFailure``.
    ///
    /// Each attempt has a deadline (``attemptDeadline``): a call that never answers (the F4 fault
    /// test saw a PostgresNIO call hang after PostgreSQL crashed) is abandoned and retried instead of
    /// stalling the worker for ever. The inbox makes the retry safe.
    func run<Result: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        var backoff = Duration.milliseconds(100)
        var attempts = 0
        defer {
            if attempts > 0 {
                unwritable.record(0)
                statistics.update { $0.stuck = nil }
            }
        }
        while true {
            do {
                return try await withDeadline(attemptDeadline, operation)
            } catch let error as ZoneFenced {
                throw error
            } catch let error as AlreadyProcessed {
                throw error
            } catch {
                switch StoreFailurePolicy.decide(error) {
                case .deadLetter:
                    throw DeterministicStoreFailure(description: String(reflecting: error))
                case .retry:
                    attempts += 1
                    unwritable.record(1)
                    let sqlState = StoreFailurePolicy.sqlState(of: error)
                    statistics.update {
                        // Stuck since the first refusal; the reason is the latest one's.
                        $0.storeRetries += 1
                        $0.stuck = .init(
                            since: $0.stuck?.since ?? .now,
                            reason: "database refuses writes (\(sqlState.map { "SQLSTATE \($0)" } ?? "unreachable"))")
                    }
                    let metadata: Logger.Metadata = [
                        "db.attempt": "\(attempts)", "error": "\(String(reflecting: error))",
                    ]
                    if attempts >= 5 {
                        logger.warning("database unavailable; the batch waits (offsets not stored)", metadata: metadata)
                    } else {
                        logger.info("database write failed; retrying", metadata: metadata)
                    }
                    if Task.isShuttingDownGracefully || Task.isCancelled { throw StoppedWhileRetrying() }
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
            }
        }
    }
}

/// The worker was asked to stop while it waited for the database; nothing was stored.
struct StoppedWhileRetrying: Error {}

/// The database refused a write for its data (a constraint, a value out of range): retrying cannot help.
struct DeterministicStoreFailure: Error, CustomStringConvertible {
    var description: String
}
