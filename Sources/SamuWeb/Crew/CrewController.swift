import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import RdKafka
import SamuModel
import SamuStore
import Synchronization

/// The crew app's door (`/api/crew/…`): a device enrolled for one unit, by a supervisor's one-time
/// code, reads its unit's assignment and sends the crew's actions. Its credential is a bearer
/// token (never a cookie: a page elsewhere cannot make the phone send it), scoped to that unit and
/// revocable. Actions become `samu.units.v1` events with the id the device made, so a resent
/// action is applied once; an action about a case the unit no longer has is refused with why.
final class CrewController: Sendable {
    let repository: CrewRepository
    let producer: KafkaProducer
    let catalog: TopicCatalog
    let areas: DispatchAreas
    let hub: BoardHub
    let credentialFailures: RateLimiter
    let enrolments: RateLimiter
    let logger: Logger
    let shelterNames: ShelterNames
    static let maximumStreamsPerDevice = 2
    let streams = StreamSlots(limit: maximumStreamsPerDevice)
    static let tokenPrefix = "samu_crew_"

    init(
        repository: CrewRepository, producer: KafkaProducer, catalog: TopicCatalog, areas: DispatchAreas,
        hub: BoardHub, credentialFailures: RateLimiter, logger: Logger, enrolments: RateLimiter = RateLimiter(),
        shelterNames: ShelterNames = ShelterNames([])
    ) {
        self.shelterNames = shelterNames
        self.repository = repository
        self.producer = producer
        self.catalog = catalog
        self.areas = areas
        self.hub = hub
        self.credentialFailures = credentialFailures
        self.enrolments = enrolments
        self.logger = logger
    }

    struct Enrolment: Decodable {
        var code: String
    }

    struct Enrolled: Encodable {
        var token: String
        var device_id: String
        var unit_id: String
        var zone: String
    }

    /// A crew's action as the app sends it.
    struct Action: Decodable {
        /// Made on the device (a UUID): the event's id, so a resend is applied once.
        var event_id: String
        var action: String
        var case_id: String?
        var resolution: String?
        var note: String?
        var position: Position?
        /// When the crew did it (the device's clock; shown, never trusted for ordering).
        var made_at: String?
        /// With an action about the unit (available, unavailable, end of shift): the case the phone
        /// showed when it was tapped ("" for none).
        var seen_case_id: String?

        struct Position: Decodable {
            var lat: Double
            var lon: Double
        }
    }

    struct Accepted: Encodable {
        var event_id: String
        var status: String
    }

    func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.post("/api/crew/enrol") { request, context in
            try await self.enrol(request, address: context.clientAddress)
        }
        router.get("/api/crew/assignment") { request, context in
            let device = try await self.device(request, address: context.clientAddress)
            return Self.json(try await self.repository.assignment(unitID: device.unit_id, names: self.shelterNames))
        }
        router.get("/api/crew/cases/{id}/report") { request, context in
            let device = try await self.device(request, address: context.clientAddress)
            guard let id = try? context.parameters.require("id", as: UUID.self),
                let text = try await self.repository.caseReport(caseID: id, deviceID: device.device_id)
            else { throw Problem(.notFound, "your unit does not have this case") }
            return Self.json(text)
        }
        router.post("/api/crew/actions") { request, context in
            let device = try await self.device(request, address: context.clientAddress)
            return try await self.act(request, device: device)
        }
        router.get("/api/crew/events") { request, context in
            let device = try await self.device(request, address: context.clientAddress)
            return try self.events(device: device, token: Self.bearer(request) ?? "")
        }
    }

    static func json(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return String(header.dropFirst("Bearer ".count))
    }

    /// The device a request's bearer token belongs to, or `401`. An address that sent many bad
    /// tokens is refused before its token costs a query.
    func device(_ request: Request, address: String) async throws -> CrewDevice {
        guard let token = Self.bearer(request), token.hasPrefix(Self.tokenPrefix), token.utf8.count < 100 else {
            throw Problem(.unauthorized, "this device is not enrolled")
        }
        if let wait = credentialFailures.wait(client: address, ratePerMinute: 60, burst: 10) {
            throw Problem(.rateLimited, "too many invalid credentials from this address", retryAfter: wait)
        }
        guard let device = try await repository.device(tokenDigest: Accounts.digest(token)) else {
            _ = credentialFailures.take(client: address, ratePerMinute: 60, burst: 10)
            throw Problem(.unauthorized, "this device is not enrolled, or was revoked")
        }
        try await repository.touch(deviceID: device.device_id, at: Date())
        return device
    }

    /// `POST /api/crew/enrol`: a one-time code for a new device credential of the code's unit.
    func enrol(_ request: Request, address: String) async throws -> Response {
        try SessionMiddleware.checkOrigin(request)
        if let wait = enrolments.take(client: address, ratePerMinute: 20, burst: 10) {
            throw Problem(.rateLimited, "too many enrolment attempts from this address", retryAfter: wait)
        }
        let buffer = try await request.body.collect(upTo: 1024)
        guard let asked = try? JSONDecoder().decode(Enrolment.self, from: Data(buffer: buffer)) else {
            throw Problem(.invalidBody, "send {\"code\": …}")
        }
        let code = DeviceController.normalised(asked.code)
        guard code.count == DeviceController.codeLength else {
            throw Problem(.unauthorized, "unknown, used or expired code")
        }
        let token = Accounts.newToken(prefix: Self.tokenPrefix)
        let deviceID = "d-" + String(UUID().uuidString.lowercased().prefix(13))
        guard
            let (unitID, zone) = try await repository.redeem(
                codeDigest: Accounts.digest(code), deviceID: deviceID, tokenDigest: Accounts.digest(token), at: Date())
        else {
            throw Problem(.unauthorized, "unknown, used or expired code")
        }
        logger.info("crew device enrolled", metadata: ["unit.id": "\(unitID)", "device.id": "\(deviceID)"])
        return JSONBody.response(Enrolled(token: token, device_id: deviceID, unit_id: unitID, zone: zone))
    }

    /// `POST /api/crew/actions`: one crew action, as a unit event of the device's unit.
    func act(_ request: Request, device: CrewDevice) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 4096)
        guard let action = try? JSONDecoder().decode(Action.self, from: Data(buffer: buffer)),
            let eventID = UUID(uuidString: action.event_id)
        else { throw Problem(.invalidBody, "send {\"event_id\": …, \"action\": …}") }
        let report: CrewReport
        do {
            report = try CrewReport(
                eventID: eventID, action: action.action, caseID: action.case_id, resolution: action.resolution,
                note: action.note, position: action.position.map { GeoPoint(latitude: $0.lat, longitude: $0.lon) })
        } catch {
            throw Problem(.validation, error.detail, field: error.field)
        }
        if let fix = report.droppedFix {
            logger.notice(
                "crew action's position outside the served area left out",
                metadata: ["device.id": "\(device.device_id)", "lat": "\(fix.latitude)", "lon": "\(fix.longitude)"])
        }
        // Sent before (the answer was lost on the way back, or the phone sent it again while the
        // first request was on its way): the event first claimed, never a second version of it.
        if let claimed = try await repository.claimedAction(eventID) {
            return try await resend(claimed, eventID: eventID, device: device)
        }
        if let caseID = report.caseID {
            // Made offline and stale by now: the case went to another crew, or ended.
            guard let holder = try await repository.caseHolder(caseID) else {
                throw Problem(.staleAction, "no such case", reason: "no_such_case")
            }
            guard holder.open else { throw Problem(.staleAction, "the case is closed", reason: "case_closed") }
            guard holder.unitID == device.unit_id else {
                throw Problem(.staleAction, "the case was given to another crew", reason: "case_reassigned")
            }
        }
        if !report.action.isAboutCase, report.action != .position, let seen = action.seen_case_id,
            let current = try await repository.openCase(ofUnit: device.unit_id), current.lowercased != seen.lowercased
        {
            // Tapped on a phone that had not seen the unit's case (another phone of the crew
            // acknowledged it while this one was offline): "unavailable" or "end of shift" now
            // would take the case from the crew driving to the person.
            throw Problem(
                .staleAction, "the unit was given a case this phone had not seen: look at it first",
                reason: "case_not_seen")
        }
        guard let unit = try await repository.unit(device.unit_id) else {
            throw Problem(.notFound, "the unit has not reported yet; ask the dispatch to start its shift")
        }
        // A position report keeps the unit's status; any action keeps the last position the
        // device did not improve on. Versions follow the server's clock: the order actions reach
        // samu, which the device's queue keeps (its clock may be wrong).
        let now = Date()
        let event = report.unitEvent(
            unitID: device.unit_id, zone: unit.zone,
            current: (
                UnitStatus(rawValue: unit.status) ?? .available,
                GeoPoint(latitude: unit.latitude, longitude: unit.longitude)
            ),
            version: CrewReport.version(at: now, after: unit.version), at: now)
        let bytes = event.serializedBytes
        let decoder = TopicDecoder(definition: catalog.definition(.units))
        if case .failure(let rejection) = decoder.document(value: bytes) {
            throw Problem(.validation, rejection.detail, field: rejection.field, reason: rejection.reason.rawValue)
        }
        // The id is claimed with these bytes before they are sent: a request racing this one sends
        // the same bytes, which the worker takes once.
        guard
            try await repository.claimAction(
                eventID: eventID, deviceID: device.device_id, unitID: device.unit_id, action: action.action,
                caseID: report.caseID, event: bytes, at: now)
        else {
            guard let first = try await repository.claimedAction(eventID) else {
                throw Problem(.databaseUnavailable, "the action could not be recorded; it stays on the phone")
            }
            return try await resend(first, eventID: eventID, device: device)
        }
        try await publish(bytes, zone: unit.zone, eventID: eventID, device: device)
        Metrics.Counter(label: "samu_crew_actions_total", dimensions: [("action", action.action)]).increment()
        return JSONBody.response(Accepted(event_id: eventID.lowercased, status: "accepted"), status: .accepted)
    }

    /// Sends an action's unit event and notes that the broker took it.
    func publish(_ bytes: [UInt8], zone: String, eventID: UUID, device: CrewDevice) async throws {
        try await producer.publish(
            bytes, topic: catalog.name(.units), key: areas.key(for: zone), source: "crew:\(device.device_id)",
            notSent: "the action was not sent; it stays on the phone")
        try await repository.actionSent(eventID)
    }

    /// An action claimed before under this id: answered as then, its first event sent again if the
    /// broker never took it. Another unit's id is refused; the same unit's from another device is
    /// the phone itself, enrolled again (revoked, then given a new code) with its queue kept.
    func resend(
        _ claimed: CrewRepository.ClaimedAction, eventID: UUID, device: CrewDevice
    ) async throws -> Response {
        guard claimed.deviceID == device.device_id || claimed.unitID == device.unit_id else {
            throw Problem(.validation, "this id is another unit's action", field: "/event_id")
        }
        if !claimed.sent, let bytes = claimed.event,
            case .string(let zone)? = (try? JSONParser.parse(bytes))?["zone"]
        {
            try await publish(bytes, zone: zone, eventID: eventID, device: device)
        }
        return JSONBody.response(Accepted(event_id: eventID.lowercased, status: "accepted"), status: .accepted)
    }

    /// `GET /api/crew/events`: server-sent events, the unit's assignment now and at each change.
    func events(device: CrewDevice, token: String) throws -> Response {
        guard let slot = streams.take(device.device_id) else {
            throw Problem(.rateLimited, "at most \(Self.maximumStreamsPerDevice) streams per device", retryAfter: 5)
        }
        // The slot goes back when this body does: at the stream's end, or unrun if the phone left
        // before the answer's head was sent.
        let body = ResponseBody { [repository, hub, logger, shelterNames, slot] writer in
            defer { withExtendedLifetime(slot) {} }
            var last = ""
            var seen = hub.version
            var lastWrite = ContinuousClock.now
            var lastCheck = ContinuousClock.now
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            while !hub.isClosed && !Task.isCancelled {
                let assignment = try await repository.assignment(unitID: device.unit_id, names: shelterNames)
                if assignment != last {
                    try await writer.write(ByteBuffer(string: "event: assignment\ndata: \(assignment)\n\n"))
                    last = assignment
                    lastWrite = .now
                } else if ContinuousClock.now - lastWrite > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                if ContinuousClock.now - lastCheck > .seconds(30) {
                    // Revoked: the stream ends.
                    guard try await repository.device(tokenDigest: Accounts.digest(token)) != nil else { break }
                    lastCheck = .now
                }
                seen = await hub.wait(after: seen, timeout: .seconds(5))
            }
            logger.debug("crew stream ended", metadata: ["device.id": "\(device.device_id)"])
            try await writer.finish(nil)
        }
        return .eventStream(body)
    }
}
