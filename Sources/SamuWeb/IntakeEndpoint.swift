import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import RdKafka
import SamuModel
import SamuStore

/// `POST /v1/reports` for hotline systems: the topic's JSON schema, a bearer token per client, an
/// `Idempotency-Key` per report (a retried POST publishes one report and gets the first answer),
/// problem details naming the field at fault, `202` with the report id once the broker has the
/// report, and a bounded request rate per client.
public struct IntakeEndpoint: Sendable {
    let accounts: Accounts
    let keys: IntakeKeyRepository
    let producer: KafkaProducer
    let decoder: ReportDecoder
    let topic: String
    /// Reports are keyed by their zone's dispatch area.
    let areas: DispatchAreas
    let limiter: RateLimiter
    /// Failed token checks per address, shared with the console's cookie checks.
    let credentialFailures: RateLimiter
    let logger: Logger
    /// A first request left unfinished this long (its process died) may be taken over by a retry:
    /// longer than librdkafka's delivery timeout (`message.timeout.ms`, 300 s by default), so a
    /// first request still waiting for the broker is never taken over.
    var abandonedAfter: Duration = .seconds(330)

    public init(
        accounts: Accounts, producer: KafkaProducer, catalog: TopicCatalog, zones: ZoneDirectory,
        areas: DispatchAreas = .none, credentialFailures: RateLimiter = RateLimiter(), logger: Logger
    ) {
        self.areas = areas
        self.credentialFailures = credentialFailures
        self.accounts = accounts
        self.keys = IntakeKeyRepository(store: accounts.store, logger: logger)
        self.producer = producer
        self.decoder = ReportDecoder(definition: catalog.definition(.reports), zones: zones)
        self.topic = catalog.name(.reports)
        self.limiter = RateLimiter()
        self.logger = logger
    }

    struct Accepted: Encodable {
        var report_id: String
        var zone: String
        var status: String
        var topic: String
    }

    func handle(_ request: Request, address: String) async throws -> Response {
        let client = try await authenticate(request, address: address)
        if let wait = limiter.take(client: client.id, ratePerMinute: client.ratePerMinute, burst: client.burst) {
            Self.requests(client: client.id, outcome: "rate_limited").increment()
            throw Problem(
                .rateLimited,
                "client \(client.id) may post \(client.ratePerMinute) reports a minute (burst \(client.burst))",
                retryAfter: wait)
        }
        guard let contentType = request.headers[.contentType]?.lowercased(),
            contentType.hasPrefix("application/json")
        else { throw Problem(.unsupportedMediaType, "send the report as application/json") }
        guard let key = request.headers[Self.idempotencyKey], (1...255).contains(key.utf8.count) else {
            throw Problem(
                .missingIdempotencyKey,
                "send an Idempotency-Key header (1 to 255 characters, unique per report) so that a retry cannot create a second report"
            )
        }
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: ReportDecoder.defaultMaximumBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw Problem(.payloadTooLarge, "a report is at most \(ReportDecoder.defaultMaximumBytes) bytes")
        }
        let report: Report
        switch decoder.decode(value: body) {
        case .success(let decoded): report = decoded
        case .failure(let rejection):
            Self.requests(client: client.id, outcome: "invalid").increment()
            throw Self.problem(rejection)
        }
        guard client.mayReport(for: report.zone) else {
            Self.requests(client: client.id, outcome: "forbidden").increment()
            throw Problem(
                .forbidden, "client \(client.id) may not report for zone \(report.zone)", field: "/zone",
                reason: "zone_not_allowed")
        }
        let published = try await publish(
            body: body, report: report, client: client.id, key: key, source: "http:\(client.id)")
        Self.requests(client: client.id, outcome: published.replayed ? "replayed" : "accepted").increment()
        return accepted(reportID: published.reportID, zone: published.zone, replayed: published.replayed)
    }

    /// Publishes a validated report once per (client, key): a retry with the same key and body gets
    /// the first answer (`replayed`), another body under the key a conflict, and a broker that
    /// refuses gives the key back so that the retry goes through. The console's call-taker form
    /// uses it too (its client is the operator, its key the report's id made once by the form).
    func publish(
        body: [UInt8], report: Report, client: String, key: String, source: String
    ) async throws -> (reportID: String, zone: String, replayed: Bool) {
        let hash = ByteBuffer(bytes: SHA256.hash(data: body))
        let claimID = UUID()
        let outcome = try await keys.claim(
            client: client, key: key, requestHash: hash, reportID: report.id, zone: report.zone, claimID: claimID,
            abandonedAfter: abandonedAfter)
        switch outcome {
        case .replay(let reportID, let zone):
            return (reportID.lowercased, zone, true)
        case .reusedForAnotherBody(let firstReportID):
            Self.requests(client: client, outcome: "conflict").increment()
            throw Problem(
                .idempotencyKeyReused,
                "Idempotency-Key \(key) was first used for report \(firstReportID.lowercased) with another body")
        case .inProgress:
            Self.requests(client: client, outcome: "conflict").increment()
            throw Problem(
                .requestInProgress, "the first request with this key is still being delivered; retry shortly",
                retryAfter: 1)
        case .reportIDTaken:
            Self.requests(client: client, outcome: "conflict").increment()
            throw Problem(
                .validation, "report \(report.id.lowercased) was sent before with another body",
                field: "/event_id", reason: "report_id_taken")
        case .publish:
            break
        }
        let record = KafkaRecord(
            topic: topic, key: areas.key(for: report.zone), value: body,
            headers: [
                KafkaHeader(name: "samu-source", string: source),
                KafkaHeader(name: "samu-idempotency-key", string: key),
            ])
        do {
            _ = try await producer.send(record)
        } catch {
            // Nothing was published: the key is given back so that the client's retry goes through.
            try? await keys.release(client: client, key: key, claimID: claimID)
            Self.requests(client: client, outcome: "broker_unavailable").increment()
            logger.warning(
                "intake: report not delivered",
                metadata: ["intake.client": "\(client)", "error": "\(error)"])
            throw Problem(
                .brokerUnavailable, "the report was not published; retry with the same Idempotency-Key", retryAfter: 2)
        }
        try await keys.markPublished(client: client, key: key, claimID: claimID)
        return (report.id.lowercased, report.zone, false)
    }

    /// A refused report as problem details: the body itself (`invalid-body`), or a field that
    /// breaks the schema (`validation`, naming the field).
    static func problem(_ rejection: Rejection) -> Problem {
        switch rejection.reason {
        case .emptyValue, .invalidUTF8, .notJSON, .duplicateKey, .tooDeep, .notAnObject, .oversized:
            Problem(.invalidBody, rejection.detail, field: rejection.field, reason: rejection.reason.rawValue)
        default:
            Problem(.validation, rejection.detail, field: rejection.field ?? "", reason: rejection.reason.rawValue)
        }
    }

    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!

    static func requests(client: String, outcome: String) -> Metrics.Counter {
        Metrics.Counter(label: "samu_intake_requests_total", dimensions: [("client", client), ("outcome", outcome)])
    }

    private func accepted(reportID: String, zone: String, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[Self.replayed] = "true" }
        let body = JSONBody.encode(Accepted(report_id: reportID, zone: zone, status: "accepted", topic: topic))
        return Response(status: .accepted, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func authenticate(_ request: Request, address: String) async throws -> IntakeClient {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            Self.requests(client: "-", outcome: "unauthorized").increment()
            throw Problem(.unauthorized, "send `Authorization: Bearer <token>` with this client's API token")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        // An address that sent many bad tokens is refused before its token costs a query.
        if let wait = credentialFailures.wait(client: address, ratePerMinute: 60, burst: 10) {
            Self.requests(client: "-", outcome: "rate_limited").increment()
            throw Problem(.rateLimited, "too many invalid tokens from this address", retryAfter: wait)
        }
        let client: IntakeClient?
        do {
            client = try await accounts.intakeClient(token: token)
        } catch {
            throw Problem(.databaseUnavailable, "the token could not be checked", retryAfter: 2)
        }
        guard let client else {
            _ = credentialFailures.take(client: address, ratePerMinute: 60, burst: 10)
            Self.requests(client: "-", outcome: "unauthorized").increment()
            throw Problem(.unauthorized, "unknown or disabled API token")
        }
        return client
    }
}

/// `POST /v1/reports` on the console's router (bearer tokens of its own, no session).
struct IntakeController: Sendable {
    let endpoint: IntakeEndpoint

    func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.post("/v1/reports") { request, context in
            try await endpoint.handle(request, address: context.clientAddress)
        }
    }
}
