import Synchronization

/// Bounds how many published batches may await their delivery reports at once, for one
/// publishing task: ``acquire()`` waits while `limit` batches are out, ``release()`` (from any
/// thread, when a batch's reports are in) makes room, ``drained()`` waits until none is out.
final class DeliveryWindow: Sendable {
    private struct State {
        var outstanding = 0
        /// The publishing task, waiting for room (`emptied` false) or for every batch (true).
        var waiter: (continuation: CheckedContinuation<Void, Never>, emptied: Bool)?
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        precondition(limit > 0)
        self.limit = limit
    }

    /// Batches out now.
    var outstanding: Int { state.withLock { $0.outstanding } }

    /// The publishing task is waiting (for room or for the last batch), for tests.
    var isWaiting: Bool { state.withLock { $0.waiter != nil } }

    /// Takes a place for one more batch, waiting while `limit` are out. The place is taken under
    /// the same lock as the check (by ``release()`` when it wakes the waiter).
    func acquire() async {
        await wait(emptied: false)
    }

    /// A batch's reports are in: its place is free.
    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            precondition(state.outstanding > 0, "a delivery window released more than it gave")
            state.outstanding -= 1
            guard let waiter = state.waiter, Self.satisfied(state.outstanding, limit: limit, emptied: waiter.emptied)
            else { return nil }
            state.waiter = nil
            if !waiter.emptied { state.outstanding += 1 }
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Waits until every batch's reports are in.
    func drained() async {
        await wait(emptied: true)
    }

    private func wait(emptied: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if Self.satisfied(state.outstanding, limit: limit, emptied: emptied) {
                    if !emptied { state.outstanding += 1 }
                    return true
                }
                precondition(state.waiter == nil, "a delivery window serves one publishing task")
                state.waiter = (continuation, emptied)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private static func satisfied(_ outstanding: Int, limit: Int, emptied: Bool) -> Bool {
        emptied ? outstanding == 0 : outstanding < limit
    }
}
