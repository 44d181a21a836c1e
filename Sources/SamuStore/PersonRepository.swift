import Foundation
import Logging
import PostgresNIO
import SamuModel

/// People the service meets again and again (a man who refuses help three nights running), under
/// an alias the service chooses (never an identity document's number): their encounters, and
/// under law 09-08 their data exported on request or erased, each logged in `privacy_log`.
public struct PersonRepository: StoreRepository {
    let store: SamuStore
    let logger: Logger

    public init(store: SamuStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// A known person as the console shows them.
    public struct Person: Encodable, Sendable, Equatable {
        public var person_id: String
        public var alias: String
        public var known_since: Date
        /// Cases linked to them in the reader's zones.
        public var encounters: Int
        /// Times they refused help: cases ended so, and re-visits refused.
        public var refusals: Int
    }

    /// One case of a person's history.
    public struct Encounter: Encodable, Sendable, Equatable {
        public var case_id: String
        public var zone: String
        public var category: String
        public var opened_at: Date
        public var status: String
        public var resolution: String?
        public var visits: Int
        public var refusals: Int
    }

    public struct History: Encodable, Sendable, Equatable {
        public var person: Person
        public var encounters: [Encounter]
        /// How each encounter in the reader's zones ended (open cases under their status).
        public var outcomes: [String: Int]
        /// Their cases in zones the reader does not see: counted, not shown.
        public var elsewhere: Int
    }

    /// Words for aliases: trees and plants of Morocco (never a name, never a number of a document).
    /// A tree or plant and a number ("Arganier 17").
    public static func randomAlias() -> String {
        "\(words.randomElement()!) \(Int.random(in: 1...999))"
    }

    static let words = [
        "Arganier", "Cedre", "Olivier", "Palmier", "Jasmin", "Grenadier", "Figuier", "Amandier", "Caroubier", "Thuya",
        "Laurier", "Menthe", "Safran", "Romarin", "Oranger", "Mimosa", "Lavande", "Tamaris", "Acacia", "Armoise",
    ]

    /// Creates a person under a new alias and links the case to them; throws
    /// ``PersonError/linkedToAnother`` (and creates nobody) when the case is linked already.
    /// `aliases` proposes aliases (a random tree or plant and number): a taken one is skipped.
    public func createAndLink(
        caseID: UUID, by operatorID: String,
        aliases: () -> String = PersonRepository.randomAlias
    ) async throws -> Person {
        for _ in 0..<20 {
            let alias = aliases()
            let id = UUID()
            do {
                try await client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "insert into persons (person_id, alias, created_by) values (\(id), \(alias), \(operatorID))",
                        logger: logger)
                    guard
                        try await Self.link(
                            caseID: caseID, personID: id, by: operatorID, on: connection, logger: logger)
                    else { throw PersonError.linkedToAnother }
                }
                return Person(
                    person_id: id.lowercased, alias: alias, known_since: Date(), encounters: 1,
                    refusals: try await refusals(of: [caseID]))
            } catch let error as PostgresTransactionError {
                let cause = error.closureError ?? error.beginError ?? error.commitError ?? error
                if let cause = cause as? PSQLError, cause.serverInfo?[.sqlState] == "23505" {
                    continue  // the alias is taken: another one
                }
                throw cause
            }
        }
        throw PersonError.noAliasLeft
    }

    public enum PersonError: Error, Equatable {
        case noAliasLeft
        /// The case is linked to another person: unlink it first (two operators on one case must
        /// not replace each other's link unseen).
        case linkedToAnother
    }

    /// Links the case to the person; false (nothing changed) when it is linked to another person.
    /// Linking it to the person it is linked to changes nothing and is true.
    static func link(
        caseID: UUID, personID: UUID, by operatorID: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let rows = try await connection.query(
            """
            insert into case_persons (case_id, person_id, linked_by) values (\(caseID), \(personID), \(operatorID))
            on conflict (case_id) do update set linked_at = case_persons.linked_at
                where case_persons.person_id = excluded.person_id
            returning 1
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Links a case to a known person who has a case in `zones` (a person nobody in these zones met
    /// is not found). Returns the person, or `nil`; throws ``PersonError/linkedToAnother`` when the
    /// case is linked to someone else.
    public func link(caseID: UUID, personID: UUID, zones: [String], by operatorID: String) async throws -> Person? {
        guard try await person(personID, zones: zones) != nil else { return nil }
        let linked = try await client.withConnection { connection in
            try await Self.link(caseID: caseID, personID: personID, by: operatorID, on: connection, logger: logger)
        }
        guard linked else { throw PersonError.linkedToAnother }
        return try await person(personID, zones: zones)
    }

    public func unlink(caseID: UUID) async throws {
        try await client.query("delete from case_persons where case_id = \(caseID)", logger: logger)
    }

    /// The person a case is linked to, if any.
    public func person(ofCase caseID: UUID, zones: [String]) async throws -> Person? {
        let rows = try await client.query(
            "select person_id from case_persons where case_id = \(caseID)", logger: logger)
        for try await id in rows.decode(UUID.self) { return try await person(id, zones: zones) }
        return nil
    }

    /// A person with at least one case in `zones`, not erased.
    public func person(_ personID: UUID, zones: [String]) async throws -> Person? {
        let rows = try await client.query(
            """
            select p.alias, p.created_at, count(c.case_id)::int8,
                coalesce(array_agg(c.case_id) filter (where c.case_id is not null), '{}')
            from persons p
            join case_persons k on k.person_id = p.person_id
            join cases c on c.case_id = k.case_id and c.zone = any(\(zones))
            where p.person_id = \(personID) and p.erased_at is null
            group by p.alias, p.created_at
            """, logger: logger)
        for try await (alias, created, count, cases) in rows.decode((String, Date, Int64, [UUID]).self) {
            return Person(
                person_id: personID.lowercased, alias: alias, known_since: created, encounters: Int(count),
                refusals: try await refusals(of: cases))
        }
        return nil
    }

    /// Known people whose alias starts with `prefix` and who were met in `zones` (at most 10).
    public func search(_ prefix: String, zones: [String]) async throws -> [Person] {
        let pattern =
            prefix.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "%", with: "")
            .replacingOccurrences(of: "_", with: "") + "%"
        let rows = try await client.query(
            """
            select distinct p.person_id, p.alias from persons p
            join case_persons k on k.person_id = p.person_id
            join cases c on c.case_id = k.case_id and c.zone = any(\(zones))
            where p.erased_at is null and p.alias ilike \(pattern)
            order by p.alias limit 10
            """, logger: logger)
        var ids: [UUID] = []
        for try await (id, _) in rows.decode((UUID, String).self) { ids.append(id) }
        var found: [Person] = []
        for id in ids { if let person = try await person(id, zones: zones) { found.append(person) } }
        return found
    }

    /// How many times help was refused over these cases: each case ended so, and each re-visit
    /// refused (the follow-up counts both).
    func refusals(of cases: [UUID]) async throws -> Int {
        let rows = try await client.query(
            """
            select coalesce(sum(greatest(f.refusals, (c.resolution = 'help_refused')::int4)), 0)::int8
            from cases c left join follow_ups f on f.case_id = c.case_id where c.case_id = any(\(cases))
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// A person's encounters in `zones`, newest first, and how many more elsewhere.
    public func history(_ personID: UUID, zones: [String]) async throws -> History? {
        guard let person = try await person(personID, zones: zones) else { return nil }
        let rows = try await client.query(
            """
            select c.case_id, c.zone, c.category, c.opened_at, c.status, c.resolution,
                coalesce(f.visits, 0)::int8, greatest(coalesce(f.refusals, 0), (c.resolution = 'help_refused')::int4)::int8
            from case_persons k join cases c on c.case_id = k.case_id
            left join follow_ups f on f.case_id = c.case_id
            where k.person_id = \(personID) and c.zone = any(\(zones))
            order by c.opened_at desc limit 200
            """, logger: logger)
        var encounters: [Encounter] = []
        var outcomes: [String: Int] = [:]
        for try await row in rows.decode((UUID, String, String, Date, String, String?, Int64, Int64).self) {
            encounters.append(
                Encounter(
                    case_id: row.0.lowercased, zone: row.1, category: row.2, opened_at: row.3, status: row.4,
                    resolution: row.5, visits: Int(row.6), refusals: Int(row.7)))
            outcomes[row.5 ?? row.4, default: 0] += 1
        }
        let others = try await client.query(
            """
            select count(*)::int8 from case_persons k join cases c on c.case_id = k.case_id
            where k.person_id = \(personID) and not c.zone = any(\(zones))
            """, logger: logger)
        var elsewhere = 0
        for try await count in others.decode(Int64.self) { elsewhere = Int(count) }
        return History(person: person, encounters: encounters, outcomes: outcomes, elsewhere: elsewhere)
    }

    /// The person's data for a supervisor (`samu_export_person`, logged), or `nil`.
    public func export(_ personID: UUID, by operatorID: String) async throws -> String? {
        let rows = try await client.query(
            "select samu_export_person(\(personID), \(operatorID))::text", logger: logger)
        for try await text in rows.decode(String?.self) { return text }
        return nil
    }

    public enum ErasureRefused: Error { case openCase }

    /// Erases the person's data (`samu_erase_person`, logged): every case of theirs minimised, the
    /// links and the alias gone. Returns how many cases; refused while one of them is open.
    public func erase(_ personID: UUID, by operatorID: String, reason: String) async throws -> Int {
        do {
            let rows = try await client.query(
                "select samu_erase_person(\(personID), \(operatorID), \(reason))", logger: logger)
            for try await count in rows.decode(Int32.self) { return Int(count) }
            return 0
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "SM003" {
            throw ErasureRefused.openCase
        }
    }
}
