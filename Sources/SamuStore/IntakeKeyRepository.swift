import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The HTTP intake's idempotency keys: one row per (client, key) decides which request publishes
/// a report, and answers every retry with the first request's outcome.
public struct IntakeKeyRepository: StoreRepository {
    /// What a request holding a key may do.
    public enum Claim: Sendable, Equatable {
        /// The key is this request's: publish, then ``markPublished(client:key:claimID:)``.
        case publish
        /// The key's report was published before: answer with it.
        case replay(reportID: UUID, zone: String)
        /// The key was first used for another body (another report).
        case reusedForAnotherBody(firstReportID: UUID)
        /// The first request with the key is still being delivered.
        case inProgress
        /// The report's id came first under another key with another body: another report, or a
        /// producer's bug (the worker would park the second as a conflicting duplicate).
        case reportIDTaken
    }

    let store: SamuStore
    let logger: Logger

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Records the key for this request (or finds it). A key whose first request has not
    /// published after `abandonedAfter` (its process died) is taken over by this one.
    public func claim(
        client clientID: String, key: String, requestHash: ByteBuffer, reportID: UUID, zone: String, claimID: UUID,
        abandonedAfter: Duration
    ) async throws -> Claim {
        let seconds = Double(abandonedAfter.components.seconds)
        while true {
            let inserted = try await client.query(
                """
                insert into intake_requests (client_id, idempotency_key, request_hash, report_id, zone, claim_id, created_at)
                values (\(clientID), \(key), \(requestHash), \(reportID), \(zone), \(claimID), now())
                on conflict do nothing returning 1
                """, logger: logger)
            for try await _ in inserted { return .publish }
            let rows = try await client.query(
                """
                select request_hash, report_id, zone, published_at is not null,
                       created_at < now() - make_interval(secs => \(seconds))
                from intake_requests where client_id = \(clientID) and idempotency_key = \(key)
                """, logger: logger)
            for try await (storedHash, firstReport, firstZone, published, abandoned) in rows.decode(
                (ByteBuffer, UUID, String, Bool, Bool).self)
            {
                guard storedHash == requestHash else { return .reusedForAnotherBody(firstReportID: firstReport) }
                if published { return .replay(reportID: firstReport, zone: firstZone) }
                if abandoned {
                    let taken = try await client.query(
                        """
                        update intake_requests set created_at = now(), claim_id = \(claimID)
                        where client_id = \(clientID) and idempotency_key = \(key) and published_at is null
                          and created_at < now() - make_interval(secs => \(seconds))
                        returning 1
                        """, logger: logger)
                    for try await _ in taken { return .publish }
                }
                return .inProgress
            }
            // Not this key's: the report's id is another key's. The same body under another key (a
            // second system sending the same report) is that report; another body is refused.
            let byReport = try await client.query(
                """
                select request_hash, zone, published_at is not null from intake_requests
                where report_id = \(reportID)
                """, logger: logger)
            for try await (storedHash, firstZone, published) in byReport.decode((ByteBuffer, String, Bool).self) {
                guard storedHash == requestHash else { return .reportIDTaken }
                return published ? .replay(reportID: reportID, zone: firstZone) : .inProgress
            }
            // Deleted in between (the first request failed): try again as a first request.
        }
    }

    /// Nothing was published: the key is given back, so that the client's retry goes through.
    public func release(client clientID: String, key: String, claimID: UUID) async throws {
        try await client.query(
            """
            delete from intake_requests
            where client_id = \(clientID) and idempotency_key = \(key) and claim_id = \(claimID)
              and published_at is null
            """, logger: logger)
    }

    /// The report was published under this key.
    public func markPublished(client clientID: String, key: String, claimID: UUID) async throws {
        try await client.query(
            """
            update intake_requests set published_at = now()
            where client_id = \(clientID) and idempotency_key = \(key) and claim_id = \(claimID)
            """, logger: logger)
    }
}
