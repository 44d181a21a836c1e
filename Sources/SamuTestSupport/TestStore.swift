import Foundation
import Logging
import SamuStore

/// Runs `body` with a store on a schema of its own (created, migrated, then dropped), against the
/// real PostgreSQL started by `ops/`.
public func withTestStore<Result: Sendable>(
    migrate: Bool = true, _ body: (SamuStore) async throws -> Result
) async throws -> Result {
    let schema = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
    let configuration = try DatabaseConfiguration(url: TestEnvironment.databaseURL, schema: schema)
    return try await SamuStore.withStore(configuration: configuration, logger: TestEnvironment.logger("test-store")) {
        store in
        do {
            if migrate { try await store.migrate() }
            let result = try await body(store)
            try await store.dropSchema()
            return result
        } catch {
            try? await store.dropSchema()
            throw error
        }
    }
}
