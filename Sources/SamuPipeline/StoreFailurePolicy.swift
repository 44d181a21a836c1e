import PostgresNIO

/// Decides what the worker does when a database write fails.
public enum StoreFailurePolicy {
    public enum Decision: Equatable, Sendable {
        /// The database or the network is the problem: retry the same batch (offsets unstored).
        case retry
        /// The data is the problem and will fail every time: isolate it and dead-letter it.
        case deadLetter
    }

    /// SQLSTATE classes that say "try again later": connection exceptions (08), invalid
    /// transaction state (25: `25006` read-only transaction, a primary demoted during a fail-over),
    /// invalid authorization (28: a rotated password), transaction rollbacks such as serialization
    /// failures and deadlocks (40), insufficient resources (53), operator intervention such as an
    /// admin shutdown (57), system errors (58).
    static let transientClasses: Set<String> = ["08", "25", "28", "40", "53", "57", "58"]
    /// Single states that say the same: lock not available (55P03) and insufficient privilege
    /// (42501: rights changed under the worker, which an administrator puts back). Neither is the
    /// data's fault, so neither may dead-letter an event.
    static let transientStates: Set<String> = ["55P03", "42501"]

    public static func decide(_ error: any Error) -> Decision {
        decide(sqlState: sqlState(of: error))
    }

    /// The SQLSTATE of a PostgreSQL error, looking inside transaction errors (where the failing
    /// statement's error is the closure's, or the commit's).
    static func sqlState(of error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if let error = error as? PostgresTransactionError {
            for inner in [error.closureError, error.commitError, error.beginError] {
                if let inner, let state = sqlState(of: inner) { return state }
            }
        }
        return nil
    }

    /// The rule on its own: no SQLSTATE (a connection or client failure) means retry.
    public static func decide(sqlState: String?) -> Decision {
        guard let sqlState else { return .retry }
        if transientStates.contains(sqlState) || transientClasses.contains(String(sqlState.prefix(2))) {
            return .retry
        }
        return .deadLetter
    }
}
