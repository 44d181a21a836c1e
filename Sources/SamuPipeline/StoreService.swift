import SamuStore
import ServiceLifecycle

/// The PostgreSQL connection pool as a service: put it before the worker in a `ServiceGroup`, so
/// that it starts first and shuts down last.
public struct StoreService: Service {
    public let store: SamuStore

    public init(store: SamuStore) {
        self.store = store
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await store.run()
        }
    }
}
