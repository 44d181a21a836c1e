import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-request HTTP/1.1 client over a TCP socket bound to a chosen loopback source address
/// (`127.0.0.2`, …): tests that a limit keyed by the client's address spares other addresses.
/// Blocking; for tests only.
public enum LoopbackHTTP {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func send(
        from source: String, port: Int, method: String, path: String, headers: [String: String] = [:],
        body: [UInt8] = []
    ) throws -> Reply {
        let connection = try Connection(from: source, port: port, timeout: 10)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        try connection.send(Array(head.utf8) + body)
        var response: [UInt8] = []
        reading: while true {
            switch connection.receive() {
            case .data(let bytes): response += bytes
            case .closed, .silent: break reading
            }
        }
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw Failure(description: "no HTTP response (\(response.count) bytes)")
        }
        let lines = String(decoding: response[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure(description: "bad status line \(lines.first ?? "")")
        }
        var replyHeaders: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            replyHeaders[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                .trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: replyHeaders, body: Array(response[split.upperBound...]))
    }
}

extension LoopbackHTTP {
    /// Runs blocking socket work on a thread of its own: on the cooperative pool it would starve
    /// the server under test in this same process.
    public static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// A raw TCP connection to a loopback port from a chosen source address, for tests of what the
    /// server does with a connection (closing a stalled one, keeping an idle one, refusing one
    /// too many). Blocking: use it on a thread of its own, never on the cooperative pool, where it
    /// would starve a server running in the same process.
    public final class Connection: @unchecked Sendable {
        let fd: Int32

        /// Connects from `source` to `127.0.0.1:port`; reads wait at most `timeout` seconds.
        public init(from source: String = "127.0.0.1", port: Int, timeout: Int) throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
            self.fd = fd
            var limit = timeval(tv_sec: timeout, tv_usec: 0)
            unsafe setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            func address(_ host: String, _ port: Int) -> sockaddr_in {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                unsafe inet_pton(AF_INET, host, &address.sin_addr)
                return address
            }
            var local = address(source, 0)
            let bound = unsafe withUnsafePointer(to: &local) {
                unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw Failure(description: "bind \(source): \(errno)") }
            var remote = address("127.0.0.1", port)
            let connected = unsafe withUnsafePointer(to: &remote) {
                unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { throw Failure(description: "connect: \(errno)") }
        }

        private var isClosed = false

        deinit { if !isClosed { close(fd) } }

        /// Resets the connection (an RST, as a phone losing its network or a browser's abort
        /// does): the server's next write to it fails. Nothing may be sent or read after it.
        public func reset() {
            var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
            unsafe setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
            close(fd)
            isClosed = true
        }

        public func send(_ text: String) throws {
            try send(Array(text.utf8))
        }

        public func send(_ bytes: [UInt8]) throws {
            var sent = 0
            while sent < bytes.count {
                let count = unsafe bytes[sent...].withUnsafeBytes { unsafe write(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { throw Failure(description: "write: \(errno)") }
                sent += count
            }
        }

        /// What a read saw.
        public enum Outcome: Sendable, Equatable {
            /// The server sent these bytes.
            case data([UInt8])
            /// The server closed the connection (or reset it), after these seconds.
            case closed(after: Double)
            /// Nothing came within the connection's read timeout.
            case silent
        }

        /// Reads (and drops) whatever comes until the server closes the connection, `.closed` with
        /// the seconds since the call; or `.silent` after the read timeout without a byte.
        public func waitForClose() -> Outcome {
            let started = ContinuousClock.now
            while true {
                switch receive() {
                case .data: continue
                case .silent: return .silent
                case .closed:
                    let elapsed = (ContinuousClock.now - started).components
                    return .closed(after: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
                }
            }
        }

        /// One read: bytes, the server's close, or silence until the read timeout.
        public func receive() -> Outcome {
            let started = ContinuousClock.now
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count = unsafe buffer.withUnsafeMutableBytes { unsafe read(fd, $0.baseAddress, $0.count) }
                if count > 0 { return .data(Array(buffer[0..<count])) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .silent }
                let elapsed = (ContinuousClock.now - started).components
                return .closed(after: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
            }
        }
    }
}
