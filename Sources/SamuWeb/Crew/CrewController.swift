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
    static let maximumStreamsPerDevice = 2
    let streams = StreamSlots(limit: maximumStreamsPerDevice)
    static let tokenPrefix = "samu_crew_"

    init(
        repository: CrewRepository, producer: KafkaProducer, catalog: TopicCatalog, areas: DispatchAreas,
        hub: BoardHub, credentialFailures: RateLimiter, logger: Logger, enrolments: RateLimiter = RateLimiter()
    ) {
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

        struct Position: Decodable {
            var lat: Double
            var lon: Double
        }
    }

    struct Accepted: Encodable {
        var event_id: String
        var status: String
    }

    /// The unit statuses the app's actions report (acknowledging is setting off: en route).
    static let statuses: [String: UnitStatus] = [
        "acknowledge": .enRoute, "on_scene": .onScene, "transporting": .transporting, "resolve": .available,
        "available": .available, "unavailable": .offDuty, "end_shift": .offDuty, "position": .available,
    ]
    /// Actions about the unit's case: they carry its id and are refused once it is not the unit's.
    static let caseActions: Set<String> = ["acknowledge", "on_scene", "transporting", "resolve"]

    func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.post("/api/crew/enrol") { request, context in
            try await self.enrol(request, address: context.clientAddress)
        }
        router.get("/api/crew/assignment") { request, context in
            let device = try await self.device(request, address: context.clientAddress)
            return Self.json(try await self.repository.assignment(unitID: device.unit_id))
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
        guard let status = Self.statuses[action.action] else {
            throw Problem(.validation, "unknown action \(action.action)", field: "/action")
        }
        // Sent before (the answer was lost on the way back): the same answer, nothing sent again.
        if try await repository.actionAccepted(eventID) {
            return JSONBody.response(Accepted(event_id: eventID.lowercased, status: "accepted"), status: .accepted)
        }
        let caseID = action.case_id.flatMap(UUID.init(uuidString:))
        if Self.caseActions.contains(action.action) {
            guard let caseID else { throw Problem(.validation, "\(action.action) needs the case", field: "/case_id") }
            // Made offline and stale by now: the case went to another crew, or ended.
            guard let holder = try await repository.caseHolder(caseID) else {
                throw Problem(.staleAction, "no such case")
            }
            guard holder.open else { throw Problem(.staleAction, "the case is closed") }
            guard holder.unitID == device.unit_id else {
                throw Problem(.staleAction, "the case was given to another crew")
            }
        }
        if action.action == "resolve", action.resolution.flatMap(Resolution.init(rawValue:)) == nil {
            throw Problem(.validation, "resolve needs a resolution", field: "/resolution")
        }
        guard let unit = try await repository.unit(device.unit_id) else {
            throw Problem(.notFound, "the unit has not reported yet; ask the dispatch to start its shift")
        }
        // A position report keeps the unit's status; any action keeps the last position the
        // device did not improve on.
        let reportedStatus = action.action == "position" ? UnitStatus(rawValue: unit.status) ?? status : status
        let position: (lat: Double, lon: Double) =
            action.position.map { ($0.lat, $0.lon) } ?? (unit.latitude, unit.longitude)
        var event = JSONObject()
        event.append("schema_version", 2)
        event.append("event_id", .string(eventID.lowercased))
        event.append("zone", .string(unit.zone))
        event.append("unit_id", .string(device.unit_id))
        // Versions follow the server's clock: the order actions reach samu, which the device's
        // queue keeps (its clock may be wrong).
        event.append("version", .integer(Int64(Date().timeIntervalSince1970 * 1000)))
        event.append("status", .string(reportedStatus.rawValue))
        event.append("position", ["lat": .number(position.lat), "lon": .number(position.lon)])
        event.append("reported_at", .string(RFC3339.format(Date())))
        if Self.caseActions.contains(action.action), let caseID { event.append("case_id", .string(caseID.lowercased)) }
        if action.action == "resolve", let resolution = action.resolution {
            event.append("resolution", .string(resolution))
        }
        if let note = action.note?.trimmingCharacters(in: .whitespacesAndNewlines), !note.isEmpty {
            event.append("note", .string(note))
        }
        let bytes = JSONValue.object(event).serializedBytes
        let decoder = TopicDecoder(definition: catalog.definition(.units))
        if case .failure(let rejection) = decoder.document(value: bytes) {
            throw Problem(.validation, rejection.detail, field: rejection.field, reason: rejection.reason.rawValue)
        }
        do {
            _ = try await producer.send(
                KafkaRecord(
                    topic: catalog.name(.units), key: areas.key(for: unit.zone), value: bytes,
                    headers: [KafkaHeader(name: "samu-source", string: "crew:\(device.device_id)")]))
        } catch {
            throw Problem(.brokerUnavailable, "the action was not sent; it stays on the phone", retryAfter: 2)
        }
        try await repository.recordAction(
            eventID: eventID, deviceID: device.device_id, unitID: device.unit_id, action: action.action,
            caseID: caseID, at: Date())
        Metrics.Counter(label: "samu_crew_actions_total", dimensions: [("action", action.action)]).increment()
        return JSONBody.response(Accepted(event_id: eventID.lowercased, status: "accepted"), status: .accepted)
    }

    /// `GET /api/crew/events`: server-sent events, the unit's assignment now and at each change.
    func events(device: CrewDevice, token: String) throws -> Response {
        guard streams.take(device.device_id) else {
            throw Problem(.rateLimited, "at most \(Self.maximumStreamsPerDevice) streams per device", retryAfter: 5)
        }
        let body = ResponseBody { [repository, hub, logger, self] writer in
            defer {
                self.streams.give(device.device_id)
            }
            var last = ""
            var seen = hub.version
            var lastWrite = ContinuousClock.now
            var lastCheck = ContinuousClock.now
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            while !hub.isClosed && !Task.isCancelled {
                let assignment = try await repository.assignment(unitID: device.unit_id)
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
