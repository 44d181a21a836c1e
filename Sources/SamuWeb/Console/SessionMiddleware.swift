import HTTPTypes
import Hummingbird
import SamuStore

/// Lets a request in with the session its cookie opens, or answers `401`. A state-changing request
/// (anything but GET and HEAD) must also carry the session's CSRF token in `X-CSRF-Token` and, when
/// the browser sends one, a same-origin `Origin`.
///
/// An address that sent many bad cookies is refused before its cookie costs a database query
/// (`credentialFailures`, shared with the intake's token checks).
struct SessionMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext

    static let cookie = "samu_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    let accounts: Accounts
    let credentialFailures: RateLimiter

    func handle(
        _ request: Request, context: ConsoleRequestContext,
        next: (Request, ConsoleRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let token = request.cookies[Self.cookie]?.value, !token.isEmpty else {
            throw Problem(.unauthorized, "log in first")
        }
        let address = context.clientAddress
        if let wait = credentialFailures.wait(client: address, ratePerMinute: 60, burst: 10) {
            throw Problem(.rateLimited, "too many invalid sessions from this address", retryAfter: wait)
        }
        guard let session = try await accounts.session(token: token) else {
            _ = credentialFailures.take(client: address, ratePerMinute: 60, burst: 10)
            throw Problem(.unauthorized, "log in first")
        }
        if request.method != .get && request.method != .head {
            try Self.checkOrigin(request)
            guard let sent = request.headers[Self.csrfHeader], Self.constantTimeEqual(sent, session.csrfToken) else {
                throw Problem(.csrf, "send the session's CSRF token in X-CSRF-Token")
            }
        }
        var context = context
        context.session = session
        return try await next(request, context)
    }

    /// A browser's `Origin`, when it sends one, must be this server's.
    static func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        let host = request.head.authority ?? ""
        guard origin == "http://\(host)" || origin == "https://\(host)" else {
            throw Problem(.forbidden, "cross-origin request refused")
        }
    }

    /// Compares secrets in a time that depends on their length only.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Headers every console response carries: no framing, no sniffing, scripts and styles from
/// samu only, no referrer; a ``Problem`` thrown anywhere below becomes its problem-details answer.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let problem as Problem {
            response = try problem.response(from: request, context: context)
        } catch {
            // A value every check above let through and the database refused (a NUL character in a
            // query parameter, a date out of its range): the client's mistake, answered as such.
            guard let refused = refusedValue(error) else { throw error }
            response = try Problem(.validation, "the database refuses this value: \(refused)", reason: "refused_value")
                .response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return response
    }
}
