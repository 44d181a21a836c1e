import Synchronization
import Testing

@testable import RdKafka
@testable import SamuPipeline

@Suite("Batches awaiting delivery: the window and the handler", .timeLimit(.minutes(1)))
struct DeliveryWindowTests {
    @Test(
        "never more than the limit out, releases from other threads let the publisher on, and drained waits for the last"
    )
    func bounded() async {
        let window = DeliveryWindow(limit: 3)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                await window.acquire()
                let out = window.outstanding
                #expect(out <= 3)
                // Released later, by another task, as a delivery thread would.
                group.addTask {
                    await Task.yield()
                    window.release()
                }
            }
            await window.drained()
            #expect(window.outstanding == 0)
        }
    }

    @Test("with the limit out, the publisher waits until a batch is released")
    func waitsAtLimit() async {
        let window = DeliveryWindow(limit: 3)
        for _ in 0..<3 { await window.acquire() }
        await expectParkedUntilRelease(window) { await window.acquire() }
        #expect(window.outstanding == 3)
    }

    @Test("drained returns at once when nothing is out, and waits for a batch that is")
    func drained() async {
        let window = DeliveryWindow(limit: 8)
        await window.drained()
        await window.acquire()
        await expectParkedUntilRelease(window) { await window.drained() }
        #expect(window.outstanding == 0)
    }

    /// Runs `operation` in a task, checks it stays parked on the window until one batch is
    /// released, then that it finishes.
    private func expectParkedUntilRelease(
        _ window: DeliveryWindow, _ operation: @escaping @Sendable () async -> Void
    ) async {
        let done = Flag()
        let task = Task {
            await operation()
            done.value.withLock { $0 = true }
        }
        while !window.isWaiting { await Task.yield() }
        #expect(done.value.withLock { $0 } == false)
        let before = window.outstanding
        window.release()
        await task.value
        #expect(done.value.withLock { $0 })
        #expect(before > 0)
    }

    @Test("a batch's handler gets every report in submission order, once, whether set before or after the last one")
    func handler() {
        for handlerFirst in [true, false] {
            let batch = KafkaDeliveryBatch(count: 3)
            let calls = Mutex<[[Int64]]>([])
            let handle: @Sendable (KafkaDeliveryBatch.Results) -> Void = { results in
                calls.withLock { $0.append(results.map { (try? $0.get().offset) ?? -1 }) }
            }
            if handlerFirst { batch.whenComplete(handle) }
            batch.complete(2, with: .success(KafkaDeliveryReport(topic: "t", partition: 0, offset: 12)))
            batch.complete(0, with: .success(KafkaDeliveryReport(topic: "t", partition: 0, offset: 10)))
            #expect(calls.withLock { $0.isEmpty })
            batch.complete(1, with: .failure(KafkaError(kind: .closed, message: "closed")))
            if !handlerFirst { batch.whenComplete(handle) }
            #expect(calls.withLock { $0 } == [[10, -1, 12]], "handler set first: \(handlerFirst)")
        }
    }
}

private final class Flag: Sendable {
    let value = Mutex(false)
}
