import Foundation
import Hummingbird
import Logging
import Metrics
import RdKafka
import SamuModel
import SamuStore

/// The shelter page's door (`/api/shelter/…`), for shelter accounts (a shelter's staff, or a
/// network's, scoped to its shelters): the counts and the people samu sends, read; every change
/// sent as a `samu.beds.v1` event (version 2, validated by the topic's schema) that the zone's
/// worker applies: a count corrected, an admission, a decline or a no-show.
struct ShelterController: Sendable {
    let repository: CrewRepository
    let producer: KafkaProducer
    let catalog: TopicCatalog
    let areas: DispatchAreas
    let logger: Logger

    struct Counts: Decodable {
        /// The full counts by bed type, as the page shows them after the change.
        var beds: [String: Count]

        struct Count: Decodable {
            var capacity: Int
            var occupied: Int
        }
    }

    struct Arrival: Decodable {
        var case_id: String
        var reason: String?
    }

    struct Sent: Encodable {
        var event_id: String
        var shelter_id: String
        var version: Int64
        var status: String
    }

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.get("shelter") { _, context in
            let session = try requireShelter(context)
            return CrewController.json(try await repository.shelterBoard(session.account.shelters))
        }
        group.post("shelter/{id}/beds") { request, context in
            let shelter = try await scopedShelter(context)
            let buffer = try await request.body.collect(upTo: 4096)
            guard let counts = try? JSONDecoder().decode(Counts.self, from: Data(buffer: buffer)) else {
                throw Problem(.invalidBody, "send {\"beds\": {\"men\": {\"capacity\": …, \"occupied\": …}}}")
            }
            var beds = shelter.beds
            for (bed, count) in counts.beds { beds[bed] = (count.capacity, count.occupied) }
            return try await send(shelter, beds: beds, extra: [], by: context)
        }
        group.post("shelter/{id}/admit") { request, context in
            let shelter = try await scopedShelter(context)
            let caseID = try await arrival(request).0
            guard let held = try await repository.heldBeds(caseID: caseID, shelterID: shelter.shelterID) else {
                throw Problem(.staleAction, "samu holds no bed here for this person (any more)")
            }
            // The person takes the held beds: occupied by them, the hold turned into occupancy.
            var beds = shelter.beds
            let count = beds[held.bedType] ?? (0, 0)
            beds[held.bedType] = (count.capacity, min(count.capacity, count.occupied + held.beds))
            return try await send(
                shelter, beds: beds, extra: [("admitted_case_id", .string(caseID.lowercased))], by: context)
        }
        for (route, defaultReason) in [("decline", nil), ("no-show", "no-show: the person did not arrive")] {
            group.post("shelter/{id}/\(route)") { request, context in
                let shelter = try await scopedShelter(context)
                let (caseID, reason) = try await arrival(request)
                guard try await repository.heldBeds(caseID: caseID, shelterID: shelter.shelterID) != nil else {
                    throw Problem(.staleAction, "samu holds no bed here for this person (any more)")
                }
                let why = (reason ?? defaultReason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                guard !why.isEmpty else { throw Problem(.validation, "say why", field: "/reason") }
                return try await send(
                    shelter, beds: shelter.beds,
                    extra: [("declined_case_id", .string(caseID.lowercased)), ("decline_reason", .string(why))],
                    by: context)
            }
        }
    }

    func requireShelter(_ context: ConsoleRequestContext) throws -> ConsoleSession {
        let session = try context.requireSession()
        guard session.account.role == .shelter else {
            throw Problem(.forbidden, "the shelter page is for shelter accounts")
        }
        return session
    }

    /// The route's shelter, if the account keeps it (else `404`, like an unknown one).
    func scopedShelter(_ context: ConsoleRequestContext) async throws -> ShelterRow {
        let session = try requireShelter(context)
        guard let shelterID = context.parameters.get("id"), session.account.shelters.contains(shelterID),
            let shelter = try await repository.shelter(shelterID)
        else { throw Problem(.notFound, "no such shelter on your account") }
        return shelter
    }

    func arrival(_ request: Request) async throws -> (UUID, String?) {
        let buffer = try await request.body.collect(upTo: 2048)
        guard let asked = try? JSONDecoder().decode(Arrival.self, from: Data(buffer: buffer)),
            let caseID = UUID(uuidString: asked.case_id)
        else { throw Problem(.invalidBody, "send {\"case_id\": …}") }
        return (caseID, asked.reason)
    }

    /// Sends the shelter's full counts (with an admission or a decline) as its next version.
    func send(
        _ shelter: ShelterRow, beds: [String: (capacity: Int, occupied: Int)], extra: [(String, JSONValue)],
        by context: ConsoleRequestContext
    ) async throws -> Response {
        let session = try context.requireSession()
        let eventID = UUID()
        // Newer than any version stored: the server's clock in milliseconds, or one more.
        let version = max(Int64(Date().timeIntervalSince1970 * 1000), shelter.version + 1)
        var counts = JSONObject()
        for (bed, count) in beds.sorted(by: { $0.key < $1.key }) {
            counts.append(
                bed, ["capacity": .integer(Int64(count.capacity)), "occupied": .integer(Int64(count.occupied))])
        }
        var event = JSONObject()
        event.append("schema_version", 2)
        event.append("event_id", .string(eventID.lowercased))
        event.append("zone", .string(shelter.zone))
        event.append("shelter_id", .string(shelter.shelterID))
        event.append("version", .integer(version))
        event.append("location", ["lat": .number(shelter.latitude), "lon": .number(shelter.longitude)])
        event.append("beds", .object(counts))
        event.append("reported_at", .string(RFC3339.format(Date())))
        for (key, value) in extra { event.append(key, value) }
        let bytes = JSONValue.object(event).serializedBytes
        if case .failure(let rejection) = TopicDecoder(definition: catalog.definition(.beds)).document(value: bytes) {
            throw Problem(.validation, rejection.detail, field: rejection.field, reason: rejection.reason.rawValue)
        }
        do {
            _ = try await producer.send(
                KafkaRecord(
                    topic: catalog.name(.beds), key: areas.key(for: shelter.zone), value: bytes,
                    headers: [KafkaHeader(name: "samu-source", string: "shelter:\(session.account.id)")]))
        } catch {
            throw Problem(.brokerUnavailable, "the change was not sent; try again", retryAfter: 2)
        }
        Metrics.Counter(label: "samu_shelter_reports_total").increment()
        logger.info(
            "shelter report",
            metadata: ["shelter.id": "\(shelter.shelterID)", "operator.id": "\(session.account.id)"])
        return JSONBody.response(
            Sent(event_id: eventID.lowercased, shelter_id: shelter.shelterID, version: version, status: "sent"),
            status: .accepted)
    }
}
