import Foundation
import SamuTestSupport
import Testing

/// Start-up fails fast, with a message that says what to do (DESIGN.md invariant 5).
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

    @Test("an invalid setting is refused before anything starts")
    func invalidConfiguration() async throws {
        let result = try await SamuBinary.run(["worker"], environment: ["SAMU_KAFKA_SECURITY_PROTOCOL": "sasl_ssl"])
        #expect(result.status != 0)
        #expect(result.output.contains("needs a SASL mechanism"), "\(result.output)")
    }
}
