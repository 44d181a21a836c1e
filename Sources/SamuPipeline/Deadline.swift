import Synchronization

/// A database call that did not answer within its deadline.
struct StoreCallTimedOut: Error, CustomStringConvertible {
    var deadline: Duration
    var description: String { "the database did not answer within \(deadline)" }
}

/// Runs `operation`, or throws ``StoreCallTimedOut`` after `deadline` without waiting for it (it is
/// cancelled and left to finish on its own: a call stuck on a dead connection may never return).
func withDeadline<Result: Sendable>(
    _ deadline: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    let race = DeadlineRace<Result>()
    return try await withCheckedThrowingContinuation { continuation in
        race.start(continuation)
        let timer = Task {
            try? await Task.sleep(for: deadline)
            if race.finish(.failure(StoreCallTimedOut(deadline: deadline))) { race.cancelWork() }
        }
        race.setWork(
            Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                timer.cancel()  // no sleeping timer left behind per call
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
