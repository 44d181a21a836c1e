import Foundation
import Hummingbird
import Logging
import Metrics
import RdKafka
import SamuModel
import SamuStore

/// An operator's actions on a case (`POST /api/cases/{id}/commands`): checked against the account's
/// scope and the topic's schema, sent as a command event keyed by the case's zone. The zone's worker
/// (the single writer) applies or refuses it; the board shows the outcome once committed.
struct CaseCommandController: Sendable {
    let repository: BoardRepository
    let producer: KafkaProducer
    let catalog: TopicCatalog
    /// Commands are keyed by their case's zone's dispatch area.
    let areas: DispatchAreas
    let logger: Logger

    struct CommandRequest: Decodable {
        var command: String
        var unit_id: String?
        var resolution: String?
        var step: String?
        var decision: String?
        var visit_outcome: String?
        var priority: String?
        var bed_type: String?
        var shelter_id: String?
        var reason: String?
        /// Made by the page, once per command: a second click or a retry sends the command once.
        var event_id: String?
    }

    struct CommandEvent: Encodable {
        var schema_version: Int
        var event_id: String
        var zone: String
        var case_id: String
        var command: String
        var unit_id: String?
        var resolution: String?
        var step: String?
        var decision: String?
        var visit_outcome: String?
        var priority: String?
        var bed_type: String?
        var shelter_id: String?
        var operator_id: String
        var operator_role: String
        var reason: String
        var issued_at: String
    }

    struct CommandSent: Encodable {
        var event_id: String
        var case_id: String
        var command: String
        var status: String
    }

    /// Commands that change no dispatch (schema version 2): they apply to closed cases too.
    static let caseWork: Set<String> = [
        "record_step", "take_follow_up", "complete_follow_up", "acknowledge_referral", "decide_referral",
    ]
    /// Overrides of triage (schema version 4): a reason is required.
    static let overrides: Set<String> = ["set_priority", "choose_bed"]
    /// What a child-protection body does on the console: its referrals, nothing else.
    static let referralCommands: Set<String> = ["acknowledge_referral", "decide_referral"]

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.post("cases/{id}/commands") { request, context in
            try await command(request, caseID: try context.caseID(), session: try context.requireBoardSession())
        }
    }

    func command(_ request: Request, caseID: UUID, session: ConsoleSession) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 8192)
        guard let asked = try? JSONDecoder().decode(CommandRequest.self, from: Data(buffer: buffer)) else {
            throw Problem(.invalidBody, "send {\"command\": …, \"reason\": …}")
        }
        // Unknown and out-of-scope cases get the same answer: nothing about other zones leaks.
        guard let (zone, open) = try await repository.zone(of: caseID), session.account.mayAct(in: zone) else {
            throw Problem(.notFound, "no such case in your zones")
        }
        var claimedID: UUID?
        if let text = asked.event_id {
            guard let id = UUID(uuidString: text) else {
                throw Problem(.validation, "event_id is the command's id (a UUID)", field: "/event_id")
            }
            // Sent before (a second click, a retry after a lost answer): answered as then, before
            // any check, since the command itself may have changed what they look at.
            if let claimed = try await repository.claimedCommand(id) {
                return try await resend(claimed, eventID: id, caseID: caseID, zone: zone, session: session)
            }
            claimedID = id
        }
        // Case work (schema version 2) applies to closed cases too: a follow-up is done after the
        // night. Dispatch commands act on open cases only: say so now rather than send a command
        // nobody applies.
        let caseWork = Self.caseWork.contains(asked.command)
        let role = session.account.role
        if Self.referralCommands.contains(asked.command) {
            guard role.decidesReferrals else {
                throw Problem(
                    .forbidden, "referrals are acknowledged and decided by child-protection bodies and supervisors")
            }
        } else if !role.dispatches {
            throw Problem(.forbidden, "a child-protection account acknowledges and decides referrals only")
        }
        guard open || caseWork else {
            throw Problem(.caseClosed, "the case is closed; its timeline is still readable")
        }
        if asked.command == "record_step", (asked.step ?? "").isEmpty {
            throw Problem(.validation, "record_step needs a step", field: "/step")
        }
        if asked.command == "take_follow_up" || asked.command == "complete_follow_up",
            try await !repository.hasOpenFollowUp(caseID)
        {
            throw Problem(.noFollowUp, "the case has no follow-up task still to do")
        }
        // Overrides of triage (schema version 4) are answered for: the reason is part of the decision.
        let override = Self.overrides.contains(asked.command)
        if override {
            if asked.command == "set_priority", (asked.priority ?? "").isEmpty {
                throw Problem(.validation, "set_priority needs a priority", field: "/priority")
            }
            if asked.command == "choose_bed", (asked.bed_type ?? "").isEmpty {
                throw Problem(.validation, "choose_bed needs a bed_type", field: "/bed_type")
            }
            guard !(asked.reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Problem(.validation, "an override needs a reason", field: "/reason")
            }
        }
        if asked.command == "decide_referral", (asked.decision ?? "").isEmpty {
            throw Problem(.validation, "decide_referral needs a decision", field: "/decision")
        }
        if Self.referralCommands.contains(asked.command) {
            let status = try await repository.referralStatus(caseID)
            guard let status, status != .decided, asked.command == "decide_referral" || status == .open else {
                throw Problem(
                    .noReferral,
                    status == nil
                        ? "the case has no child-protection referral" : "the referral is already \(status!.rawValue)")
            }
        }
        let reason = (asked.reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        // Version 3: what a follow-up's visit found (done unless said otherwise).
        let visitOutcome =
            asked.command == "complete_follow_up" ? asked.visit_outcome.flatMap { $0.isEmpty ? nil : $0 } : nil
        let event = CommandEvent(
            schema_version: override
                ? 4 : visitOutcome != nil || asked.resolution == "deceased" ? 3 : caseWork ? 2 : 1,
            event_id: (claimedID ?? UUID()).lowercased, zone: zone, case_id: caseID.lowercased, command: asked.command,
            unit_id: asked.unit_id.flatMap { $0.isEmpty ? nil : $0 },
            resolution: asked.resolution.flatMap { $0.isEmpty ? nil : $0 },
            step: caseWork ? asked.step.flatMap { $0.isEmpty ? nil : $0 } : nil,
            decision: caseWork ? asked.decision.flatMap { $0.isEmpty ? nil : $0 } : nil,
            visit_outcome: visitOutcome,
            priority: asked.command == "set_priority" ? asked.priority : nil,
            bed_type: asked.command == "choose_bed" ? asked.bed_type : nil,
            shelter_id: asked.command == "choose_bed" ? asked.shelter_id.flatMap { $0.isEmpty ? nil : $0 } : nil,
            operator_id: session.account.id, operator_role: session.account.role.rawValue,
            reason: reason.isEmpty ? "\(asked.command) from the console" : reason,
            issued_at: ISO8601DateFormatter().string(from: Date()))
        let bytes = JSONBody.encode(event)
        let decoder = TopicDecoder(definition: catalog.definition(.commands))
        if case .failure(let rejection) = decoder.document(value: bytes) {
            throw Problem(.validation, rejection.detail, field: rejection.field, reason: rejection.reason.rawValue)
        }
        if asked.command == "close", event.resolution == nil {
            throw Problem(.validation, "close needs a resolution", field: "/resolution")
        }
        // The worker refuses a release from anyone but the claimant or a supervisor; the console
        // says so at once instead of sending a command the worker will refuse.
        if asked.command == "release", session.account.role != .supervisor {
            let claimant = try await repository.claimant(of: caseID)
            guard claimant == session.account.id else {
                throw Problem(
                    .forbidden,
                    claimant.map { "the case is claimed by \($0); only they or a supervisor may release it" }
                        ?? "the case is not claimed")
            }
        }
        if let claimedID,
            try await !repository.claimCommand(claimedID, operatorID: session.account.id, caseID: caseID, event: bytes)
        {
            // A request racing this one claimed the id first: its command is the one sent.
            guard let first = try await repository.claimedCommand(claimedID) else {
                throw Problem(.databaseUnavailable, "the command could not be recorded; try again", retryAfter: 2)
            }
            return try await resend(first, eventID: claimedID, caseID: caseID, zone: zone, session: session)
        }
        try await publish(bytes, zone: zone, session: session)
        if let claimedID { try await repository.commandSent(claimedID) }
        Metrics.Counter(label: "samu_console_commands_total", dimensions: [("command", asked.command)]).increment()
        logger.info(
            "console command",
            metadata: [
                "operator.id": "\(session.account.id)", "case.id": "\(caseID.lowercased)",
                "command": "\(asked.command)", "zone.id": "\(zone)",
            ])
        return JSONBody.response(
            CommandSent(event_id: event.event_id, case_id: event.case_id, command: event.command, status: "sent"),
            status: .accepted)
    }
    func publish(_ bytes: [UInt8], zone: String, session: ConsoleSession) async throws {
        try await producer.publish(
            bytes, topic: catalog.name(.commands), key: areas.key(for: zone), source: "console:\(session.account.id)",
            notSent: "the command was not sent; try again")
    }

    /// A command claimed before under this id: answered as then, its event sent again only if the
    /// broker never took it. Another operator's id, or another case's, is refused.
    func resend(
        _ claimed: BoardRepository.ClaimedCommand, eventID: UUID, caseID: UUID, zone: String, session: ConsoleSession
    ) async throws -> Response {
        guard claimed.operatorID == session.account.id, claimed.caseID == caseID else {
            throw Problem(.validation, "this event_id is another command's", field: "/event_id")
        }
        if !claimed.sent {
            try await publish(claimed.event, zone: zone, session: session)
            try await repository.commandSent(eventID)
        }
        let command = (try? JSONParser.parse(claimed.event))?["command"]?.stringValue ?? ""
        return JSONBody.response(
            CommandSent(event_id: eventID.lowercased, case_id: caseID.lowercased, command: command, status: "sent"),
            status: .accepted)
    }
}
