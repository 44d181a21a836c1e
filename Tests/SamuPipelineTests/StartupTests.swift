import Foundation
import SamuTestSupport
import Testing

/// Start-up fails fast, with a message that says what to do (docs/reliability.md §1, guarantee 5).
@Suite("Worker start-up checks (integration)", .timeLimit(.minutes(1)))
struct StartupTests {
    @Test("with Debian's librdkafka 2.0.2 the worker refuses to start and says how to fix it")
    func oldLibrdkafka() async throws {
        // Without .local/lib on the library path, the system's librdkafka 2.0.2 is loaded.
        let result = try await SamuBinary.run(["worker"], environment: ["LD_LIBRARY_PATH": ""])
        #expect(result.status != 0)
        #expect(
            result.output.contains("librdkafka 2.0.2 was loaded, but samu needs librdkafka >= 2.1"), "\(result.output)")
        #expect(result.output.contains("ops/setup.sh"))
    }

    @Test("against a database without migrations the worker exits at once, naming `samu migrate`")
    func unmigrated() async throws {
        let harness = try PipelineHarness()
        let result = try await SamuBinary.run(["worker"], environment: harness.environment)
        #expect(result.status != 0)
        #expect(result.output.contains("run `samu migrate`"), "\(result.output)")
        #expect(result.seconds < 10)
    }

    /// F15's verdict on a start-up: refused (exit ≠ 0) within 5 s, with a message naming the
    /// setting; added to the fault table.
    static func refusedFast(
        _ scenario: String, _ result: SamuBinary.Outcome, naming setting: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status != 0, sourceLocation: sourceLocation)
        #expect(result.output.contains(setting), "\(result.output)", sourceLocation: sourceLocation)
        #expect(result.seconds < 5, sourceLocation: sourceLocation)
        let refused = result.status != 0 && result.seconds < 5 && result.output.contains(setting)
        FaultTable.append(
            [scenario] + Array(repeating: "-", count: 10) + [
                String(format: "%.1f s", result.seconds), refused ? "yes" : "NO",
                "exit \(result.status), names \(setting.prefix(while: { $0 != ":" }))",
            ])
    }

    @Test("F15: SASL_SSL without a CA exits within 5 s, naming the setting")
    func saslWithoutCA() async throws {
        let result = try await SamuBinary.run(
            ["worker"],
            environment: [
                "SAMU_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "SAMU_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "SAMU_KAFKA_SASL_USERNAME": "samu-worker", "SAMU_KAFKA_SASL_PASSWORD": "secret",
            ])
        Self.refusedFast("F15 SASL_SSL without a CA", result, naming: "SAMU_KAFKA_SSL_CA_LOCATION")
        #expect(!result.output.contains("secret"))
    }

    @Test("F15: a wrong database password exits within 5 s, naming SAMU_DATABASE_URL")
    func wrongDatabasePassword() async throws {
        let harness = try PipelineHarness()
        try await harness.prepare()
        var components = try #require(URLComponents(string: TestEnvironment.databaseURL))
        components.password = "not-the-password"
        var environment = harness.environment
        environment["SAMU_DATABASE_URL"] = components.string
        let result = try await SamuBinary.run(["worker"], environment: environment)
        Self.refusedFast(
            "F15 wrong database password", result, naming: "SAMU_DATABASE_URL: the database refused the connection")
        #expect(result.output.contains("28P01"))
        #expect(!result.output.contains("not-the-password"))
        try await harness.cleanUp()
    }

    @Test("an invalid setting is refused before anything starts")
    func invalidConfiguration() async throws {
        let result = try await SamuBinary.run(["worker"], environment: ["SAMU_KAFKA_SECURITY_PROTOCOL": "sasl_ssl"])
        #expect(result.status != 0)
        #expect(result.output.contains("needs a SASL mechanism"), "\(result.output)")
    }
}
