import Foundation
import Hummingbird
import Logging
import Metrics
import SamuStore
import Synchronization

/// Logging in and out, and who is logged in.
///
/// Logins are bounded by the client's address (10 at once, then 30 a minute, whatever the
/// accounts tried) and by address and account (5 at once, then 10 a minute): a stranger guessing
/// from one address neither reaches bcrypt often nor locks the real operator out, who logs in
/// from another address. There is deliberately no limit per account alone: that would let anyone
/// lock a named operator out. bcrypt (~0.25 s of CPU) runs a few at a time in all, one at a time
/// per address.
final class AuthController: Sendable {
    let accounts: Accounts
    let repository: BoardRepository
    let secureCookies: Bool
    let logger: Logger
    let loginsByAddress: RateLimiter
    let loginsByAccount: RateLimiter
    private let loginsInFlight = Mutex<[String: Int]>([:])
    static let maximumConcurrentLogins = 4
    static let maximumConcurrentLoginsPerAddress = 1

    init(
        accounts: Accounts, repository: BoardRepository, secureCookies: Bool, logger: Logger,
        loginsByAddress: RateLimiter = RateLimiter(), loginsByAccount: RateLimiter = RateLimiter()
    ) {
        self.accounts = accounts
        self.repository = repository
        self.secureCookies = secureCookies
        self.logger = logger
        self.loginsByAddress = loginsByAddress
        self.loginsByAccount = loginsByAccount
    }

    struct Me: Encodable {
        var account: OperatorAccount
        var csrf_token: String
        var regions: [String: String]
    }

    struct Login: Decodable {
        var operator_id: String
        var password: String
    }

    /// `POST /api/login`: open to anyone (it makes the session).
    func addPublicRoutes(to router: Router<ConsoleRequestContext>) {
        router.post("/api/login") { request, context in try await self.logIn(request, address: context.clientAddress) }
    }

    /// `POST /api/logout`, `GET /api/me`: behind ``SessionMiddleware``.
    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.post("logout") { _, context in
            let session = try context.requireSession()
            try await self.accounts.logOut(token: session.token)
            var response = JSONBody.response(["status": "logged_out"])
            response.setCookie(self.cookie(value: "", maxAge: 0))
            return response
        }
        group.get("me") { _, context in
            let session = try context.requireSession()
            let regions = try await self.repository.zoneRegions(session.account.zones)
            return JSONBody.response(Me(account: session.account, csrf_token: session.csrfToken, regions: regions))
        }
    }

    func cookie(value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: SessionMiddleware.cookie, value: value, maxAge: maxAge, path: "/", secure: secureCookies,
            httpOnly: true, sameSite: .strict)
    }

    func logIn(_ request: Request, address: String) async throws -> Response {
        try SessionMiddleware.checkOrigin(request)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw Problem(.unsupportedMediaType, "log in with a JSON body")
        }
        let buffer = try await request.body.collect(upTo: 4096)
        guard let login = try? JSONDecoder().decode(Login.self, from: Data(buffer: buffer)) else {
            throw Problem(.invalidBody, "send {\"operator_id\": …, \"password\": …}")
        }
        // Only well-formed logins reach the limiter, the logs and bcrypt.
        guard login.operator_id.wholeMatch(of: /[a-z0-9][a-z0-9._-]{0,63}/) != nil, login.password.utf8.count <= 1024
        else {
            ConsoleMetrics.loginFailures.increment()
            throw Problem(.unauthorized, "unknown account or wrong password")
        }
        if let wait = loginsByAddress.take(client: address, ratePerMinute: 30, burst: 10) {
            ConsoleMetrics.loginsLimited.increment()
            throw Problem(.rateLimited, "too many login attempts from this address; wait a little", retryAfter: wait)
        }
        if let wait = loginsByAccount.take(client: "\(address) \(login.operator_id)", ratePerMinute: 10, burst: 5) {
            ConsoleMetrics.loginsLimited.increment()
            throw Problem(.rateLimited, "too many login attempts for this account; wait a little", retryAfter: wait)
        }
        guard
            loginsInFlight.withLock({ inFlight -> Bool in
                let total = inFlight.values.reduce(0, +)
                let mine = inFlight[address, default: 0]
                guard total < Self.maximumConcurrentLogins, mine < Self.maximumConcurrentLoginsPerAddress else {
                    return false
                }
                inFlight[address] = mine + 1
                return true
            })
        else { throw Problem(.rateLimited, "too many logins at once; retry in a second", retryAfter: 1) }
        defer {
            loginsInFlight.withLock { inFlight in
                inFlight[address, default: 1] -= 1
                if inFlight[address] == 0 { inFlight[address] = nil }
            }
        }
        guard let session = try await accounts.logIn(operatorID: login.operator_id, password: login.password) else {
            ConsoleMetrics.loginFailures.increment()
            logger.notice("console login refused", metadata: ["operator.id": "\(login.operator_id)"])
            throw Problem(.unauthorized, "unknown account or wrong password")
        }
        logger.info("console login", metadata: ["operator.id": "\(session.account.id)"])
        var response = JSONBody.response(Me(account: session.account, csrf_token: session.csrfToken, regions: [:]))
        response.setCookie(cookie(value: session.token, maxAge: Int(accounts.sessionLifetime.components.seconds)))
        return response
    }
}

enum ConsoleMetrics {
    static let loginFailures = Metrics.Counter(label: "samu_console_login_failures_total")
    static let loginsLimited = Metrics.Counter(label: "samu_console_logins_limited_total")
}
