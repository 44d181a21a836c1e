import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A console account: a dispatch operator, a supervisor, or a child-protection body's officer,
/// scoped to its zones (province and prefecture codes). Supervisors may also release another
/// operator's claim; a child-protection account acknowledges and decides its provinces' referrals
/// and sends no dispatch command.
public struct OperatorAccount: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        case `operator`
        case supervisor
        /// A child-protection body (prosecutor's office, hospital unit, provincial committee).
        case childProtection = "child_protection"
        /// A shelter's staff (or a network's): its beds and the people samu sends, nothing else.
        case shelter

        /// Whether the account may send dispatch commands (claim, reassign, cancel, close…).
        public var dispatches: Bool { self == .operator || self == .supervisor }
        /// Whether the account reads the operators' board and cases (a shelter account does not).
        public var readsBoard: Bool { self != .shelter }
        /// Whether the account may acknowledge and decide child-protection referrals.
        public var decidesReferrals: Bool { self == .childProtection || self == .supervisor }
    }

    public var id: String
    public var displayName: String
    public var role: Role
    public var zones: [String]
    /// The shelters a shelter account keeps (empty for other roles).
    public var shelters: [String]

    public init(id: String, displayName: String, role: Role, zones: [String], shelters: [String] = []) {
        self.id = id
        self.displayName = displayName
        self.role = role
        self.zones = zones
        self.shelters = shelters
    }

    enum CodingKeys: String, CodingKey {
        case id
        case displayName = "display_name"
        case role
        case zones
        case shelters
    }

    public func mayAct(in zone: String) -> Bool { zones.contains(zone) }
}

/// A hotline system allowed to post reports over HTTP.
public struct IntakeClient: Sendable, Equatable {
    public var id: String
    public var ratePerMinute: Int
    public var burst: Int
    /// The zones it may report for; `nil`: every zone.
    public var zones: [String]?

    public init(id: String, ratePerMinute: Int, burst: Int, zones: [String]?) {
        self.id = id
        self.ratePerMinute = ratePerMinute
        self.burst = burst
        self.zones = zones
    }

    public func mayReport(for zone: String) -> Bool { zones?.contains(zone) ?? true }
}

/// The console's accounts, sessions and intake clients, and the intake's idempotency keys, in
/// PostgreSQL. Only hashes reach it: bcrypt for operators' passwords, SHA-256 for tokens (the
/// console makes both; see `Accounts`).
public struct AccountRepository: StoreRepository {
    let store: SamuStore
    let logger: Logger

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Creates or updates an operator (the password hash is replaced) and ends the account's open
    /// sessions (a new password or scope), in one transaction.
    public func saveOperator(_ account: OperatorAccount, passwordHash hash: String) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                insert into operators (operator_id, display_name, role, zones, password_hash, shelters)
                values (\(account.id), \(account.displayName), \(account.role.rawValue), \(account.zones), \(hash),
                    \(account.shelters))
                on conflict (operator_id) do update set display_name = excluded.display_name, role = excluded.role,
                    zones = excluded.zones, password_hash = excluded.password_hash, disabled = false,
                    shelters = excluded.shelters
                """, logger: logger)
            try await connection.query(
                "delete from console_sessions where operator_id = \(account.id)", logger: logger)
        }
    }

    public func operatorAccounts() async throws -> [OperatorAccount] {
        let rows = try await client.query(
            """
            select operator_id, display_name, role, zones, shelters from operators where not disabled
            order by operator_id
            """,
            logger: logger)
        var accounts: [OperatorAccount] = []
        for try await (id, name, role, zones, shelters) in rows.decode(
            (String, String, String, [String], [String]).self)
        {
            accounts.append(
                OperatorAccount(
                    id: id, displayName: name, role: .init(rawValue: role) ?? .operator, zones: zones,
                    shelters: shelters))
        }
        return accounts
    }

    /// An enabled operator and its password hash, for a login check.
    public func credentials(operatorID: String) async throws -> (account: OperatorAccount, passwordHash: String)? {
        let rows = try await client.query(
            """
            select operator_id, display_name, role, zones, password_hash, shelters from operators
            where operator_id = \(operatorID) and not disabled
            """, logger: logger)
        for try await (id, name, role, zones, hash, shelters) in rows.decode(
            (String, String, String, [String], String, [String]).self)
        {
            return (
                OperatorAccount(
                    id: id, displayName: name, role: .init(rawValue: role) ?? .operator, zones: zones,
                    shelters: shelters), hash
            )
        }
        return nil
    }

    /// Stores a new session under its token's digest; expired sessions go as new ones are made.
    public func createSession(
        tokenDigest: ByteBuffer, operatorID: String, csrfToken: String, createdAt: Date, expiresAt: Date
    ) async throws {
        try await client.query(
            """
            insert into console_sessions (token_hash, operator_id, csrf_token, created_at, expires_at)
            values (\(tokenDigest), \(operatorID), \(csrfToken), \(createdAt), \(expiresAt))
            """, logger: logger)
        try await client.query("delete from console_sessions where expires_at < now()", logger: logger)
    }

    /// The account, CSRF token and expiry of an open session, by its token's digest.
    public func session(
        tokenDigest: ByteBuffer
    ) async throws -> (
        account: OperatorAccount, csrfToken: String, expiresAt: Date
    )? {
        let rows = try await client.query(
            """
            select o.operator_id, o.display_name, o.role, o.zones, s.csrf_token, s.expires_at, o.shelters
            from console_sessions s join operators o using (operator_id)
            where s.token_hash = \(tokenDigest) and s.expires_at > now() and not o.disabled
            """, logger: logger)
        for try await (id, name, role, zones, csrf, expires, shelters) in rows.decode(
            (String, String, String, [String], String, Date, [String]).self)
        {
            let account = OperatorAccount(
                id: id, displayName: name, role: .init(rawValue: role) ?? .operator, zones: zones, shelters: shelters)
            return (account, csrf, expires)
        }
        return nil
    }

    public func deleteSession(tokenDigest: ByteBuffer) async throws {
        try await client.query("delete from console_sessions where token_hash = \(tokenDigest)", logger: logger)
    }

    /// Removes expired sessions, and intake idempotency keys, console command ids, shelter change
    /// ids and crew actions older than a week.
    public func purgeExpired() async throws {
        try await client.query("delete from console_sessions where expires_at < now()", logger: logger)
        try await client.query(
            "delete from intake_requests where created_at < now() - interval '7 days'", logger: logger)
        try await client.query(
            "delete from console_commands where created_at < now() - interval '7 days'", logger: logger)
        try await client.query(
            "delete from shelter_changes where created_at < now() - interval '7 days'", logger: logger)
        // A crew action's claim keeps its event (the crew's note, where the unit stood with the
        // person) for resends only: a phone resends within minutes, never after a week.
        try await client.query(
            "delete from crew_actions where accepted_at < now() - interval '7 days'", logger: logger)
    }

    /// Creates an intake client, or gives an existing one a new token (by its digest).
    public func saveIntakeClient(
        id: String, tokenDigest: ByteBuffer, ratePerMinute: Int, burst: Int, zones: [String]?
    ) async throws {
        try await client.query(
            """
            insert into intake_clients (client_id, token_hash, rate_per_minute, burst, zones)
            values (\(id), \(tokenDigest), \(ratePerMinute), \(burst), \(zones))
            on conflict (client_id) do update set token_hash = excluded.token_hash,
                rate_per_minute = excluded.rate_per_minute, burst = excluded.burst, zones = excluded.zones,
                disabled = false
            """, logger: logger)
    }

    /// The enabled client a bearer token's digest belongs to.
    public func intakeClient(tokenDigest: ByteBuffer) async throws -> IntakeClient? {
        let rows = try await client.query(
            """
            select client_id, rate_per_minute, burst, zones from intake_clients
            where token_hash = \(tokenDigest) and not disabled
            """, logger: logger)
        for try await (id, rate, burst, zones) in rows.decode((String, Int, Int, [String]?).self) {
            return IntakeClient(id: id, ratePerMinute: rate, burst: burst, zones: zones)
        }
        return nil
    }
}
