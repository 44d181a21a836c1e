import Foundation
import PostgresNIO
import SamuModel
import SamuTestSupport
import Testing

@testable import SamuStore

@Suite("Database URL")
struct DatabaseConfigurationTests {
    @Test("parses user, password, host, port, database and TLS mode")
    func parse() throws {
        let configuration = try DatabaseConfiguration(
            url: "postgres://samu_worker:p%40ss@db.internal:6432/samu?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(configuration.username == "samu_worker")
        #expect(configuration.password == "p@ss")
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6432)
        #expect(configuration.database == "samu")
        #expect(configuration.tlsMode == .verifyFull)
        #expect(configuration.rootCertificatePath == "/etc/ca.pem")
        #expect(!configuration.description.contains("p@ss"))
    }

    @Test(
        "refuses URLs it cannot use",
        arguments: [
            "mysql://u@h/db", "postgres://h/db", "postgres://u@h", "postgres://u@h/db?sslmode=allow", "not a url",
        ])
    func refuse(url: String) {
        #expect(throws: DatabaseConfiguration.ParseError.self) { try DatabaseConfiguration(url: url) }
    }

    @Test("refuses a schema name that is not a plain identifier")
    func schemaName() {
        #expect(throws: DatabaseConfiguration.ParseError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db", schema: "x; drop table cases")
        }
    }
}

@Suite("PostgreSQL store (integration)", .timeLimit(.minutes(2)))
struct SamuStoreTests {
    let decoder: ReportDecoder

    init() throws {
        decoder = ReportDecoder(definition: try Repository.catalog().definition(.reports))
    }

    func accepted(_ id: UUID = UUID(), zone: String = "rabat", offset: Int64 = 0) throws -> AcceptedReport {
        let report = try decoder.decode(value: ReportFixture.bytes(ReportFixture.document(id: id, zone: zone))).get()
        return AcceptedReport(report: report, sourceTopic: "samu.reports.v1", sourcePartition: 3, sourceOffset: offset)
    }

    @Test("migrations apply once; a database without them is refused with a clear message")
    func migrations() async throws {
        try await withTestStore(migrate: false) { store in
            let missing = await #expect(throws: MigrationRequired.self) { try await store.requireMigrated() }
            #expect(missing?.description.contains("samu migrate") == true)
            #expect(try await store.migrate() == Migrations.all.map(\.version))
            #expect(try await store.migrate() == [])
            try await store.requireMigrated()
            #expect(try await store.appliedVersion() == Migrations.latestVersion)
        }
    }

    @Test("a report becomes a case with a timeline entry and an outbox row, once")
    func recordOnce() async throws {
        try await withTestStore { store in
            let reports = try (0..<3).map { try accepted(offset: Int64($0)) }
            let outbox = try await store.recordReports(reports, outcomesTopic: "samu.outcomes.v1", actor: "test")
            #expect(outbox.count == 3)
            #expect(Set(outbox.map(\.id)).count == 3)
            #expect(outbox.allSatisfy { $0.key == "rabat" && $0.topic == "samu.outcomes.v1" })
            let payload = try JSONParser.parse(outbox[0].payload)
            #expect(payload["type"] == "case.received")

            // Redelivery of the same events (another offset, even) changes nothing.
            let again = try await store.recordReports(
                reports.map {
                    var copy = $0; copy.sourceOffset += 100; return copy
                }, outcomesTopic: "samu.outcomes.v1",
                actor: "test")
            #expect(again.isEmpty)
            let counts = try await store.counts()
            #expect(
                counts == .init(processedEvents: 3, reports: 3, cases: 3, timelineEntries: 3, outbox: 3, unpublished: 3)
            )
        }
    }

    @Test("the same report twice in one batch opens one case; new and old mixed keep only the new")
    func duplicatesInBatch() async throws {
        try await withTestStore { store in
            let first = try accepted()
            _ = try await store.recordReports([first], outcomesTopic: "o", actor: "test")
            let second = try accepted()
            let outbox = try await store.recordReports([first, second, second], outcomesTopic: "o", actor: "test")
            #expect(
                outbox.map(\.id) == [
                    DerivedID.outcomeID(
                        caseID: DerivedID.caseID(forReport: second.report.id), transition: "received",
                        channel: "outcomes")
                ])
            #expect(
                try await store.caseCountsByReport([first.report.id, second.report.id]) == [
                    first.report.id: 1, second.report.id: 1,
                ])
        }
    }

    @Test("published rows leave the unpublished list; the timeline refuses updates")
    func outboxAndTimeline() async throws {
        try await withTestStore { store in
            let outbox = try await store.recordReports(
                [try accepted(), try accepted()], outcomesTopic: "o", actor: "test")
            #expect(try await store.unpublishedOutbox(olderThan: .zero).count == 2)
            try await store.markPublished([outbox[0].id])
            #expect(try await store.unpublishedOutbox(olderThan: .zero).map(\.id) == [outbox[1].id])
            #expect(try await store.unpublishedOutbox(olderThan: .seconds(60)).isEmpty)
            await #expect(throws: PSQLError.self) {
                try await store.client.query("update case_timeline set actor = 'someone else'")
            }
            await #expect(throws: PSQLError.self) {
                try await store.client.query("delete from case_timeline")
            }
        }
    }
}
