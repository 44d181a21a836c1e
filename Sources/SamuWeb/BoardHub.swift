import Logging
import SamuStore
import Synchronization

/// Tells the console's live pages that the board changed: one `LISTEN` connection hears the
/// notifications the database sends when a batch that changed cases, the timeline, units or beds
/// commits (migration 8's triggers), and bumps a version the pages' streams watch.
public final class BoardHub: Sendable {
    private let state = Mutex<(version: UInt64, closed: Bool)>((0, false))
    public let channel: String

    public init(schema: String) {
        channel = "samu_board_\(schema)"
    }

    public var version: UInt64 { state.withLock { $0.version } }
    public var isClosed: Bool { state.withLock { $0.closed } }

    public func bump() { state.withLock { $0.version &+= 1 } }

    /// Ends every stream (graceful shutdown: open event streams must not hold the server up).
    public func close() { state.withLock { $0.closed = true } }

    /// Returns when the version moved past `seen`, the hub closed, or `timeout` passed.
    public func wait(after seen: UInt64, timeout: Duration) async -> UInt64 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (version, closed) = state.withLock { ($0.version, $0.closed) }
            if version != seen || closed || Task.isCancelled { return version }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return version
    }

    /// Listens until cancelled, reconnecting after a lost connection (the pages refresh on the
    /// reconnection too, so nothing committed meanwhile is missed).
    public func run(store: SamuStore, logger: Logger) async {
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled && !isClosed {
            do {
                try await store.listen(on: channel) { notifications in
                    bump()
                    backoff = .milliseconds(200)
                    for try await _ in notifications { bump() }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("board notifications lost; listening again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
