import Foundation
import Hummingbird
import Logging
import NIOCore
import SamuModel
import SamuStore

/// Known people and their history (`/api/persons`, `/api/cases/{id}/person`): an operator links a
/// case to a person the service met before, under an alias the service chooses, and sees their
/// encounters. A supervisor exports a person's data on request, or erases it (law 09-08); both
/// are logged in `privacy_log`. Everything is scoped to the account's zones.
struct PersonController: Sendable {
    let persons: PersonRepository
    let board: BoardRepository
    let logger: Logger

    struct EraseRequest: Decodable {
        var reason: String?
    }

    struct Erased: Encodable {
        var person_id: String
        var cases: Int
    }

    /// The person a link request names: nil (no body, `{}` or `{"person_id": null}`) for a new
    /// person. Anything else is refused rather than read as "new": a misspelt key or a number would
    /// otherwise move the case off the person it belongs to.
    static func linkedPerson(_ buffer: ByteBuffer) throws -> String? {
        let bytes = Array(buffer.readableBytesView)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        guard case .object(let fields)? = try? JSONParser.parse(bytes),
            fields.keys.allSatisfy({ $0 == "person_id" })
        else { throw Problem(.invalidBody, "send {} for a new person, or {\"person_id\": …}") }
        switch fields["person_id"] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw Problem(.validation, "person_id is a person's id", field: "/person_id")
        }
    }

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.post("cases/{id}/person") { request, context in
            let session = try dispatcher(context)
            let caseID = try await scopedCase(context, session)
            let buffer = try await request.body.collect(upTo: 1024)
            let person: PersonRepository.Person
            do {
                if let text = try Self.linkedPerson(buffer) {
                    guard let id = UUID(uuidString: text),
                        let found = try await persons.link(
                            caseID: caseID, personID: id, zones: session.account.zones, by: session.account.id)
                    else { throw Problem(.notFound, "no such person met in your zones", field: "/person_id") }
                    person = found
                } else {
                    person = try await persons.createAndLink(caseID: caseID, by: session.account.id)
                }
            } catch PersonRepository.PersonError.linkedToAnother {
                throw Problem(
                    .linkedToAnotherPerson, "the case is linked to another person: unlink it first",
                    reason: "linked_to_another_person")
            }
            logger.info(
                "case linked to a known person",
                metadata: ["operator.id": "\(session.account.id)", "case.id": "\(caseID.lowercased)"])
            return JSONBody.response(person)
        }
        group.delete("cases/{id}/person") { _, context in
            let session = try dispatcher(context)
            try await persons.unlink(caseID: try await scopedCase(context, session))
            return Response(status: .noContent)
        }
        group.get("cases/{id}/person") { _, context in
            let session = try context.requireBoardSession()
            let caseID = try await scopedCase(context, session)
            guard let person = try await persons.person(ofCase: caseID, zones: session.account.zones) else {
                return Response(status: .noContent)
            }
            return JSONBody.response(person)
        }
        group.get("persons") { request, context in
            let session = try dispatcher(context)
            let prefix = String(request.uri.queryParameters["alias"] ?? "").trimmingCharacters(in: .whitespaces)
            guard (1...40).contains(prefix.count) else {
                throw Problem(.validation, "search by the start of an alias (1 to 40 characters)", field: "alias")
            }
            return JSONBody.response(try await persons.search(prefix, zones: session.account.zones))
        }
        group.get("persons/{person}") { _, context in
            let session = try dispatcher(context)
            guard let history = try await persons.history(try personID(context), zones: session.account.zones)
            else { throw Problem(.notFound, "no such person met in your zones") }
            return JSONBody.response(history)
        }
        // Law 09-08, right of access: the person's data, for a supervisor, logged.
        group.get("persons/{person}/export") { _, context in
            let session = try supervisor(context)
            let id = try personID(context)
            guard try await persons.person(id, zones: session.account.zones) != nil,
                let text = try await persons.export(id, by: session.account.id)
            else { throw Problem(.notFound, "no such person met in your zones") }
            logger.notice(
                "person's data exported", metadata: ["operator.id": "\(session.account.id)", "person.id": "\(id)"])
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/json", .cacheControl: "no-store",
                    .contentDisposition: "attachment; filename=\"samu-person-\(id.lowercased).json\"",
                ], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        // Law 09-08, right of erasure: every case of theirs minimised, the alias gone, logged.
        group.post("persons/{person}/erase") { request, context in
            let session = try supervisor(context)
            let id = try personID(context)
            let buffer = try await request.body.collect(upTo: 2048)
            let reason =
                ((try? JSONDecoder().decode(EraseRequest.self, from: Data(buffer: buffer)))?.reason ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard !reason.isEmpty, reason.count <= 500 else {
                throw Problem(.validation, "an erasure needs its reason (the request it answers)", field: "/reason")
            }
            guard try await persons.person(id, zones: session.account.zones) != nil else {
                throw Problem(.notFound, "no such person met in your zones")
            }
            do {
                let cases = try await persons.erase(id, by: session.account.id, reason: reason)
                logger.notice(
                    "person's data erased",
                    metadata: ["operator.id": "\(session.account.id)", "person.id": "\(id)", "cases": "\(cases)"])
                return JSONBody.response(Erased(person_id: id.lowercased, cases: cases))
            } catch PersonRepository.ErasureRefused.openCase {
                throw Problem(.caseClosed, "one of the person's cases is still open: erase once it is closed")
            }
        }
    }

    func dispatcher(_ context: ConsoleRequestContext) throws -> ConsoleSession {
        let session = try context.requireBoardSession()
        guard session.account.role.dispatches else {
            throw Problem(.forbidden, "known people are kept by operators and supervisors")
        }
        return session
    }

    func supervisor(_ context: ConsoleRequestContext) throws -> ConsoleSession {
        let session = try context.requireBoardSession()
        guard session.account.role == .supervisor else {
            throw Problem(.forbidden, "a person's data is exported or erased by a supervisor")
        }
        return session
    }

    /// The `{id}` case, in the account's zones (an unknown case and another zone's answer alike).
    func scopedCase(_ context: ConsoleRequestContext, _ session: ConsoleSession) async throws -> UUID {
        let id = try context.caseID()
        guard let (zone, _) = try await board.zone(of: id), session.account.mayAct(in: zone) else {
            throw Problem(.notFound, "no such case in your zones")
        }
        return id
    }

    func personID(_ context: ConsoleRequestContext) throws -> UUID {
        guard let id = try? context.parameters.require("person", as: UUID.self) else {
            throw Problem(.notFound, "no such person met in your zones")
        }
        return id
    }
}
