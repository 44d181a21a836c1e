import Crypto
import Foundation
import HummingbirdBcrypt
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SamuStore
import Synchronization

/// A console account: a dispatch operator or a supervisor, scoped to its zones (province and
/// prefecture codes). Supervisors may also release another operator's claim.
public struct OperatorAccount: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        case `operator`
        case supervisor
    }

    public var id: String
    public var displayName: String
    public var role: Role
    public var zones: [String]

    public init(id: String, displayName: String, role: Role, zones: [String]) {
        self.id = id
        self.displayName = displayName
        self.role = role
        self.zones = zones
    }

    enum CodingKeys: String, CodingKey {
        case id
        case displayName = "display_name"
        case role
        case zones
    }

    public func mayAct(in zone: String) -> Bool { zones.contains(zone) }
}

/// A logged-in console session as the browser holds it: the cookie's token and the CSRF token
/// the page echoes in a header on every state-changing request.
public struct ConsoleSession: Sendable {
    public var token: String
    public var csrfToken: String
    public var account: OperatorAccount
    public var expiresAt: Date
}

/// A hotline system allowed to post reports over HTTP.
public struct IntakeClient: Sendable, Equatable {
    public var id: String
    public var ratePerMinute: Int
    public var burst: Int
    /// The zones it may report for; `nil`: every zone.
    public var zones: [String]?

    public func mayReport(for zone: String) -> Bool { zones?.contains(zone) ?? true }
}

/// Accounts, sessions and API tokens in PostgreSQL. Only hashes are stored: bcrypt for operators'
/// passwords (chosen, low-entropy secrets), SHA-256 for the random session and API tokens (256
/// random bits each: a slow hash would add nothing but latency on every request).
public struct Accounts: Sendable {
    public let store: SamuStore
    let logger: Logger
    /// bcrypt's cost (2^cost rounds): 12 by default, ~0.25 s per check on one core here.
    public var bcryptCost: UInt8 = 12
    public var sessionLifetime: Duration = .seconds(12 * 3600)

    public init(store: SamuStore, logger: Logger) {
        self.store = store
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
        try await store.client.query(
            """
            insert into operators (operator_id, display_name, role, zones, password_hash)
            values (\(account.id), \(account.displayName), \(account.role.rawValue), \(account.zones), \(hash))
            on conflict (operator_id) do update set display_name = excluded.display_name, role = excluded.role,
                zones = excluded.zones, password_hash = excluded.password_hash, disabled = false
            """, logger: logger)
        // A new password (or scope) ends the account's open sessions.
        try await store.client.query(
            "delete from console_sessions where operator_id = \(account.id)", logger: logger)
    }

    public func operatorAccounts() async throws -> [OperatorAccount] {
        let rows = try await store.client.query(
            "select operator_id, display_name, role, zones from operators where not disabled order by operator_id",
            logger: logger)
        var accounts: [OperatorAccount] = []
        for try await (id, name, role, zones) in rows.decode((String, String, String, [String]).self) {
            accounts.append(
                OperatorAccount(id: id, displayName: name, role: .init(rawValue: role) ?? .operator, zones: zones))
        }
        return accounts
    }

    /// Checks a login; returns a new session, or `nil` for an unknown account or a wrong password
    /// (the same answer for both, and a bcrypt check in both cases, so timing tells nothing).
    public func logIn(operatorID: String, password: String) async throws -> ConsoleSession? {
        let rows = try await store.client.query(
            """
            select operator_id, display_name, role, zones, password_hash from operators
            where operator_id = \(operatorID) and not disabled
            """, logger: logger)
        var found: (OperatorAccount, String)?
        for try await (id, name, role, zones, hash) in rows.decode((String, String, String, [String], String).self) {
            found = (
                OperatorAccount(id: id, displayName: name, role: .init(rawValue: role) ?? .operator, zones: zones), hash
            )
        }
        // A hash of the same cost for unknown accounts: the check takes as long.
        let hash = found?.1 ?? decoyHash
        let matches = try await Self.offload { Bcrypt.verify(password, hash: hash) }
        guard let (account, _) = found, matches else { return nil }
        let token = Self.newToken(prefix: "")
        let csrf = Self.newToken(prefix: "")
        let now = Date()
        let expires = now.addingTimeInterval(Double(sessionLifetime.components.seconds))
        try await store.client.query(
            """
            insert into console_sessions (token_hash, operator_id, csrf_token, created_at, expires_at)
            values (\(Self.digest(token)), \(account.id), \(csrf), \(now), \(expires))
            """, logger: logger)
        // Expired sessions are removed as new ones are made.
        try await store.client.query("delete from console_sessions where expires_at < now()", logger: logger)
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
                try await store.client.query("delete from console_sessions where expires_at < now()", logger: logger)
                try await store.client.query(
                    "delete from intake_requests where created_at < now() - interval '7 days'", logger: logger)
            } catch {
                logger.notice("console purge failed; trying again later", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// The session a cookie's token opens, if it is known and not expired.
    public func session(token: String) async throws -> ConsoleSession? {
        let rows = try await store.client.query(
            """
            select o.operator_id, o.display_name, o.role, o.zones, s.csrf_token, s.expires_at
            from console_sessions s join operators o using (operator_id)
            where s.token_hash = \(Self.digest(token)) and s.expires_at > now() and not o.disabled
            """, logger: logger)
        for try await (id, name, role, zones, csrf, expires) in rows.decode(
            (String, String, String, [String], String, Date).self)
        {
            return ConsoleSession(
                token: token, csrfToken: csrf,
                account: OperatorAccount(
                    id: id, displayName: name, role: .init(rawValue: role) ?? .operator, zones: zones),
                expiresAt: expires)
        }
        return nil
    }

    public func logOut(token: String) async throws {
        try await store.client.query(
            "delete from console_sessions where token_hash = \(Self.digest(token))", logger: logger)
    }

    // MARK: - Intake clients

    /// Creates a client, or gives an existing one a new token; returns the token (shown once).
    public func saveIntakeClient(
        id: String, ratePerMinute: Int, burst: Int, zones: [String]? = nil
    ) async throws
        -> String
    {
        let token = Self.newToken(prefix: "samu_")
        try await store.client.query(
            """
            insert into intake_clients (client_id, token_hash, rate_per_minute, burst, zones)
            values (\(id), \(Self.digest(token)), \(ratePerMinute), \(burst), \(zones))
            on conflict (client_id) do update set token_hash = excluded.token_hash,
                rate_per_minute = excluded.rate_per_minute, burst = excluded.burst, zones = excluded.zones,
                disabled = false
            """, logger: logger)
        return token
    }

    /// The client a bearer token belongs to.
    public func intakeClient(token: String) async throws -> IntakeClient? {
        let rows = try await store.client.query(
            """
            select client_id, rate_per_minute, burst, zones from intake_clients
            where token_hash = \(Self.digest(token)) and not disabled
            """, logger: logger)
        for try await (id, rate, burst, zones) in rows.decode((String, Int, Int, [String]?).self) {
            return IntakeClient(id: id, ratePerMinute: rate, burst: burst, zones: zones)
        }
        return nil
    }
}
