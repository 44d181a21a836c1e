import Crypto
import Foundation
import HummingbirdBcrypt
import Logging
import NIOCore
import NIOPosix
import SamuStore
import Synchronization

/// A logged-in console session as the browser holds it: the cookie's token and the CSRF token
/// the page echoes in a header on every state-changing request.
public struct ConsoleSession: Sendable {
    public var token: String
    public var csrfToken: String
    public var account: OperatorAccount
    public var expiresAt: Date
}

/// Accounts, sessions and API tokens in PostgreSQL. Only hashes are stored: bcrypt for operators'
/// passwords (chosen, low-entropy secrets), SHA-256 for the random session and API tokens (256
/// random bits each: a slow hash would add nothing but latency on every request).
public struct Accounts: Sendable {
    public let store: SamuStore
    let repository: AccountRepository
    let logger: Logger
    /// bcrypt's cost (2^cost rounds): 12 by default, ~0.25 s per check on one core here.
    public var bcryptCost: UInt8 = 12
    public var sessionLifetime: Duration = .seconds(12 * 3600)

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.repository = AccountRepository(store: store, logger: logger)
        self.logger = logger
    }

    /// A new random secret: 32 bytes, base64url without padding, with a readable prefix.
    public static func newToken(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix
            + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The stored form of a token (bytea: PostgresNIO sends `[UInt8]` as an array, a buffer as bytes).
    static func digest(_ token: String) -> ByteBuffer { ByteBuffer(bytes: SHA256.hash(data: Data(token.utf8))) }

    // MARK: - Operators

    /// Creates or updates an account (the password is replaced).
    public func saveOperator(_ account: OperatorAccount, password: String) async throws {
        guard password.count >= 10 else { throw ConsoleError("a password needs at least 10 characters") }
        let cost = bcryptCost
        let hash = try await Self.offload { Bcrypt.hash(password, cost: cost) }
        try await repository.saveOperator(account, passwordHash: hash)
    }

    public func operatorAccounts() async throws -> [OperatorAccount] {
        try await repository.operatorAccounts()
    }

    /// Checks a login; returns a new session, or `nil` for an unknown account or a wrong password
    /// (the same answer for both, and a bcrypt check in both cases, so timing tells nothing).
    public func logIn(operatorID: String, password: String) async throws -> ConsoleSession? {
        let found = try await repository.credentials(operatorID: operatorID)
        // A hash of the same cost for unknown accounts: the check takes as long.
        let hash = found?.passwordHash ?? decoyHash
        let matches = try await Self.offload { Bcrypt.verify(password, hash: hash) }
        guard let (account, _) = found, matches else { return nil }
        let token = Self.newToken(prefix: "")
        let csrf = Self.newToken(prefix: "")
        let now = Date()
        let expires = now.addingTimeInterval(Double(sessionLifetime.components.seconds))
        try await repository.createSession(
            tokenDigest: Self.digest(token), operatorID: account.id, csrfToken: csrf, createdAt: now, expiresAt: expires
        )
        return ConsoleSession(token: token, csrfToken: csrf, account: account, expiresAt: expires)
    }

    /// A hash of the configured cost for unknown accounts (made once per cost).
    private var decoyHash: String {
        Self.decoys.withLock { decoys in
            if let hash = decoys[bcryptCost] { return hash }
            let hash = Bcrypt.hash("samu-decoy-password", cost: bcryptCost)
            decoys[bcryptCost] = hash
            return hash
        }
    }
    private static let decoys = Mutex<[UInt8: String]>([:])

    /// Runs bcrypt on NIO's blocking-work pool, not on the cooperative threads that serve
    /// requests and streams.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive { work() }
    }

    /// Removes expired sessions and idempotency keys older than a week, every hour, until cancelled.
    public func purgeRegularly() async {
        while !Task.isCancelled {
            do {
                try await repository.purgeExpired()
            } catch {
                logger.notice("console purge failed; trying again later", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// The session a cookie's token opens, if it is known and not expired.
    public func session(token: String) async throws -> ConsoleSession? {
        guard let found = try await repository.session(tokenDigest: Self.digest(token)) else { return nil }
        return ConsoleSession(
            token: token, csrfToken: found.csrfToken, account: found.account, expiresAt: found.expiresAt)
    }

    public func logOut(token: String) async throws {
        try await repository.deleteSession(tokenDigest: Self.digest(token))
    }

    // MARK: - Intake clients

    /// Creates a client, or gives an existing one a new token; returns the token (shown once).
    public func saveIntakeClient(
        id: String, ratePerMinute: Int, burst: Int, zones: [String]? = nil
    ) async throws
        -> String
    {
        let token = Self.newToken(prefix: "samu_")
        try await repository.saveIntakeClient(
            id: id, tokenDigest: Self.digest(token), ratePerMinute: ratePerMinute, burst: burst, zones: zones)
        return token
    }

    /// The client a bearer token belongs to.
    public func intakeClient(token: String) async throws -> IntakeClient? {
        try await repository.intakeClient(tokenDigest: Self.digest(token))
    }
}
