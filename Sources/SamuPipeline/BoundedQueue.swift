import Synchronization

/// A multi-producer, single-consumer async queue with a capacity: `push` waits while the queue
/// holds `capacity` elements or more, so a slow consumer slows its producers instead of growing
/// memory without bound.
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var finished = false
        var consumer: CheckedContinuation<Void, Never>?
        var producers: [CheckedContinuation<Void, Never>] = []
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Appends the elements (all of them, even past capacity), after waiting for room.
    func push(_ elements: [Element]) async {
        if elements.isEmpty { return }
        while true {
            let (accepted, consumer) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                // After finish, elements are still accepted (never lost): pop drains them first.
                guard state.finished || state.buffer.count < capacity else { return (false, nil) }
                state.buffer += elements
                defer { state.consumer = nil }
                return (true, state.consumer)
            }
            consumer?.resume()
            if accepted { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.finished || state.buffer.count < capacity { return true }
                    state.producers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Takes everything queued (at most `limit`), waiting while the queue is empty; nil once the
    /// queue is finished and drained.
    func pop(limit: Int = .max) async -> [Element]? {
        while true {
            let (taken, producers, done) = state.withLock {
                state -> ([Element], [CheckedContinuation<Void, Never>], Bool) in
                if state.buffer.isEmpty { return ([], [], state.finished) }
                let count = min(limit, state.buffer.count)
                let taken = Array(state.buffer.prefix(count))
                state.buffer.removeFirst(count)
                defer { state.producers.removeAll() }
                return (taken, state.producers, false)
            }
            for producer in producers { producer.resume() }
            if !taken.isEmpty { return taken }
            if done { return nil }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.buffer.isEmpty || state.finished { return true }
                    state.consumer = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// No more elements will be pushed; `pop` returns nil once the queue is drained.
    func finish() {
        let (consumer, producers) = state.withLock {
            state -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            state.finished = true
            defer {
                state.consumer = nil
                state.producers.removeAll()
            }
            return (state.consumer, state.producers)
        }
        consumer?.resume()
        for producer in producers { producer.resume() }
    }

    /// Removes the queued elements that match (not those already popped) and returns them.
    func removeAll(where shouldRemove: (Element) -> Bool) -> [Element] {
        let (removed, producers) = state.withLock { state -> ([Element], [CheckedContinuation<Void, Never>]) in
            var kept: [Element] = []
            var removed: [Element] = []
            for element in state.buffer {
                if shouldRemove(element) { removed.append(element) } else { kept.append(element) }
            }
            if removed.isEmpty { return ([], []) }
            state.buffer = kept
            defer { state.producers.removeAll() }
            return (removed, state.producers)
        }
        for producer in producers { producer.resume() }
        return removed
    }

    var count: Int { state.withLock { $0.buffer.count } }
}
