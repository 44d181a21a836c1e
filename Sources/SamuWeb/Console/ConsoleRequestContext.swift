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

    /// The client's IP address (not its port), or `unknown`. Behind a reverse proxy this is the
    /// proxy's: give each console its own proxy-to-console network, or limit at the proxy.
    public var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }

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
