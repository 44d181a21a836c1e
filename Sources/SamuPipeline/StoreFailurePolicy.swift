import PostgresNIO

/// Decides what the worker does when a database write fails.
public enum StoreFailurePolicy {
    public enum Decision: Equatable, Sendable {
        /// The database or the network is the problem: retry the same batch (offsets unstored).
        case retry
        /// The data is the problem and will fail every time: isolate it and dead-letter it.
        case deadLetter
    }

    /// SQLSTATE classes that say "try again later": connection exceptions (08), transaction
    /// rollbacks such as serialization failures and deadlocks (40), insufficient resources (53),
    /// operator intervention such as an admin shutdown (57), system errors (58), lock not
    /// available (55P03) and query canceled by timeout (57014, inside 57).
    static let transientClasses: Set<String> = ["08", "40", "53", "57", "58"]

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
        if sqlState == "55P03" || transientClasses.contains(String(sqlState.prefix(2))) { return .retry }
        return .deadLetter
    }
}
