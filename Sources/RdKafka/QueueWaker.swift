import CRdKafka
import Synchronization

/// Wakes an async poller when a librdkafka queue goes from empty to non-empty.
///
/// librdkafka calls ``queueNonEmpty(_:_:)`` from one of its own threads
/// (`rd_kafka_queue_cb_event_enable`); the poller drains the queue with zero-timeout polls, then
/// awaits ``wait(atMost:)``. A signal that arrives while nobody waits is remembered, so no wake-up is
/// lost between the last empty poll and the wait. The timeout is a safety net, not the mechanism.
final class QueueWaker: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
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

    /// Returns when the queue has (probably) something, after `timeout`, or when the task is cancelled.
    func wait(atMost timeout: Duration) async {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self?.signal() }
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
    }
}

/// The C callback librdkafka calls when a queue becomes non-empty; `opaque` is an unretained
/// ``QueueWaker`` that the owning client keeps alive until the callback is disabled.
let queueNonEmpty: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, opaque in
    guard let opaque = unsafe opaque else { return }
    unsafe Unmanaged<QueueWaker>.fromOpaque(opaque).takeUnretainedValue().signal()
}
