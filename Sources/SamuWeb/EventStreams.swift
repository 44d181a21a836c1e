import HTTPTypes
import Hummingbird
import Synchronization

/// How many live event streams each holder (a session, a device) has open, within a limit: a
/// page holds one, reloads and tabs add more, and nobody may hold the server's tasks by opening
/// hundreds.
final class StreamSlots: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for `holder`; false when it already holds `limit`.
    func take(_ holder: String) -> Bool {
        open.withLock { open in
            let count = open[holder, default: 0]
            guard count < limit else { return false }
            open[holder] = count + 1
            return true
        }
    }

    /// Gives a slot back (the stream ended).
    func give(_ holder: String) {
        open.withLock { open in
            open[holder, default: 1] -= 1
            if open[holder] == 0 { open[holder] = nil }
        }
    }
}

extension Response {
    /// A server-sent events response (no caching, no proxy buffering) with `body`.
    static func eventStream(_ body: ResponseBody) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream", .cacheControl: "no-store",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ],
            body: body)
    }
}
