import Crypto
import Foundation

/// A case lifecycle outcome for `samu.outcomes.v1`.
public struct CaseOutcome: Sendable, Equatable {
    public var eventID: UUID
    public var type: String
    public var caseID: UUID
    public var reportID: UUID
    public var zone: String
    public var category: String
    public var status: String
    public var occurredAt: Date
    public var reportedAt: Date?

    /// The `case.received` outcome of a newly opened case.
    public static func received(report: Report, caseID: UUID, at time: Date) -> CaseOutcome {
        CaseOutcome(
            eventID: DerivedID.outcomeID(caseID: caseID, transition: "received", channel: "outcomes"),
            type: "case.received", caseID: caseID, reportID: report.id, zone: report.zone,
            category: report.category.rawValue, status: "received", occurredAt: time, reportedAt: report.reportedAt)
    }

    /// ``json``'s text, written without building the tree (every new case publishes one).
    public var payload: String {
        var writer = JSONWriter()
        writer.append("schema_version", integer: 1)
        writer.append("event_id", id: eventID)
        writer.append("type", type)
        writer.append("case_id", id: caseID)
        writer.append("report_id", id: reportID)
        writer.append("zone", zone)
        writer.append("category", category)
        writer.append("status", status)
        writer.append("occurred_at", time: occurredAt)
        if let reportedAt { writer.append("reported_at", time: reportedAt) }
        return writer.finished()
    }

    public var json: JSONValue {
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(eventID.lowercased))
        object.append("type", .string(type))
        object.append("case_id", .string(caseID.lowercased))
        object.append("report_id", .string(reportID.lowercased))
        object.append("zone", .string(zone))
        object.append("category", .string(category))
        object.append("status", .string(status))
        object.append("occurred_at", .string(RFC3339.format(occurredAt)))
        if let reportedAt { object.append("reported_at", .string(RFC3339.format(reportedAt))) }
        return .object(object)
    }
}

/// A record of `samu.outcomes.v1`: one step of a case (schema versions 1 to 4), or the steps of one
/// case that committed together (`case.steps`, version 5), in order, each as it would have been
/// published alone, with its own event id.
public enum OutcomeRecord {
    public static let stepsType = "case.steps"

    /// The steps a record carries: the record itself, or its `steps`.
    public static func steps(_ record: JSONValue) -> [JSONValue] {
        guard record["type"]?.stringValue == stepsType, case .array(let steps)? = record["steps"] else {
            return [record]
        }
        return steps
    }

    /// The steps of a record's bytes (none when they are not JSON).
    public static func steps(_ bytes: [UInt8]?) -> [JSONValue] {
        guard let bytes, let record = try? JSONParser.parse(bytes) else { return [] }
        return steps(record)
    }
}

/// A record for `samu.dlq.v1`: the refused event's bytes and position, and why.
public struct DeadLetter: Sendable, Equatable {
    /// Original values longer than this are kept as their first bytes, size and SHA-256, so that a
    /// dead letter always fits in a broker message (1 MB by default): with the key and headers
    /// capped below, a dead letter's record stays under ``maximumRecordBytes``.
    public static let maximumOriginalBytes = 256 * 1024
    /// The longest original key a dead letter carries (as the record key and in `original`).
    public static let maximumKeyBytes = 1024
    /// The most original headers a dead letter carries, and the longest name and value of each.
    public static let maximumHeaders = 16
    public static let maximumHeaderBytes = 1024
    /// An upper bound of a dead letter's whole record (value, key and headers): base64 of the
    /// capped value and key, the capped headers twice (raw and base64), and the fixed fields.
    public static let maximumRecordBytes =
        (maximumOriginalBytes + maximumKeyBytes) * 4 / 3 + 8 + maximumKeyBytes
        + maximumHeaders * 2 * (2 * maximumHeaderBytes * 4 / 3 + 64) + 8 * 1024

    /// The original headers the dead letter carries: the first ``maximumHeaders``, each cut to
    /// ``maximumHeaderBytes`` (name and value).
    public var keptHeaders: [Header] {
        headers.prefix(Self.maximumHeaders).map { header in
            Header(
                name: String(decoding: header.name.utf8.prefix(Self.maximumHeaderBytes), as: UTF8.self),
                value: header.value.map { Array($0.prefix(Self.maximumHeaderBytes)) })
        }
    }

    /// The key the dead letter's record carries: the original one when it is short enough.
    public var keptKey: [UInt8]? {
        guard let key, key.count <= Self.maximumKeyBytes else { return nil }
        return key
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]?

        public init(name: String, value: [UInt8]?) {
            self.name = name
            self.value = value
        }
    }

    public var eventID: UUID
    public var rejection: Rejection
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    public var sourceTimestampMilliseconds: Int64?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [Header]
    public var rejectedAt: Date
    public var rejectedBy: String
    /// For a conflicting duplicate: the SHA-256 (hex) of the payload processed first, and of this one.
    public var conflict: (stored: String, received: String)?

    public static func == (lhs: DeadLetter, rhs: DeadLetter) -> Bool {
        lhs.eventID == rhs.eventID && lhs.rejection == rhs.rejection && lhs.sourceTopic == rhs.sourceTopic
            && lhs.sourcePartition == rhs.sourcePartition && lhs.sourceOffset == rhs.sourceOffset
            && lhs.sourceTimestampMilliseconds == rhs.sourceTimestampMilliseconds && lhs.key == rhs.key
            && lhs.value == rhs.value && lhs.headers == rhs.headers && lhs.rejectedAt == rhs.rejectedAt
            && lhs.rejectedBy == rhs.rejectedBy && lhs.conflict?.stored == rhs.conflict?.stored
            && lhs.conflict?.received == rhs.conflict?.received
    }

    public init(
        rejection: Rejection, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64,
        sourceTimestampMilliseconds: Int64?, key: [UInt8]?, value: [UInt8]?, headers: [Header], rejectedAt: Date,
        rejectedBy: String
    ) {
        self.eventID = DerivedID.deadLetterID(topic: sourceTopic, partition: sourcePartition, offset: sourceOffset)
        self.rejection = rejection
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.sourceTimestampMilliseconds = sourceTimestampMilliseconds
        self.key = key
        self.value = value
        self.headers = headers
        self.rejectedAt = rejectedAt
        self.rejectedBy = rejectedBy
    }

    public var json: JSONValue {
        var source = JSONObject()
        source.append("topic", .string(sourceTopic))
        source.append("partition", .integer(Int64(sourcePartition)))
        source.append("offset", .integer(sourceOffset))
        if let sourceTimestampMilliseconds { source.append("timestamp_ms", .integer(sourceTimestampMilliseconds)) }
        var original = JSONObject()
        if let key {
            original.append("key_base64", .string(Data(key.prefix(Self.maximumKeyBytes)).base64EncodedString()))
            if key.count > Self.maximumKeyBytes {
                original.append("key_truncated", true)
                original.append("key_size", .integer(Int64(key.count)))
                original.append("key_sha256", .string(Self.sha256(key)))
            }
        }
        if let value {
            original.append(
                "value_base64", .string(Data(value.prefix(Self.maximumOriginalBytes)).base64EncodedString()))
            if value.count > Self.maximumOriginalBytes {
                // Too large for a dead letter to carry whole: keep the start, the size and a digest.
                original.append("value_truncated", true)
                original.append("value_size", .integer(Int64(value.count)))
                original.append("value_sha256", .string(Self.sha256(value)))
            }
        }
        let kept = keptHeaders
        if kept.count != headers.count || zip(kept, headers).contains(where: { $0 != $1 }) {
            var flat: [UInt8] = []
            for header in headers {
                flat.append(contentsOf: header.name.utf8)
                flat.append(0)
                flat.append(contentsOf: header.value ?? [])
                flat.append(0)
            }
            original.append("headers_truncated", true)
            original.append("headers_size", .integer(Int64(flat.count)))
            original.append("headers_sha256", .string(Self.sha256(flat)))
        }
        original.append(
            "headers",
            .array(
                kept.map { header in
                    var object = JSONObject()
                    object.append("name", .string(header.name))
                    if let value = header.value {
                        object.append("value_base64", .string(Data(value).base64EncodedString()))
                    }
                    return .object(object)
                }))
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(eventID.lowercased))
        object.append("reason", .string(rejection.reason.rawValue))
        object.append("detail", .string(String(rejection.detail.prefix(1000))))
        if let field = rejection.field { object.append("field", .string(String(field.prefix(200)))) }
        object.append("source", .object(source))
        object.append("original", .object(original))
        if let conflict {
            var digests = JSONObject()
            digests.append("stored_sha256", .string(conflict.stored))
            digests.append("received_sha256", .string(conflict.received))
            object.append("conflict", .object(digests))
        }
        object.append("rejected_at", .string(RFC3339.format(rejectedAt)))
        object.append("rejected_by", .string(String(rejectedBy.prefix(200))))
        return .object(object)
    }
}
