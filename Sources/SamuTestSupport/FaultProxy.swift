import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP proxy on loopback that a fault test controls (F8): it forwards connections to a target
/// port, and can cut them and refuse new ones (`down`), hold every byte (`stalled`), or delay
/// each chunk (`slow`). Blocking threads, one pair per connection: for tests only.
public final class FaultProxy: Sendable {
    public enum Mode: Sendable, Equatable {
        case pass
        /// Existing connections are cut; new ones are accepted and closed at once.
        case down
        /// Connections stay open, nothing is forwarded.
        case stalled
        /// Each chunk is forwarded after this delay.
        case slow(Duration)
    }

    public let port: Int
    let target: Int
    private let listener: Int32
    private let state = Mutex<(mode: Mode, sockets: Set<Int32>, closed: Bool, cut: Int)>((.pass, [], false, 0))

    /// Sockets cut by going down (two per proxied connection): evidence that the fault hit.
    public var cutSockets: Int { state.withLock { $0.cut } }

    public init(target: Int) throws {
        self.target = target
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        unsafe setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.address(port: 0)
        let bound = unsafe withUnsafePointer(to: &address) {
            unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                unsafe bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            Glibc.close(fd)
            throw LoopbackHTTP.Failure(description: "proxy: cannot listen (\(errno))")
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = unsafe withUnsafeMutablePointer(to: &local) {
            unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: local.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public var mode: Mode {
        get { state.withLock { $0.mode } }
        set {
            let cut = state.withLock { state -> Set<Int32> in
                state.mode = newValue
                if newValue == .down {
                    defer { state.sockets.removeAll() }
                    state.cut += state.sockets.count
                    return state.sockets
                }
                return []
            }
            for fd in cut { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    public func stop() {
        let sockets = state.withLock { state -> Set<Int32> in
            state.closed = true
            return state.sockets
        }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        unsafe inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if state.withLock({ $0.closed }) { return }
                continue
            }
            if mode == .down {
                Glibc.close(client)
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.address(port: target)
            let connected = unsafe withUnsafePointer(to: &address) {
                unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                Glibc.close(client)
                Glibc.close(upstream)
                continue
            }
            state.withLock { $0.sockets.formUnion([client, upstream]) }
            Thread.detachNewThread { [self] in pump(from: client, to: upstream) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client) }
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        defer {
            shutdown(destination, Int32(SHUT_RDWR))
            shutdown(source, Int32(SHUT_RDWR))
            state.withLock { $0.sockets.subtract([source, destination]) }
        }
        while true {
            let count = unsafe buffer.withUnsafeMutableBytes { unsafe read(source, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            // Hold the bytes while stalled; drop the connection if it goes down meanwhile.
            while true {
                switch mode {
                case .pass: break
                case .down: return
                case .stalled:
                    usleep(50_000)
                    continue
                case .slow(let delay):
                    let (seconds, attoseconds) = delay.components
                    usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
                }
                break
            }
            var sent = 0
            while sent < count {
                // send(MSG_NOSIGNAL): a peer gone must end this pump, not raise SIGPIPE in the tests.
                let written = unsafe buffer[sent..<count].withUnsafeBytes {
                    unsafe send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if written <= 0 { return }
                sent += written
            }
        }
    }
}
