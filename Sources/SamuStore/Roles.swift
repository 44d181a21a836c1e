import Foundation
import Logging
import PostgresNIO
import SamuModel

/// Least-privilege database roles (docs/reliability.md §4.5, "Roles"):
///
/// - the **worker** role reads the reference tables and writes only what a worker writes: no DDL,
///   no DELETE or TRUNCATE anywhere, INSERT only on the append-only tables (timeline, bed ledger,
///   partner records), and session limits on statements, locks and idle transactions;
/// - one role per **partner**, `samu_partner_<id>`, that can read only the pseudonymised partner
///   views, and only its own rows (row-level security, forced);
/// - the **console** role reads what the board shows and writes only sessions and intake
///   idempotency keys: every dispatch change goes through a command event and the worker.
///
/// Migrations keep running as the owner. Applying the roles again changes nothing.
public struct DatabaseRoles: Sendable {
    public var workerRole: String
    public var consoleRole: String
    public var partners: [String]
    /// Passwords by role name; a role without one cannot log in (NOLOGIN).
    public var passwords: [String: String]

    public init(
        workerRole: String = "samu_worker", consoleRole: String = "samu_console", partners: [String],
        passwords: [String: String] = [:]
    ) {
        self.workerRole = workerRole
        self.consoleRole = consoleRole
        self.partners = partners
        self.passwords = passwords
    }

    public static func partnerRole(_ partner: String) -> String {
        "samu_partner_" + partner.replacingOccurrences(of: "-", with: "_")
    }

    /// Tables the worker reads and writes (insert, update; never delete).
    static let workerWritable = [
        "cases", "assignments", "units", "shelter_beds", "shelter_profiles", "aid_exchanges", "outbox", "zone_leases",
        "partner_projection", "partner_days",
    ]
    /// Tables the worker inserts into and updates only these columns of (case work: a task taken
    /// and done, a referral acknowledged and decided).
    static let workerColumnUpdates: [(table: String, columns: [String])] = [
        ("follow_ups", ["assignee", "done_at", "done_by", "note", "kind", "due_at", "visits", "refusals"]),
        (
            "referrals",
            [
                "status", "acknowledged_at", "acknowledged_by", "decided_at", "decided_by", "decision", "note",
                "escalated_at",
            ]
        ),
    ]
    /// Append-only tables: the worker inserts and reads, never updates (an upsert that does
    /// nothing on conflict needs no UPDATE right).
    static let workerAppendOnly = [
        "processed_events", "reports", "decisions", "case_timeline", "bed_ledger", "partner_records",
        "partner_aggregates", "parked_dead_letters",
    ]
    static let workerReadOnly = [
        "schema_migrations", "ref_regions", "ref_zones", "ref_labels", "ref_projects", "ref_communes",
    ]
    /// What the console reads: the board, case details, labels, accounts and intake clients.
    /// Not `reports`: its personal data is read through `samu_read_personal_data`, one logged
    /// read at a time; the board reads `report_facts`.
    static let consoleReadOnly = [
        "schema_migrations", "ref_regions", "ref_zones", "ref_labels", "ref_communes", "ref_projects", "report_facts",
        "cases",
        "case_timeline", "decisions", "follow_ups", "referrals", "units", "shelter_beds", "shelter_profiles",
        "bed_ledger",
        "operators", "intake_clients",
        "personal_data_reads",
    ]
    /// What the console writes: its sessions and the intake's idempotency keys.
    static let consoleWritable = [
        "console_sessions", "intake_requests", "crew_enrolments", "crew_devices", "crew_actions", "persons",
        "case_persons", "shelter_page_reports", "console_commands", "shelter_changes",
    ]
    /// Views only: each filters the partner's own rows and leaves out the publication time.
    static let partnerReadable = ["partner_outcomes", "partner_daily_aggregates"]

    /// The SQL that creates or updates the roles and their grants in `schema`.
    public func statements(schema: String) throws -> [String] {
        func identifier(_ name: String) throws -> String {
            guard name.wholeMatch(of: /[a-z_][a-z0-9_]{0,62}/) != nil else {
                throw StoreError(message: "'\(name)' is not a plain lower-case role or schema name")
            }
            return name
        }
        func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        func role(_ name: String) throws -> [String] {
            let name = try identifier(name)
            let login = passwords[name].map { "login password \(literal($0))" } ?? "nologin password null"
            return [
                """
                do $$ begin create role \(name); exception when duplicate_object or unique_violation then null; end $$
                """,
                "alter role \(name) with nosuperuser nocreatedb nocreaterole noinherit nobypassrls \(login)",
            ]
        }
        let schema = try identifier(schema)
        let worker = try identifier(workerRole)
        var sql = try role(worker)
        // No role of samu's creates anything outside its grants: not in the public schema, not
        // temporary tables, not schemas (the owner, who owns the database, keeps its rights).
        sql += [
            "revoke create on schema public from public",
            """
            do $$ begin execute format('revoke create, temporary on database %I from public', current_database()); end $$
            """,
        ]
        sql += [
            "alter role \(worker) set statement_timeout = '5s'",
            "alter role \(worker) set lock_timeout = '1s'",
            "alter role \(worker) set idle_in_transaction_session_timeout = '10s'",
            "alter role \(worker) set log_parameter_max_length = 0",
            "grant usage on schema \(schema) to \(worker)",
            "revoke create on schema \(schema) from \(worker)",
            "grant select on \(Self.workerReadOnly.map { "\(schema).\($0)" }.joined(separator: ", ")) to \(worker)",
            "grant select, insert, update on \(Self.workerWritable.map { "\(schema).\($0)" }.joined(separator: ", ")) to \(worker)",
            "grant select, insert on \(Self.workerAppendOnly.map { "\(schema).\($0)" }.joined(separator: ", ")) to \(worker)",
        ]
        for (table, columns) in Self.workerColumnUpdates {
            sql += [
                "grant select, insert on \(schema).\(table) to \(worker)",
                "grant update (\(columns.joined(separator: ", "))) on \(schema).\(table) to \(worker)",
            ]
        }
        for table in ["partner_records", "partner_aggregates"] {
            sql += [
                "drop policy if exists worker_all on \(schema).\(table)",
                "create policy worker_all on \(schema).\(table) for all to \(worker) using (true) with check (true)",
            ]
        }
        let console = try identifier(consoleRole)
        sql += try role(console)
        sql += [
            "alter role \(console) set statement_timeout = '5s'",
            "alter role \(console) set log_parameter_max_length = 0",
            "grant usage on schema \(schema) to \(console)",
            "revoke create on schema \(schema) from \(console)",
            "grant select on \(Self.consoleReadOnly.map { "\(schema).\($0)" }.joined(separator: ", ")) to \(console)",
            "grant select, insert, update, delete on \(Self.consoleWritable.map { "\(schema).\($0)" }.joined(separator: ", ")) to \(console)",
            "grant execute on function \(schema).samu_read_personal_data(uuid, text) to \(console)",
            "grant execute on function \(schema).samu_read_crew_case(uuid, text) to \(console)",
            "grant execute on function \(schema).samu_export_person(uuid, text) to \(console)",
            "grant execute on function \(schema).samu_erase_person(uuid, text, text) to \(console)",
        ]
        for partner in partners {
            let name = try identifier(Self.partnerRole(partner))
            sql += try role(name)
            sql += [
                "alter role \(name) set statement_timeout = '30s'",
                "grant usage on schema \(schema) to \(name)",
                "revoke create on schema \(schema) from \(name)",
                "revoke all on \(schema).partner_records, \(schema).partner_aggregates from \(name)",
                "grant select on \(Self.partnerReadable.map { "\(schema).\($0)" }.joined(separator: ", ")) to \(name)",
            ]
        }
        return sql
    }
}

extension SamuStore {
    /// Creates or updates the roles and their grants on this store's schema (run as the owner).
    public func apply(_ roles: DatabaseRoles) async throws {
        let statements = try roles.statements(schema: configuration.schema)
        try await client.withTransaction(logger: logger) { connection in
            // Roles are cluster-wide: serialise concurrent applications.
            try await connection.query("select pg_advisory_xact_lock(hashtext('samu roles'))", logger: logger)
            for statement in statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    /// Drops roles (tests): what they own and their grants in this database, then the roles.
    public func dropRoles(_ names: [String]) async throws {
        for name in names where name.wholeMatch(of: /[a-z_][a-z0-9_]{0,62}/) != nil {
            try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        do $$ begin
                            execute 'drop owned by \(name)';
                            execute 'drop role \(name)';
                        exception when undefined_object then null; end $$
                        """), logger: logger)
        }
    }
}
