import Foundation
import SamuModel
import SamuTestSupport
import Testing

@Suite("Follow-up tasks: what a case that ended without help leaves, and when it is due")
struct FollowUpTests {
    func date(_ text: String) throws -> Date { try #require(RFC3339.parse(text)) }

    @Test(
        "help refused or nobody found: a re-visit at the next 20:00 in Morocco",
        arguments: [
            ("2026-01-15T23:30:00+01:00", "2026-01-16T20:00:00+01:00"),
            ("2026-01-16T03:10:00+01:00", "2026-01-16T20:00:00+01:00"),
            ("2026-01-16T19:00:00+01:00", "2026-01-16T20:00:00+01:00"),
            ("2026-01-16T20:00:00+01:00", "2026-01-17T20:00:00+01:00"),
        ])
    func revisit(ended: String, due: String) throws {
        for resolution in [Resolution.helpRefused, .personNotFound] {
            let task = try #require(resolution.followUp(endedAt: try date(ended)))
            #expect(task.kind == .revisit)
            #expect(task.due == (try date(due)), "\(resolution) at \(ended)")
        }
    }

    @Test("a visit that finds the person refusing again or gone comes back the next night; a done one ends the task")
    func visitOutcome() throws {
        let visit = try date("2026-01-16T21:40:00+01:00")
        #expect(VisitOutcome.helpRefused.nextVisit(after: visit) == (try date("2026-01-17T20:00:00+01:00")))
        #expect(VisitOutcome.personNotFound.nextVisit(after: visit) == (try date("2026-01-17T20:00:00+01:00")))
        #expect(VisitOutcome.done.nextVisit(after: visit) == nil)
        // Decoded from a command: absent means done (a version 2 producer), an unknown value is refused.
        let catalog = try Repository.catalog()
        let decoder = InboundDecoder(catalog: catalog, zones: nil)
        func command(_ extra: String, version: Int = 3) -> [UInt8] {
            Array(
                """
                {"schema_version":\(version),"event_id":"5d1e2f30-7b53-4a4f-8e66-8f2b3c4d5e6f","zone":"rabat",
                "case_id":"7c5b1c1e-2f1d-5e3a-9b8c-1d2e3f4a5b6c","command":"complete_follow_up","operator_id":"op",
                "reason":"encore","issued_at":"2026-01-16T21:40:00Z"\(extra)}
                """.utf8)
        }
        func action(_ bytes: [UInt8]) -> OperatorCommand.Action? {
            let result = decoder.decode(topic: catalog.name(.commands), key: Array("rabat".utf8), value: bytes)
            guard case .success(let decoded) = result, case .command(let command) = decoded.event else { return nil }
            return command.action
        }
        #expect(action(command(#","visit_outcome":"help_refused""#)) == .completeFollowUp(.helpRefused))
        #expect(action(command("", version: 2)) == .completeFollowUp(.done))
        #expect(action(command(#","visit_outcome":"gone""#)) == nil)
        #expect(action(command(#","visit_outcome":"done""#, version: 2)) == nil, "version 2 has no visit_outcome")
    }

    @Test("a night without a bed: a day team's follow-up at the next 09:00")
    func noBed() throws {
        let late = try #require(Resolution.noBedTonight.followUp(endedAt: try date("2026-01-15T23:30:00+01:00")))
        #expect(late == FollowUpTask(kind: .followUp, due: try date("2026-01-16T09:00:00+01:00")))
        let early = try #require(Resolution.noBedTonight.followUp(endedAt: try date("2026-01-16T05:00:00+01:00")))
        #expect(early.due == (try date("2026-01-16T09:00:00+01:00")))
    }

    @Test("Morocco's time as the pages show it: UTC+1 in December, UTC+0 in Ramadan")
    func moroccoTime() throws {
        #expect(MoroccoTime.format(try date("2026-12-06T19:00:00Z")) == "2026-12-06 20:00")
        #expect(MoroccoTime.format(try date("2026-03-01T19:00:00Z")) == "2026-03-01 19:00")
    }

    @Test("a case that ended with help leaves no task")
    func none() throws {
        for resolution in Resolution.allCases where !resolution.isUnmetDemand {
            #expect(resolution.followUp(endedAt: try date("2026-01-15T23:30:00+01:00")) == nil)
        }
    }

    @Test("during Ramadan Morocco's clock is UTC+0: the re-visit is still at 20:00 local")
    func ramadan() throws {
        // 2026-03-01 falls in Ramadan 1447, when Morocco sets its clocks to UTC+0.
        let task = try #require(Resolution.helpRefused.followUp(endedAt: try date("2026-03-01T23:00:00Z")))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "Africa/Casablanca"))
        #expect(calendar.component(.hour, from: task.due) == 20)
        #expect(task.due > (try date("2026-03-01T23:00:00Z")))
    }
}
