import Foundation
import Logging
import PostgresNIO
import SamuModel
import Synchronization

/// A report accepted by the worker, ready to be persisted with its case and outcome.
public struct AcceptedReport: Sendable {
    public var report: Report
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    /// The report as received (JSON that passed the topic's schema), stored as it came instead of
    /// writing the parsed document again; nil: the document is serialized.
    public var payload: String?

    public init(
        report: Report, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64, payload: String? = nil
    ) {
        self.report = report
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.payload = payload
    }
}

/// An outbox row: an event to publish exactly as stored (same id, same bytes on every attempt).
public struct OutboxRecord: Sendable, Equatable {
    public var id: UUID
    public var topic: String
    public var key: String?
    public var payload: String
    public var createdAt: Date
    /// The broker record's timestamp, when it must not be the publication time (partner records
    /// carry the start of their time bucket: the publication time would tell when a case closed).
    public var recordTime: Date?
    /// The dispatch area whose worker wrote the row (its lease holder publishes it); nil for rows
    /// of no area (partner records).
    public var area: String?

    public init(
        id: UUID, topic: String, key: String?, payload: String, createdAt: Date, recordTime: Date? = nil,
        area: String? = nil
    ) {
        self.area = area
        self.id = id
        self.topic = topic
        self.key = key
        self.payload = payload
        self.createdAt = createdAt
        self.recordTime = recordTime
    }
}

/// A store failure that is not PostgreSQL's own error.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// What PostgreSQL said of a value it refused (SQLSTATE class 22, a data exception: a NUL
/// character in text, a date out of its range, a number too large), or nil for any other error. A
/// door answers it as the client's mistake, not as a failure of samu.
public func refusedValue(_ error: any Error) -> String? {
    guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState], state.hasPrefix("22") else {
        return nil
    }
    return error.serverInfo?[.message] ?? "a value the database refuses"
}

/// The database refused samu's settings (credentials, database name): retrying cannot help.
public struct DatabaseRefused: Error, Sendable, CustomStringConvertible {
    public var sqlState: String
    public var message: String
    public var description: String {
        "SAMU_DATABASE_URL: the database refused the connection (SQLSTATE \(sqlState): \(message)); check the user, password and database name"
    }
}

/// Raised when the database is not at the schema version this build expects.
public struct MigrationRequired: Error, Sendable, CustomStringConvertible {
    public var applied: Int
    public var required: Int
    public var description: String {
        "the database schema is at version \(applied) but samu needs version \(required): run `samu migrate`"
    }
}

/// samu's PostgreSQL store: migrations, the inbox of processed events, reports and cases with
/// their timeline, and the outbox.
///
/// - Important: ``client`` must be running (``run()`` or a `ServiceGroup`) for any query to complete.
public final class SamuStore: Sendable {
    let client: PostgresClient
    public let configuration: DatabaseConfiguration
    let logger: Logger

    public init(configuration: DatabaseConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
    }

    /// Runs the connection pool until the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            // Those waiting for the pool go on once it runs. `PostgresClient.run()` marks itself
            // running on its first line but says so nowhere public; released at once, a waiter on
            // the other core could lease first (PostgresNIO then warns, and queues the lease), as
            // a loaded benchmark machine showed. A millisecond later the flag is long set.
            group.addTask {
                try? await Task.sleep(for: .milliseconds(1))
                self.started.fire()
            }
        }
    }

    /// Returns once ``run()`` has been called: a service that starts beside the pool in a
    /// `ServiceGroup` waits here before its first query (PostgresNIO warns of, and queues, a lease
    /// asked before the pool runs).
    public func waitUntilRunning() async {
        await started.wait()
    }

    let started = Signal()

    /// A one-time signal: `wait()` returns once `fire()` was called, before or after.
    final class Signal: Sendable {
        private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func fire() {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.fired = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { state -> Bool in
                    if !state.fired { state.waiters.append(continuation) }
                    return state.fired
                }
                if fired { continuation.resume() }
            }
        }
    }

    /// Runs `body` with a store whose connection pool runs beside it (for commands and tests; a
    /// long-running process puts the pool in its `ServiceGroup` instead).
    public static func withStore<Result: Sendable>(
        configuration: DatabaseConfiguration, logger: Logger, _ body: (SamuStore) async throws -> Result
    ) async throws -> Result {
        let store = try SamuStore(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            // The pool runs before the first lease (PostgresNIO warns otherwise).
            await store.waitUntilRunning()
            return try await body(store)
        }
    }

    // MARK: - Migrations

    /// Applies every migration not applied yet; returns the versions it applied. Safe to run
    /// concurrently from several processes (serialised by a transaction-level advisory lock).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let schema = configuration.schema
        try await client.query(PostgresQuery(unsafeSQL: "create schema if not exists \(schema)"), logger: logger)
        try await client.query(
            """
            create table if not exists schema_migrations (
                version integer primary key, name text not null, applied_at timestamptz not null default now())
            """, logger: logger)
        var applied: [Int] = []
        for migration in Migrations.all {
            let done = try await client.withTransaction(logger: logger) { connection -> Bool in
                try await connection.query("select pg_advisory_xact_lock(hashtext(current_schema()))", logger: logger)
                let rows = try await connection.query(
                    "select 1 from schema_migrations where version = \(migration.version)", logger: logger)
                for try await _ in rows { return false }
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "insert into schema_migrations (version, name) values (\(migration.version), \(migration.name))",
                    logger: logger)
                return true
            }
            if done {
                applied.append(migration.version)
                logger.info("migration applied", metadata: ["db.migration": "\(migration.version) \(migration.name)"])
            }
        }
        return applied
    }

    /// The highest applied migration version (0 when none).
    /// The database answers a query (a readiness probe).
    public func ping() async throws {
        try await client.query("select 1", logger: logger)
    }

    /// Runs `body` with the notifications of `channel` (PostgreSQL `LISTEN` on a connection of its
    /// own), until `body` returns or the connection is lost.
    public func listen(
        on channel: String,
        _ body: (PostgresNotificationSequence) async throws -> Void
    ) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: channel) { notifications in try await body(notifications) }
        }
    }

    public func appliedVersion() async throws -> Int {
        let exists = try await client.query("select to_regclass('schema_migrations') is not null", logger: logger)
        for try await (present) in exists.decode(Bool.self) where !present { return 0 }
        let rows = try await client.query("select coalesce(max(version), 0) from schema_migrations", logger: logger)
        for try await version in rows.decode(Int.self) { return version }
        return 0
    }

    /// Fails with a clear message unless every migration this build knows is applied.
    /// Fails fast when the database refuses samu's settings (wrong password, unknown user or
    /// database: SQLSTATE classes 28 and 3D), with one connection of its own: the pool would retry
    /// such a connection for a minute before giving up. An unreachable server is not refused here:
    /// the pool retries it (it may be starting).
    public func checkSettings() async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration(), id: 0, logger: logger)
        } catch let error as PSQLError {
            guard let state = error.serverInfo?[.sqlState], state.hasPrefix("28") || state.hasPrefix("3D") else {
                return
            }
            throw DatabaseRefused(sqlState: state, message: error.serverInfo?[.message] ?? "refused")
        } catch {
            return
        }
        try? await connection.close()
    }

    public func requireMigrated() async throws {
        let applied = try await appliedVersion()
        if applied < Migrations.latestVersion {
            throw MigrationRequired(applied: applied, required: Migrations.latestVersion)
        }
    }

    // MARK: - Outbox

    /// Outbox rows not yet published and older than `olderThan` (younger rows are being published
    /// by the worker that wrote them), oldest first.
    ///
    /// With `leaseOwner`, a row keyed by a zone with a lease is returned only when that owner holds
    /// the zone's lease: one worker publishes a zone's outcomes, so a case's outcomes reach the
    /// topic in commit order (rows keyed otherwise, such as partner records, go to any sweeper).
    /// Outbox rows as `select outbox_id, topic, key, payload, created_at, record_time, area` returns them.
    static func outboxRecords(_ rows: PostgresRowSequence) async throws -> [OutboxRecord] {
        var records: [OutboxRecord] = []
        for try await (id, topic, key, payload, createdAt, recordTime, area) in rows.decode(
            (UUID, String, String?, String, Date, Date?, String?).self)
        {
            records.append(
                OutboxRecord(
                    id: id, topic: topic, key: key, payload: payload, createdAt: createdAt, recordTime: recordTime,
                    area: area))
        }
        return records
    }

    /// The unpublished, unparked rows written for these areas (or, written before areas, keyed by
    /// these zones), oldest first: what an area's previous owner left to publish, taken over with
    /// the area's lease.
    public func unpublishedOutbox(zones: [String], limit: Int = 10_000) async throws -> [OutboxRecord] {
        if zones.isEmpty { return [] }
        let rows = try await client.query(
            """
            select outbox_id, topic, key, payload, created_at, record_time, area from outbox
            where published_at is null and parked_at is null and coalesce(area, key) = any(\(zones))
            order by seq limit \(limit)
            """, logger: logger)
        return try await Self.outboxRecords(rows)
    }

    public func unpublishedOutbox(
        olderThan age: Duration = .seconds(2), limit: Int = 1000, leaseOwner: String? = nil
    ) async throws -> [OutboxRecord] {
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        let rows = try await client.query(
            """
            select o.outbox_id, o.topic, o.key, o.payload, o.created_at, o.record_time, o.area from outbox o
            left join zone_leases l on l.zone = coalesce(o.area, o.key)
            where o.published_at is null and o.parked_at is null
              and o.created_at < now() - make_interval(secs => \(seconds))
              and (\(leaseOwner ?? "") = '' or l.zone is null or l.owner = \(leaseOwner ?? ""))
            order by o.seq limit \(limit)
            """, logger: logger)
        return try await Self.outboxRecords(rows)
    }

    /// Marks rows as published (the relay's own write, when no batch write carried the marks). Losing
    /// it only causes a republish with the same id and bytes.
    public func markPublished(_ ids: [UUID], at time: Date = Date()) async throws {
        if ids.isEmpty { return }
        try await client.query(
            "update outbox set published_at = \(time), attempts = attempts + 1 where outbox_id = any(\(ids))",
            logger: logger)
    }

    /// Removes the personal data of cases closed and last changed before `before` (law 09-08's
    /// limited retention): they keep what is counted. Logged in `privacy_log` under `by`.
    /// Returns how many cases were purged.
    public func purgePersonalData(closedBefore before: Date, by: String) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                "select samu_purge_personal_data(\(before), \(by))", logger: logger)
            for try await count in rows.decode(Int32.self) { return Int(count) }
            return 0
        }
    }

    /// Marks rows created since `since` (optionally of one topic) as unpublished, so that the
    /// relay's sweep publishes them again with the same ids and bytes: the recovery after a broker
    /// lost its log. Returns how many rows will go out again.
    public func markUnpublished(since: Date, topic: String? = nil) async throws -> Int {
        let rows = try await client.query(
            """
            with marked as (
                update outbox set published_at = null
                where created_at >= \(since) and published_at is not null and (\(topic ?? "") = '' or topic = \(topic ?? ""))
                returning 1)
            select count(*)::int8 from marked
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// How many outbox rows are parked.
    public func parkedOutboxCount() async throws -> Int {
        let rows = try await client.query(
            "select count(*)::int8 from outbox where parked_at is not null", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// Records a failed publish attempt: `retried` rows stay unpublished and the sweep takes them
    /// again; `parked` rows, which the broker refuses for good (too large, or refused by the topic),
    /// stay in the outbox with the error and the sweep no longer takes them.
    public func markPublishFailed(_ retried: [UUID], parked: [UUID] = [], error: String) async throws {
        if retried.isEmpty && parked.isEmpty { return }
        try await client.query(
            """
            update outbox set attempts = attempts + 1, last_error = \(error),
                parked_at = case when outbox_id = any(\(parked)) then now() else parked_at end
            where outbox_id = any(\(retried + parked))
            """, logger: logger)
    }

    // MARK: - Reading

    /// Counts for summaries and tests.
    public struct Counts: Sendable, Equatable {
        public var processedEvents: Int
        public var reports: Int
        public var cases: Int
        public var timelineEntries: Int
        public var outbox: Int
        public var unpublished: Int
    }

    public func counts() async throws -> Counts {
        let rows = try await client.query(
            """
            select (select count(*) from processed_events), (select count(*) from reports), (select count(*) from cases),
                   (select count(*) from case_timeline), (select count(*) from outbox),
                   (select count(*) from outbox where published_at is null)
            """, logger: logger)
        for try await (events, reports, cases, timeline, outbox, unpublished) in rows.decode(
            (Int, Int, Int, Int, Int, Int).self)
        {
            return Counts(
                processedEvents: events, reports: reports, cases: cases, timelineEntries: timeline, outbox: outbox,
                unpublished: unpublished)
        }
        throw StoreError(message: "the count query returned no row")
    }

    /// Case ids opened for these reports (in no particular order), for tests and the summary.
    public func caseCountsByReport(_ reportIDs: [UUID]) async throws -> [UUID: Int] {
        let rows = try await client.query(
            "select report_id, count(*) from cases where report_id = any(\(reportIDs)) group by report_id",
            logger: logger)
        var counts: [UUID: Int] = [:]
        for try await (id, count) in rows.decode((UUID, Int).self) { counts[id] = count }
        return counts
    }

    /// Drops the whole schema: for tests that made a schema of their own.
    public func dropSchema() async throws {
        try await client.query(
            PostgresQuery(unsafeSQL: "drop schema if exists \(configuration.schema) cascade"), logger: logger)
    }
}
