import Synchronization
import Testing

@testable import RdKafka

@Suite("Queue waker: kept signals, timeouts, one shared timer", .timeLimit(.minutes(1)))
struct QueueWakerTests {
    @Test("a signal sent while nobody waits is kept for the next wait, which starts no timer")
    func rememberedSignal() async {
        let waker = QueueWaker()
        waker.signal()
        await waker.wait(atMost: .seconds(3600))
        #expect(waker.timersStarted == 0)
    }

    @Test("with no signal a wait ends at its timeout, not before")
    func timeout() async {
        let waker = QueueWaker()
        let clock = ContinuousClock()
        let began = clock.now
        await waker.wait(atMost: .milliseconds(30))
        #expect(clock.now - began >= .milliseconds(30))
        #expect(waker.timersStarted == 1)
    }

    @Test("a thousand waits each ended by a signal from another thread share the first wait's timer")
    func sharedTimer() async {
        let waker = QueueWaker()
        let woken = Wakes()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for _ in 0..<1000 {
                    await waker.wait(atMost: .seconds(3600))
                    woken.count.add(1, ordering: .sequentiallyConsistent)
                }
            }
            group.addTask {
                // Signals until the waiter has been woken a thousand times; a signal sent while it
                // is between waits is remembered, so some waits return without parking.
                while woken.count.load(ordering: .sequentiallyConsistent) < 1000 {
                    waker.signal()
                    await Task.yield()
                }
            }
        }
        #expect(woken.count.load(ordering: .sequentiallyConsistent) == 1000)
        #expect(waker.timersStarted <= 1)
    }

    @Test("a shorter wait after a long one is not held by the long one's timer")
    func shorterWait() async {
        let waker = QueueWaker()
        // The first wait arms an hour-long timer and is ended by a signal.
        async let first: Void = waker.wait(atMost: .seconds(3600))
        while waker.timersStarted == 0 { await Task.yield() }
        waker.signal()
        await first
        // The second wait needs its own, earlier timer, and ends by it, not by the hour-long one.
        let clock = ContinuousClock()
        let began = clock.now
        await waker.wait(atMost: .milliseconds(20))
        #expect(clock.now - began < .seconds(30))
        #expect(waker.timersStarted == 2)
    }

    @Test("a timer that fires while nobody waits is kept as a signal: the next wait returns at once")
    func timerBetweenWaits() async throws {
        let waker = QueueWaker()
        async let first: Void = waker.wait(atMost: .milliseconds(20))
        while waker.timersStarted == 0 { await Task.yield() }
        waker.signal()
        await first
        // The 20 ms timer fires with nobody waiting.
        try await Task.sleep(for: .milliseconds(200))
        await waker.wait(atMost: .seconds(3600))
        #expect(waker.timersStarted == 1)
    }

    @Test("cancelling the waiting task ends its wait")
    func cancellation() async {
        let waker = QueueWaker()
        let task = Task { await waker.wait(atMost: .seconds(3600)) }
        while waker.timersStarted == 0 { await Task.yield() }
        task.cancel()
        await task.value
        #expect(waker.timersStarted == 1)
    }
}

private final class Wakes: Sendable {
    let count = Atomic<Int>(0)
}
