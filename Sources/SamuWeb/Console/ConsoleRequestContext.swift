import Foundation
import Hummingbird
import NIOCore

/// A console request's context: Hummingbird's core context, the client's address (which the
/// login and credential limits are keyed by) and, once ``SessionMiddleware`` let the request in,
/// the operator's session.
public struct ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The session the request's cookie opened (set by ``SessionMiddleware``).
    public var session: ConsoleSession?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The client as the login and credential limits know it: its IPv4 address, or its IPv6
    /// address's /64 (not its port), or `unknown`. Behind a reverse proxy this is the proxy's: give
    /// each console its own proxy-to-console network, or limit at the proxy.
    public var clientAddress: String { Self.limitKey(remoteAddress) }

    /// One key per IPv4 address and per IPv6 /64: a single subscriber is given a whole /64, so
    /// keyed by full address one client could take 2^64 fresh keys, fill the limiters' tables and
    /// have every new address refused. An IPv4 address mapped into IPv6 is its IPv4 address.
    static func limitKey(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        guard case .v6(let v6) = address else { return address.ipAddress ?? "unknown" }
        let bytes = unsafe withUnsafeBytes(of: v6.address.sin6_addr) { unsafe Array($0) }
        guard bytes.count == 16 else { return address.ipAddress ?? "unknown" }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        let groups = stride(from: 0, to: 8, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":") + "::/64"
    }

    /// The session of a route behind ``SessionMiddleware``.
    func requireSession() throws -> ConsoleSession {
        guard let session else { throw Problem(.unauthorized, "log in first") }
        return session
    }

    /// The session of a board route: any role but a shelter's (which keeps its shelters only).
    func requireBoardSession() throws -> ConsoleSession {
        let session = try requireSession()
        guard session.account.role.readsBoard else {
            throw Problem(.forbidden, "a shelter account keeps its shelters at /shelter, not the operators' board")
        }
        return session
    }

    /// The `{id}` of a case route; a malformed id is answered like an unknown case.
    func caseID() throws -> UUID {
        guard let id = try? parameters.require("id", as: UUID.self) else {
            throw Problem(.notFound, "no such case in your zones")
        }
        return id
    }
}
