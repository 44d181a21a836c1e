import Synchronization

/// A database call that did not answer within its deadline.
struct StoreCallTimedOut: Error, CustomStringConvertible {
    var deadline: Duration
    var description: String { "the database did not answer within \(deadline)" }
}

/// Runs `operation`, or throws ``StoreCallTimedOut`` after `deadline` without waiting for it (it is
/// cancelled and left to finish on its own: a call stuck on a dead connection may never return).
///
/// The deadline is kept by ``DeadlineTimer/shared``, not by a sleeping task of its own: the worker
/// makes a call like this for every batch, and a timer task per call (created, armed with the
/// dispatch manager's thread, cancelled) cost a thirtieth of its CPU at 1,000 reports a second.
func withDeadline<Result: Sendable>(
    _ deadline: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    let race = DeadlineRace<Result>()
    return try await withCheckedThrowingContinuation { continuation in
        race.start(continuation)
        let timer = DeadlineTimer.shared.add(at: .now + deadline) {
            if race.finish(.failure(StoreCallTimedOut(deadline: deadline))) { race.cancelWork() }
        }
        race.setWork(
            Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                DeadlineTimer.shared.remove(timer)
            })
    }
}

/// Resumes a continuation once, with whichever of the operation and the timer finishes first.
final class DeadlineRace<Result: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Result, any Error>?>(nil)
    private let work = Mutex<Task<Void, Never>?>(nil)

    func setWork(_ task: Task<Void, Never>) { work.withLock { $0 = task } }
    func cancelWork() { work.withLock { $0 }?.cancel() }

    func start(_ continuation: CheckedContinuation<Result, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    @discardableResult
    func finish(_ result: Swift.Result<Result, any Error>) -> Bool {
        guard
            let continuation = continuation.withLock({ state in
                defer { state = nil }; return state
            })
        else {
            return false
        }
        continuation.resume(with: result)
        return true
    }
}

/// Deadlines kept by a sleeping task armed for the earliest of them (one task in the usual case).
///
/// Adding a deadline later than one a sleeper wakes for (the usual case: calls with the same
/// allowance, one after another) costs a lock and a table entry; removing it, the same. A sleeper
/// that wakes fires the deadlines that are due and arms another for the earliest left, unless one
/// already wakes by then. A deadline removed before it is due never fires.
final class DeadlineTimer: Sendable {
    static let shared = DeadlineTimer()

    struct Token: Hashable, Sendable { fileprivate let value: UInt64 }

    private struct State {
        var entries: [UInt64: (at: ContinuousClock.Instant, fire: @Sendable () -> Void)] = [:]
        var nextToken: UInt64 = 0
        /// When each sleeping task wakes (one in the usual case).
        var sleeping: [ContinuousClock.Instant] = []
        /// Sleepers started, for tests.
        var sleepersStarted = 0

        /// Whether a sleeper wakes by `instant`; if none does, one is counted as armed for it.
        mutating func arm(for instant: ContinuousClock.Instant) -> Bool {
            if sleeping.contains(where: { $0 <= instant }) { return false }
            sleeping.append(instant)
            sleepersStarted += 1
            return true
        }
    }

    private let state = Mutex(State())

    /// Sleeping tasks started so far (one per deadline earlier than every armed one).
    var sleepersStarted: Int { state.withLock { $0.sleepersStarted } }

    /// Deadlines not yet fired nor removed.
    var pending: Int { state.withLock { $0.entries.count } }

    /// Calls `fire` at `instant` (on a task of its own), unless the deadline is removed first.
    func add(at instant: ContinuousClock.Instant, _ fire: @escaping @Sendable () -> Void) -> Token {
        let (token, arm) = state.withLock { state -> (UInt64, Bool) in
            let token = state.nextToken
            state.nextToken += 1
            state.entries[token] = (instant, fire)
            return (token, state.arm(for: instant))
        }
        if arm { sleep(until: instant) }
        return Token(value: token)
    }

    func remove(_ token: Token) {
        _ = state.withLock { $0.entries.removeValue(forKey: token.value) }
    }

    private func sleep(until instant: ContinuousClock.Instant) {
        Task {
            try? await Task.sleep(until: instant, clock: .continuous)
            self.wake(armedFor: instant)
        }
    }

    /// Fires what is due and arms the next sleeper for the earliest deadline left, unless another
    /// sleeper wakes by then.
    private func wake(armedFor instant: ContinuousClock.Instant) {
        let now = ContinuousClock.now
        let (due, next) = state.withLock { state -> ([@Sendable () -> Void], ContinuousClock.Instant?) in
            if let index = state.sleeping.firstIndex(of: instant) { state.sleeping.remove(at: index) }
            var dueTokens: [UInt64] = []
            var earliest: ContinuousClock.Instant?
            for (token, entry) in state.entries {
                if entry.at <= now {
                    dueTokens.append(token)
                } else if earliest.map({ entry.at < $0 }) ?? true {
                    earliest = entry.at
                }
            }
            let due = dueTokens.compactMap { state.entries.removeValue(forKey: $0)?.fire }
            guard let earliest, state.arm(for: earliest) else { return (due, nil) }
            return (due, earliest)
        }
        for fire in due { fire() }
        if let next { sleep(until: next) }
    }
}
