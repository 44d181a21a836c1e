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

    /// A bed type's capacity or occupancy (the `samu.beds.v1` schema's range).
    static let bedCounts = 0...2000

    struct Counts: Decodable {
        /// Full counts of these bed types (a count made at the door).
        var beds: [String: Count]?
        /// Beds taken (positive) or freed (negative) since the page's last report, by bed type:
        /// added to the counts samu has, after whatever else changed there (an admission).
        var taps: [String: Int]?
        /// The id the page made for this change, kept when it sends it again after a lost answer:
        /// the event's id, so that a retry is never a second tap.
        var change_id: String?

        struct Count: Decodable {
            var capacity: Int
            var occupied: Int
        }
    }

    struct Arrival: Decodable {
        var case_id: String
        var reason: String?
        /// The id the page made for this answer, kept while it is sent again (a lost answer, a
        /// second tap after an error): a repeat sends the first one's event if the broker never
        /// took it, where without an id it would be answered "already sent" and never sent.
        var change_id: String?
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
            let shelterID = try await scopedShelter(context).shelterID
            let buffer = try await request.body.collect(upTo: 4096)
            guard let counts = try? JSONDecoder().decode(Counts.self, from: Data(buffer: buffer)),
                counts.beds?.isEmpty == false || counts.taps?.isEmpty == false
            else {
                throw Problem(
                    .invalidBody,
                    "send {\"beds\": {\"men\": {\"capacity\": …, \"occupied\": …}}} or {\"taps\": {\"men\": 1}}")
            }
            let changeID = try Self.changeID(counts.change_id)
            // Checked before any arithmetic: a count near Int.max (or a tap of Int.min) must be a
            // 422, not an overflow that stops the process.
            if let tap = counts.taps?.first(where: { !(-100...100).contains($0.value) }) {
                throw Problem(.validation, "a tap is a few beds at most", field: "/taps/\(tap.key)")
            }
            for (bed, count) in counts.beds ?? [:] {
                for (name, value) in [("capacity", count.capacity), ("occupied", count.occupied)]
                where !Self.bedCounts.contains(value) {
                    throw Problem(
                        .validation, "\(value) is not a count of beds (0 to \(Self.bedCounts.upperBound))",
                        field: "/beds/\(bed)/\(name)")
                }
            }
            return try await change(shelterID, by: context, changeID: changeID) { shelter, _, _ in
                var beds = shelter.beds
                for (bed, count) in counts.beds ?? [:] { beds[bed] = (count.capacity, count.occupied) }
                for (bed, taken) in counts.taps ?? [:] {
                    let count = beds[bed] ?? (0, 0)
                    beds[bed] = (count.capacity, min(count.capacity, max(0, count.occupied + taken)))
                }
                return .send(beds: beds, extra: [], arrival: nil)
            }
        }
        group.post("shelter/{id}/admit") { request, context in
            let shelterID = try await scopedShelter(context).shelterID
            let (caseID, _, changeID) = try await arrival(request)
            return try await change(shelterID, by: context, changeID: changeID) { shelter, pending, reads in
                // Admitted a moment ago (a second tap, a retry), whether samu has stored it yet or
                // not: the same answer, nothing sent again.
                if pending.contains(caseID) { return .alreadySent }
                guard let held = try await reads.heldBeds(caseID: caseID, shelterID: shelterID) else {
                    if try await reads.admitted(caseID: caseID, shelterID: shelterID) { return .alreadySent }
                    throw Problem(.staleAction, "samu holds no bed here for this person (any more)")
                }
                // The person takes the held beds: occupied by them, the hold turned into occupancy.
                var beds = shelter.beds
                let count = beds[held.bedType] ?? (0, 0)
                beds[held.bedType] = (count.capacity, min(count.capacity, count.occupied + held.beds))
                return .send(beds: beds, extra: [("admitted_case_id", .string(caseID.lowercased))], arrival: caseID)
            }
        }
        for (route, defaultReason) in [("decline", nil), ("no-show", "no-show: the person did not arrive")] {
            group.post("shelter/{id}/\(route)") { request, context in
                let shelterID = try await scopedShelter(context).shelterID
                let (caseID, reason, changeID) = try await arrival(request)
                let why = (reason ?? defaultReason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                return try await change(shelterID, by: context, changeID: changeID) { shelter, pending, reads in
                    if pending.contains(caseID) { return .alreadySent }
                    guard try await reads.heldBeds(caseID: caseID, shelterID: shelterID) != nil else {
                        throw Problem(.staleAction, "samu holds no bed here for this person (any more)")
                    }
                    guard !why.isEmpty else { throw Problem(.validation, "say why", field: "/reason") }
                    return .send(
                        beds: shelter.beds,
                        extra: [("declined_case_id", .string(caseID.lowercased)), ("decline_reason", .string(why))],
                        arrival: caseID)
                }
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

    func arrival(_ request: Request) async throws -> (UUID, String?, UUID?) {
        let buffer = try await request.body.collect(upTo: 2048)
        guard let asked = try? JSONDecoder().decode(Arrival.self, from: Data(buffer: buffer)),
            let caseID = UUID(uuidString: asked.case_id)
        else { throw Problem(.invalidBody, "send {\"case_id\": …}") }
        return (caseID, asked.reason, try Self.changeID(asked.change_id))
    }

    /// A change's id as the page sent it (none: a page from before ids).
    static func changeID(_ text: String?) throws -> UUID? {
        try text.map { text in
            guard let id = UUID(uuidString: text) else {
                throw Problem(.validation, "a change's id is a UUID", field: "/change_id")
            }
            return id
        }
    }

    /// What a change from the page does: send the shelter's counts (with the person admitted or
    /// declined), or nothing, the same change having been sent a moment ago.
    enum Change {
        case send(beds: [String: (capacity: Int, occupied: Int)], extra: [(String, JSONValue)], arrival: UUID?)
        case alreadySent
    }

    /// Makes a change while no other change of the shelter runs, on the page's last report if the
    /// worker has not stored it yet (else on the stored counts), and sends it as the next version.
    /// The report is claimed under the lock and sent after it: a broker that does not answer never
    /// holds the lock or a database connection (librdkafka waits up to its delivery timeout).
    /// A change under an id claimed before is answered as then, its event sent again only if the
    /// broker never took it.
    func change(
        _ shelterID: String, by context: ConsoleRequestContext, changeID: UUID? = nil,
        _ decide:
            @escaping @Sendable (ShelterRow, _ pending: Set<UUID>, CrewRepository.ShelterReads) async throws ->
            Change
    ) async throws -> Response {
        let session = try context.requireSession()
        let claimed: Claimed = try await repository.changingShelter(shelterID) { last, reads in
            guard var shelter = try await reads.shelter(shelterID) else {
                throw Problem(.notFound, "no such shelter on your account")
            }
            if let changeID, let claimed = try await reads.claimedChange(changeID) {
                guard claimed.operatorID == session.account.id, claimed.shelterID == shelterID else {
                    throw Problem(.validation, "this change_id is another change's", field: "/change_id")
                }
                let sent = Sent(
                    event_id: changeID.lowercased, shelter_id: shelterID, version: claimed.version, status: "sent")
                return (
                    Claimed(sent: sent, bytes: claimed.sent ? nil : claimed.event, zone: shelter.zone, again: true), nil
                )
            }
            var pending: Set<UUID> = []
            if let last, last.version > shelter.version {
                shelter.beds = last.beds
                shelter.version = last.version
                pending = last.cases
            }
            switch try await decide(shelter, pending, reads) {
            case .alreadySent:
                let sent = Sent(event_id: "", shelter_id: shelterID, version: shelter.version, status: "already_sent")
                return (Claimed(sent: sent, bytes: nil, zone: shelter.zone), nil)
            case .send(let beds, let extra, let arrival):
                let (bytes, sent) = try report(shelter, beds: beds, extra: extra, eventID: changeID ?? UUID())
                if let changeID {
                    try await reads.claimChange(
                        changeID, operatorID: session.account.id, shelterID: shelterID, version: sent.version,
                        event: bytes)
                }
                return (
                    Claimed(sent: sent, bytes: bytes, zone: shelter.zone),
                    CrewRepository.SentShelterReport(
                        version: sent.version, beds: beds, cases: arrival.map { pending.union([$0]) } ?? pending)
                )
            }
        }
        if let bytes = claimed.bytes {
            do {
                try await producer.publish(
                    bytes, topic: catalog.name(.beds), key: areas.key(for: claimed.zone),
                    source: "shelter:\(session.account.id)", notSent: "the change was not sent; try again")
            } catch {
                // Not sent: the next change starts again from what samu has (unless another
                // change was made on this one meanwhile, which carries it). A change sent again
                // under its id made no report of its own.
                if !claimed.again {
                    try? await repository.forgetShelterReport(shelterID, version: claimed.sent.version)
                }
                throw error
            }
            // Not recorded (the database gone a moment): a retry sends the same event again, which
            // the worker takes once.
            if let changeID { try? await repository.shelterChangeSent(changeID) }
            Metrics.Counter(label: "samu_shelter_reports_total").increment()
            logger.info(
                "shelter report", metadata: ["shelter.id": "\(shelterID)", "operator.id": "\(session.account.id)"])
        }
        return JSONBody.response(claimed.sent, status: .accepted)
    }

    /// A change claimed under the shelter's lock: its answer, and its event unless nothing is sent.
    struct Claimed: Sendable {
        var sent: Sent
        var bytes: [UInt8]?
        var zone: String
        /// A change claimed before under the page's id, answered (and maybe sent) again.
        var again = false
    }

    /// The shelter's full counts (with an admission or a decline) as its next version, checked
    /// against the topic's schema.
    func report(
        _ shelter: ShelterRow, beds: [String: (capacity: Int, occupied: Int)], extra: [(String, JSONValue)],
        eventID: UUID = UUID()
    ) throws -> ([UInt8], Sent) {
        // Newer than any version stored: the server's clock in milliseconds, or one more.
        let version = CrewReport.version(at: Date(), after: shelter.version)
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
        return (
            bytes, Sent(event_id: eventID.lowercased, shelter_id: shelter.shelterID, version: version, status: "sent")
        )
    }
}
