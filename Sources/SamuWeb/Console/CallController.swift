import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import SamuModel
import SamuStore

/// The call-taker's door (`/api/calls`): a call typed on the console becomes a report event on
/// `samu.reports.v1`, checked by the decoder the workers use. The form makes the report's id once,
/// when the call starts, and posts it as the idempotency key: a double click or a retry publishes
/// one report. While the call is typed, open cases nearby are proposed; the operator may link the
/// call to one of them (the report's `linked_case_id`), and the zone's worker adds it to that case.
struct CallController: Sendable {
    let intake: IntakeEndpoint
    let repository: BoardRepository
    let outlines: ZoneOutlines?
    /// `seeds/hcp/communes.json`: the commune picker (name, zone, centroid).
    let communes: [Commune]
    let logger: Logger

    /// How far and how far back a call looks for a case about the same person.
    static let nearbyKilometres = 1.5
    static let nearbyHours = 12

    struct Commune: Encodable, Sendable {
        var slug: String
        var name_fr: String
        var name_ar: String
        var zone: String
        var lat: Double
        var lon: Double
    }

    struct Checked: Encodable {
        var report_id: String
        var zone: String
        var flags: [String]
        /// The zone whose outline holds the position, when it is one of the operator's.
        var zone_at_position: String?
    }

    struct Sent: Encodable {
        var report_id: String
        var zone: String
        var status: String
        var replayed: Bool
        var linked_case_id: String?
    }

    static func loadCommunes(_ url: URL?) -> [Commune] {
        guard let url, let data = try? Data(contentsOf: url),
            case .array(let rows)? = try? JSONParser.parse(Array(data))
        else { return [] }
        return rows.compactMap { row in
            guard let slug = row["slug"]?.stringValue, let fr = row["name_fr"]?.stringValue,
                let ar = row["name_ar"]?.stringValue, let zone = row["zone"]?.stringValue,
                let lat = row["centroid"]?["lat"]?.doubleValue, let lon = row["centroid"]?["lon"]?.doubleValue
            else { return nil }
            return Commune(slug: slug, name_fr: fr, name_ar: ar, zone: zone, lat: lat, lon: lon)
        }
    }

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.get("communes") { _, context in
            let session = try context.requireBoardSession()
            let zones = Set(session.account.zones)
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "private, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: JSONBody.encode(communes.filter { zones.contains($0.zone) })))
            )
        }
        group.post("calls/check") { request, context in
            let session = try callTaker(context)
            let (_, report) = try await decode(request, session: session)
            let position = GeoPoint(latitude: report.location.latitude, longitude: report.location.longitude)
            let flags = ReportFlag.flags(
                reportedAt: report.reportedAt, received: Date(), position: position, zone: report.zone,
                outlines: outlines)
            return JSONBody.response(
                Checked(
                    report_id: report.id.lowercased, zone: report.zone, flags: flags.map(\.rawValue),
                    zone_at_position: outlines?.zone(containing: position, among: session.account.zones)))
        }
        group.get("calls/nearby") { request, context in
            let session = try callTaker(context)
            let query = request.uri.queryParameters
            guard let lat = query["lat"].flatMap({ Double(String($0)) }),
                let lon = query["lon"].flatMap({ Double(String($0)) }), GeoPoint(latitude: lat, longitude: lon).isServed
            else { throw Problem(.validation, "lat and lon (within Morocco) are required", field: "/location") }
            let category = query["category"].flatMap { BeneficiaryCategory(rawValue: String($0)) }
            var cases = try await repository.openCases(
                near: GeoPoint(latitude: lat, longitude: lon), kilometres: Self.nearbyKilometres,
                hours: Self.nearbyHours, zones: session.account.zones)
            // A call is linked only to a case its zone's worker decides (the same dispatch area):
            // a case across the area's boundary is not proposed.
            if let zone = query["zone"].map(String.init), !zone.isEmpty {
                let area = intake.areas.area(of: zone)
                cases.removeAll { intake.areas.area(of: $0.zone) != area }
            }
            for index in cases.indices {
                let other = BeneficiaryCategory(rawValue: cases[index].category)
                cases[index].compatible = category.flatMap { c in other.map { c.mayBeSamePerson(as: $0) } } ?? true
            }
            cases.sort { ($0.compatible ? 0 : 1, $0.distance_m) < ($1.compatible ? 0 : 1, $1.distance_m) }
            return JSONBody.response(Array(cases.prefix(10)))
        }
        group.post("calls") { request, context in
            let session = try callTaker(context)
            let (body, report) = try await decode(request, session: session)
            let published = try await intake.publish(
                body: body, report: report, client: "console", key: report.id.lowercased,
                source: "console:\(session.account.id)")
            Metrics.Counter(
                label: "samu_console_calls_total",
                dimensions: [
                    ("outcome", published.replayed ? "replayed" : report.linkedCaseID == nil ? "new" : "linked")
                ]
            ).increment()
            logger.info(
                "call taken",
                metadata: [
                    "operator.id": "\(session.account.id)", "report.id": "\(published.reportID)",
                    "zone.id": "\(published.zone)", "replayed": "\(published.replayed)",
                ])
            return JSONBody.response(
                Sent(
                    report_id: published.reportID, zone: published.zone, status: "accepted",
                    replayed: published.replayed, linked_case_id: report.linkedCaseID?.lowercased),
                status: .accepted)
        }
    }

    /// Operators and supervisors take calls; child-protection and shelter accounts do not.
    func callTaker(_ context: ConsoleRequestContext) throws -> ConsoleSession {
        let session = try context.requireBoardSession()
        guard session.account.role.dispatches else {
            throw Problem(.forbidden, "calls are taken by operators and supervisors")
        }
        return session
    }

    /// The report as the workers will decode it: the topic's schema, the known zones, the
    /// operator's zones, and the case it is linked to (open, in those zones).
    func decode(_ request: Request, session: ConsoleSession) async throws -> ([UInt8], Report) {
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: ReportDecoder.defaultMaximumBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw Problem(.payloadTooLarge, "a report is at most \(ReportDecoder.defaultMaximumBytes) bytes")
        }
        switch intake.decoder.decode(value: body) {
        case .success(let report):
            guard session.account.mayAct(in: report.zone) else {
                throw Problem(
                    .forbidden, "your account is not scoped to zone \(report.zone)", field: "/zone",
                    reason: "zone_not_allowed")
            }
            if let linked = report.linkedCaseID {
                // Said now rather than found out by the worker: the case must be open and the
                // operator's (the worker still refuses a link it cannot apply, and says why).
                guard let (zone, open) = try await repository.zone(of: linked), session.account.mayAct(in: zone)
                else { throw Problem(.validation, "no such case in your zones", field: "/linked_case_id") }
                guard open else { throw Problem(.caseClosed, "the case the call is linked to is closed") }
                // Another dispatch area's worker holds that case: the link could not be applied, and
                // a second case would open with a second unit sent.
                guard intake.areas.area(of: zone) == intake.areas.area(of: report.zone) else {
                    throw Problem(
                        .validation,
                        "the case is in zone \(zone), another dispatch area than \(report.zone): take the call as a new case, or in the case's zone",
                        field: "/linked_case_id", reason: "other_dispatch_area")
                }
            }
            return (body, report)
        case .failure(let rejection):
            throw IntakeEndpoint.problem(rejection)
        }
    }
}
