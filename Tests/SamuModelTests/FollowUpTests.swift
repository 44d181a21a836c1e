import Foundation
import SamuModel
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
