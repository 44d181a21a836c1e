import Foundation
import Hummingbird
import Logging
import SamuStore

/// A supervisor enrols a unit's phone from the console and revokes it: `POST
/// /api/units/{id}/enrolments` makes a one-time code (shown once, valid 15 minutes) and the link
/// that carries it; `GET /api/units/{id}/devices` lists the unit's devices; `POST
/// /api/devices/{id}/revoke` ends one's credential at once. No operator password ever reaches a
/// crew's phone.
struct DeviceController: Sendable {
    let repository: CrewRepository
    let logger: Logger
    static let codeLength = 10
    static let lifetime: TimeInterval = 15 * 60
    /// Letters and digits a crew reads and types without confusion (no 0/O, 1/I/L).
    static let alphabet = Array("ABCDEFGHJKMNPQRSTUVWXYZ23456789")

    struct EnrolmentCode: Encodable {
        var unit_id: String
        var code: String
        /// `/crew#enrol=CODE`: opened on the phone, it enrols it.
        var link: String
        var expires_at: Date
    }

    /// A code as typed: upper case, no spaces or dashes.
    static func normalised(_ code: String) -> String {
        String(code.uppercased().filter { $0.isLetter || $0.isNumber })
    }

    static func newCode() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<codeLength).map { _ in alphabet.randomElement(using: &generator)! })
    }

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.post("units/{id}/enrolments") { _, context in
            let session = try requireSupervisor(context)
            let unit = try await scopedUnit(context, session)
            let code = Self.newCode()
            let now = Date()
            let expires = now.addingTimeInterval(Self.lifetime)
            try await repository.createEnrolment(
                codeDigest: Accounts.digest(code), unitID: unit.unitID, zone: unit.zone, by: session.account.id,
                at: now, expires: expires)
            logger.info(
                "crew enrolment code made",
                metadata: ["unit.id": "\(unit.unitID)", "operator.id": "\(session.account.id)"])
            return JSONBody.response(
                EnrolmentCode(unit_id: unit.unitID, code: code, link: "/crew#enrol=\(code)", expires_at: expires),
                status: .created)
        }
        group.get("units/{id}/devices") { _, context in
            let session = try requireSupervisor(context)
            let unit = try await scopedUnit(context, session)
            return JSONBody.response(try await repository.devices(unitID: unit.unitID))
        }
        group.post("devices/{id}/revoke") { _, context in
            let session = try requireSupervisor(context)
            guard let deviceID = context.parameters.get("id"),
                try await repository.revoke(
                    deviceID: deviceID, zones: session.account.zones, by: session.account.id)
            else { throw Problem(.notFound, "no such device in your zones") }
            logger.notice(
                "crew device revoked", metadata: ["device.id": "\(deviceID)", "operator.id": "\(session.account.id)"])
            return JSONBody.response(["device_id": deviceID, "status": "revoked"])
        }
    }

    func requireSupervisor(_ context: ConsoleRequestContext) throws -> ConsoleSession {
        let session = try context.requireSession()
        guard session.account.role == .supervisor else {
            throw Problem(.forbidden, "a supervisor enrols and revokes crews' devices")
        }
        return session
    }

    /// The route's unit, if the supervisor's zones include its zone (else `404`, like an unknown one).
    func scopedUnit(_ context: ConsoleRequestContext, _ session: ConsoleSession) async throws -> UnitRow {
        guard let unitID = context.parameters.get("id"), let unit = try await repository.unit(unitID),
            session.account.mayAct(in: unit.zone)
        else { throw Problem(.notFound, "no such unit in your zones") }
        return unit
    }
}
