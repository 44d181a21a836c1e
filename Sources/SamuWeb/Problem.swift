import Foundation
import HTTPTypes
import Hummingbird
import RdKafka

/// An error answered as RFC 9457 problem details (`application/problem+json`): a stable `type`
/// URI per kind of problem, a human `title`, the `detail` of this occurrence, and, for invalid
/// input, the JSON pointer of the `field` at fault.
public struct Problem: HTTPResponseError, Sendable {
    public enum Kind: String, Sendable {
        case unauthorized = "unauthorized"
        case forbidden = "forbidden"
        case notFound = "not-found"
        case invalidBody = "invalid-body"
        case validation = "validation"
        case missingIdempotencyKey = "missing-idempotency-key"
        case idempotencyKeyReused = "idempotency-key-reused"
        case requestInProgress = "request-in-progress"
        case rateLimited = "rate-limited"
        case unsupportedMediaType = "unsupported-media-type"
        case payloadTooLarge = "payload-too-large"
        case csrf = "csrf"
        case caseClosed = "case-closed"
        case noFollowUp = "no-open-follow-up"
        case noReferral = "no-pending-referral"
        case staleAction = "stale-action"
        case linkedToAnotherPerson = "linked-to-another-person"
        case brokerUnavailable = "broker-unavailable"
        case databaseUnavailable = "database-unavailable"

        var status: HTTPResponse.Status {
            switch self {
            case .unauthorized: .unauthorized
            case .forbidden, .csrf: .forbidden
            case .notFound: .notFound
            case .invalidBody, .missingIdempotencyKey: .badRequest
            case .validation, .idempotencyKeyReused: .unprocessableContent
            case .requestInProgress, .caseClosed, .noFollowUp, .noReferral, .staleAction, .linkedToAnotherPerson:
                .conflict
            case .rateLimited: .tooManyRequests
            case .unsupportedMediaType: .unsupportedMediaType
            case .payloadTooLarge: .contentTooLarge
            case .brokerUnavailable, .databaseUnavailable: .serviceUnavailable
            }
        }

        var title: String {
            switch self {
            case .unauthorized: "Authentication required"
            case .forbidden: "Not allowed"
            case .notFound: "Not found"
            case .invalidBody: "The body is not a JSON object"
            case .validation: "The report does not match the schema"
            case .missingIdempotencyKey: "Idempotency-Key header required"
            case .idempotencyKeyReused: "Idempotency-Key reused with a different body"
            case .requestInProgress: "A request with this Idempotency-Key is in progress"
            case .rateLimited: "Too many requests"
            case .unsupportedMediaType: "Content-Type must be application/json"
            case .payloadTooLarge: "Body too large"
            case .csrf: "Missing or wrong CSRF token"
            case .caseClosed: "The case is closed"
            case .staleAction: "The action is about a case the unit no longer has"
            case .linkedToAnotherPerson: "The case is linked to another person"
            case .noFollowUp: "The case has no open follow-up task"
            case .noReferral: "The case has no referral awaiting this step"
            case .brokerUnavailable: "The broker did not accept the report"
            case .databaseUnavailable: "The database is unavailable"
            }
        }
    }

    public var kind: Kind
    public var detail: String
    /// JSON pointer of the field at fault (validation problems).
    public var field: String?
    /// The machine-readable reason (validation problems: samu's rejection reason, as in the DLQ).
    public var reason: String?
    /// Seconds before a retry may succeed (rate limits, unavailable dependencies).
    public var retryAfter: Int?

    public init(
        _ kind: Kind, _ detail: String, field: String? = nil, reason: String? = nil, retryAfter: Int? = nil
    ) {
        self.kind = kind
        self.detail = detail
        self.field = field
        self.reason = reason
        self.retryAfter = retryAfter
    }

    public var status: HTTPResponse.Status { kind.status }

    /// The `type` member: where the kind of problem is documented.
    public var type: String { "https://samu.example.ma/problems/\(kind.rawValue)" }

    public var body: [String: String] {
        var body = ["type": type, "title": kind.title, "detail": detail]
        if let field { body["field"] = field }
        if let reason { body["reason"] = reason }
        return body
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object = body.mapValues { JSONScalar.string($0) }
        object["status"] = .integer(status.code)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        if kind == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"samu\"" }
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONScalar.encode(object))))
    }
}

/// The flat JSON objects problem details need, encoded with sorted keys (stable output).
enum JSONScalar: Encodable {
    case string(String)
    case integer(Int)

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        }
    }

    static func encode(_ object: [String: JSONScalar]) -> [UInt8] { JSONBody.encode(object) }
}

/// JSON response bodies: sorted keys (stable output), ISO 8601 dates.
enum JSONBody {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }
}

/// A console failure that is not an HTTP problem (configuration, missing files).
public struct ConsoleError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension KafkaProducer {
    /// Sends one event from a door (`samu-source: <source>`), or answers `503` with `notSent` (the
    /// client sends it again; its id makes that safe).
    func publish(
        _ bytes: [UInt8], topic: String, key: [UInt8], source: String, notSent: String
    ) async throws {
        do {
            _ = try await send(
                KafkaRecord(
                    topic: topic, key: key, value: bytes, headers: [KafkaHeader(name: "samu-source", string: source)]))
        } catch {
            throw Problem(.brokerUnavailable, notSent, retryAfter: 2)
        }
    }
}
