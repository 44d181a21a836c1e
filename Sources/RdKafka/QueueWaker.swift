import CRdKafka
import Synchronization

/// Wakes an async poller when a librdkafka queue goes from empty to non-empty.
///
/// librdkafka calls ``queueNonEmpty(_:_:)`` from one of its own threads
/// (`rd_kafka_queue_cb_event_enable`); the poller drains the queue with zero-timeout polls, then
/// awaits ``wait(atMost:)``. A signal that arrives while nobody waits is remembered, so no wake-up is
/// lost between the last empty poll and the wait. The timeout is a safety net, not the mechanism.
///
/// The timeout costs no task per wait: one timer is armed at a time and serves every wait that
/// ends after it fires. A poller woken by data (most waits, under load) leaves the timer armed for
/// the next wait, and the timer's firing is at worst one early, spurious wake-up, which a poller
/// answers with an empty poll.
final class QueueWaker: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
        /// When the armed timer fires; nil when none is armed.
        var timerFires: ContinuousClock.Instant?
        /// Timers started, for tests.
        var timersStarted = 0
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Timers started so far (one per wait that found none armed early enough).
    var timersStarted: Int { state.withLock { $0.timersStarted } }

    /// Returns when the queue has (probably) something, by `timeout` (perhaps earlier, when a timer
    /// armed by an earlier wait fires), or when the task is cancelled.
    func wait(atMost timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (resumeNow, arm) = state.withLock { state -> (Bool, Bool) in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return (true, false)
                    }
                    state.waiter = continuation
                    if let fires = state.timerFires, fires <= deadline { return (false, false) }
                    state.timerFires = deadline
                    state.timersStarted += 1
                    return (false, true)
                }
                if resumeNow { continuation.resume() }
                if arm {
                    Task { [weak self] in
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        self?.timerFired(deadline)
                    }
                }
            }
        } onCancel: {
            signal()
        }
    }

    private func timerFired(_ instant: ContinuousClock.Instant) {
        state.withLock { state in
            if state.timerFires == instant { state.timerFires = nil }
        }
        signal()
    }
}

/// The C callback librdkafka calls when a queue becomes non-empty; `opaque` is an unretained
/// ``QueueWaker`` that the owning client keeps alive until the callback is disabled.
let queueNonEmpty: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, opaque in
    guard let opaque = unsafe opaque else { return }
    unsafe Unmanaged<QueueWaker>.fromOpaque(opaque).takeUnretainedValue().signal()
}
