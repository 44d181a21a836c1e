import Foundation
import SamuTestSupport
import Testing

@testable import SamuModel

@Suite("Linked calls and priority overrides on the topics")
struct LinkAndOverrideDecodingTests {
    let catalog: TopicCatalog
    let inbound: InboundDecoder

    init() throws {
        catalog = try Repository.catalog()
        inbound = InboundDecoder(catalog: catalog, zones: nil)
    }

    func decode(_ role: TopicRole, _ text: String) -> Result<DecodedEvent, Rejection> {
        inbound.decode(topic: catalog.name(role), key: Array("rabat".utf8), value: Array(text.utf8))
    }

    static let caseID = "0f6b2c9e-1a3d-5e4f-8b7c-6d5e4f3a2b1c"

    static func command(version: Int, _ extra: String) -> String {
        #"{"schema_version":\#(version),"event_id":"3c9d7e21-8a4b-4f6c-9d2e-1b7a5c3e9f40","zone":"rabat","case_id":"\#(caseID)","command":"set_priority","operator_id":"op","reason":"second call","issued_at":"2026-01-15T02:24:00Z"\#(extra)}"#
    }

    @Test("a report of version 3 carries the case it is linked to; version 2 may not")
    func linkedReport() throws {
        var document = ReportFixture.document(extra: [("linked_case_id", .string(Self.caseID))])
        func with(version: Int64) -> String {
            guard case .object(let object) = document else { return "" }
            return JSONValue.object(
                JSONObject(object.entries.map { $0.key == "schema_version" ? ($0.key, .integer(version)) : $0 })
            ).serialized
        }
        let linked = try decode(.reports, with(version: 3)).get()
        guard case .report(let report) = linked.event else {
            Issue.record("not a report")
            return
        }
        #expect(report.linkedCaseID == UUID(uuidString: Self.caseID))
        guard case .failure(let rejection) = decode(.reports, with(version: 2)) else {
            Issue.record("version 2 accepted a linked case")
            return
        }
        #expect(rejection.reason == .schemaViolation)
        #expect(rejection.field == "/linked_case_id")
        document = ReportFixture.document()
        let plain = try decode(.reports, with(version: 3)).get()
        if case .report(let report) = plain.event { #expect(report.linkedCaseID == nil) }
    }

    @Test("set_priority (commands version 4) needs a priority from P1 to P4; versions before 4 do not know it")
    func setPriority() throws {
        let decoded = try decode(.commands, Self.command(version: 4, #","priority":"P1""#)).get()
        guard case .command(let command) = decoded.event else {
            Issue.record("not a command")
            return
        }
        #expect(command.action == .setPriority(.p1))
        #expect(command.name == "set_priority")
        let refused: [(String, String?)] = [
            (Self.command(version: 4, ""), "/priority"),
            (Self.command(version: 4, #","priority":"P9""#), "/priority"),
            (Self.command(version: 3, #","priority":"P1""#), nil),
        ]
        for (text, field) in refused {
            guard case .failure(let rejection) = decode(.commands, text) else {
                Issue.record("accepted: \(text)")
                continue
            }
            if let field { #expect(rejection.field == field, "\(text)") }
        }
    }

    @Test(
        "callers' categories that may be the same person: the same, a homeless adult, or among elderly, disabled and distressed"
    )
    func sameCategory() {
        for a in BeneficiaryCategory.allCases {
            #expect(a.mayBeSamePerson(as: a))
            #expect(a.mayBeSamePerson(as: .homelessAdult))
            for b in BeneficiaryCategory.allCases { #expect(a.mayBeSamePerson(as: b) == b.mayBeSamePerson(as: a)) }
        }
        #expect(!BeneficiaryCategory.childStreetSituation.mayBeSamePerson(as: .isolatedElderly))
        #expect(!BeneficiaryCategory.womanViolenceVictim.mayBeSamePerson(as: .mentalDistress))
        #expect(BeneficiaryCategory.isolatedElderly.mayBeSamePerson(as: .personWithDisability))
    }
}
