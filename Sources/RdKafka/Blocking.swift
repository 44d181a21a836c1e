import Foundation
import Synchronization

/// Runs a blocking librdkafka call (flush, close, a synchronous commit, a metadata request, an
/// admin wait, a topic read) on ``BlockingPool``'s threads, never on Swift's cooperative pool.
/// The one way this package blocks.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        BlockingPool.shared.submit { continuation.resume(returning: body()) }
    }
}

/// A fixed set of threads for librdkafka's blocking calls, fed in order. Bounded: a broker that
/// does not answer (every readiness probe's metadata request waiting its full timeout) queues
/// calls instead of starting a thread each.
final class BlockingPool: Sendable {
    static let shared = BlockingPool(threads: 8)

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    /// Counts queued jobs; a thread takes one per signal.
    private let queued = DispatchSemaphore(value: 0)

    init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "samu.rdkafka.blocking.\(index)"
            thread.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        queued.signal()
    }

    private func work() {
        while true {
            queued.wait()
            let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            job?()
        }
    }
}

extension String {
    /// Decodes a C string written into a `[CChar]` buffer (up to its first NUL).
    init(nulTerminated buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
