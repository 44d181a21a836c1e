import Foundation
import SamuModel
import SamuStore

/// One board read per zone set and change: every stream watching the same zones gets the board
/// read once after a change (the database pool stays free for the intake and the worker's writes).
public actor BoardCache {
    let queries: BoardRepository
    private var entries: [[String]: (version: UInt64, task: Task<Board, any Error>)] = [:]

    public init(queries: BoardRepository) {
        self.queries = queries
    }

    public func board(zones: [String], version: UInt64) async throws -> Board {
        let key = zones.sorted()
        if let entry = entries[key], entry.version == version { return try await entry.task.value }
        let task = Task { [queries] in try await queries.board(zones: zones) }
        entries[key] = (version, task)
        if entries.count > 256 { entries = entries.filter { $0.value.version == version } }
        do {
            return try await task.value
        } catch {
            if entries[key]?.version == version { entries[key] = nil }
            throw error
        }
    }
}

extension BoardRepository {
    /// ``labels()`` with seeds/vocabulary.json's entries under `vocabulary` (case states, unit
    /// statuses, resolutions…).
    public func labelsWithVocabulary() async throws -> [String: [String: [String: String]]] {
        var labels = try await labels()
        labels["vocabulary"] = AssetController.loadVocabulary()
        return labels
    }

}
