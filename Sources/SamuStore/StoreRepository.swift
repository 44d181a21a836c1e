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
