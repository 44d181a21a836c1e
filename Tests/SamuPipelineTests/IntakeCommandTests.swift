import Foundation
import SamuModel
import SamuTestSupport
import Testing

@Suite("samu intake (integration)", .timeLimit(.minutes(1)))
struct IntakeCommandTests {
    func intake(_ arguments: [String], environment: [String: String]) async throws -> SamuBinary.Outcome {
        try await SamuBinary.run(["intake"] + arguments, environment: environment)
    }

    @Test("each rejected line is reported with its number, reason and field; valid lines are published byte for byte")
    func rejectsAndPublishes() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        let first = ReportFixture.document(zone: "fes").serialized
        let second = ReportFixture.document(zone: "oujda-angad").serialized
        let bad = ReportFixture.document(age: 340).serialized
        let nowhere = ReportFixture.document(zone: "casablanca").serialized
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("intake-\(harness.id).ndjson")
        try Data([first, "", second, bad, nowhere].joined(separator: "\n").appending("\n").utf8).write(to: file)

        let validated = try await intake([file.path], environment: harness.environment)
        #expect(validated.status == 1)
        #expect(
            validated.standardError.contains(
                "\(file.path):4: rejected: schema_violation: /person/age: 340 is more than 120"))
        #expect(
            validated.standardError.contains(
                "\(file.path):5: rejected: unknown_zone: zone \"casablanca\" is not one of"))
        #expect(validated.standardOutput.contains("2 published"))
        #expect(validated.standardOutput.contains("2 rejected"))
        #expect(validated.standardOutput.contains("1 blank lines skipped"))
        var messages = try await harness.readAll(.reports)
        #expect(messages.count == 2)
        #expect(Set(messages.compactMap(\.value)) == [Array(first.utf8), Array(second.utf8)])
        #expect(Set(messages.compactMap(\.key)) == [Array("fes".utf8), Array("oujda-angad".utf8)])

        let raw = try await intake(["--raw", file.path], environment: harness.environment)
        #expect(raw.status == 0, "\(raw.standardError)")
        messages = try await harness.readAll(.reports)
        #expect(messages.count == 6)
        #expect(messages.contains { $0.value == Array(bad.utf8) })

        let missing = try await intake(["/no/such/file.ndjson"], environment: harness.environment)
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("cannot read /no/such/file.ndjson"))
        try await harness.cleanUp()
    }
}
