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

    /// Takes a slot for `holder`; nil when it already holds `limit`. The slot is given back when
    /// the last reference to it goes: keep it in the stream's body, which ends with the stream, or
    /// is dropped unrun when the client left before the answer's head could be sent.
    func take(_ holder: String) -> Slot? {
        let taken = open.withLock { open in
            let count = open[holder, default: 0]
            guard count < limit else { return false }
            open[holder] = count + 1
            return true
        }
        return taken ? Slot(slots: self, holder: holder) : nil
    }

    /// Slots `holder` holds (tests).
    func count(of holder: String) -> Int {
        open.withLock { $0[holder, default: 0] }
    }

    /// One stream's place, given back once (when it is released).
    final class Slot: Sendable {
        let slots: StreamSlots
        let holder: String

        init(slots: StreamSlots, holder: String) {
            self.slots = slots
            self.holder = holder
        }

        deinit { slots.give(holder) }
    }

    /// Gives a slot back (the stream ended).
    private func give(_ holder: String) {
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
