import Logging
import PostgresNIO

/// A repository: the queries of one part of samu, run on the store's client and logged with its
/// caller's logger.
protocol StoreRepository: Sendable {
    var store: SamuStore { get }
    var logger: Logger { get }
}

extension StoreRepository {
    var client: PostgresClient { store.client }
}

/// Where a read runs: a connection leased from the pool for it, or the connection of a
/// transaction already held (a read inside a transaction must not lease a second connection).
enum Reader: Sendable {
    case pool(PostgresClient)
    case connection(PostgresConnection)

    func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        switch self {
        case .pool(let client): try await client.query(query, logger: logger)
        case .connection(let connection): try await connection.query(query, logger: logger)
        }
    }
}
