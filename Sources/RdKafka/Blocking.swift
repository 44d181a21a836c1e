import Foundation

/// Runs a blocking librdkafka call (flush, close, a synchronous commit, an admin wait) on a thread of
/// its own, so that it never blocks Swift's cooperative thread pool.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = "samu.rdkafka.blocking"
        thread.start()
    }
}

extension String {
    /// Decodes a C string written into a `[CChar]` buffer (up to its first NUL).
    init(nulTerminated buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
