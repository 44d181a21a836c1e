import Foundation

/// Why an event was refused; each reason is a stable code that the dead-letter topic carries.
public enum RejectionReason: String, Sendable, CaseIterable, Codable {
    case emptyValue = "empty_value"
    case oversized
    case invalidUTF8 = "invalid_utf8"
    case notJSON = "not_json"
    case duplicateKey = "duplicate_key"
    case tooDeep = "too_deep"
    case notAnObject = "not_an_object"
    case schemaVersionMissing = "schema_version_missing"
    case schemaVersionUnknown = "schema_version_unknown"
    case schemaViolation = "schema_violation"
    case keyZoneMismatch = "key_zone_mismatch"
    /// Valid against its schema, but refused by the database every time (a bug or a limit the
    /// schema does not express); parked so that the zone's other events keep flowing.
    case unprocessable
}

/// A refused event: a value routed to the dead-letter topic (or printed by `samu intake`), not a
/// thrown failure of the pipeline.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: RejectionReason
    public var detail: String
    /// JSON Pointer to the offending field, when one field is at fault.
    public var field: String?

    public init(reason: RejectionReason, detail: String, field: String? = nil) {
        self.reason = reason
        self.detail = detail
        self.field = field
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// Turns raw bytes from a topic into a JSON document that passed the topic's schema, or a
/// ``Rejection`` with a precise reason.
public struct TopicDecoder: Sendable {
    /// Larger values are refused before parsing (a report is a few hundred bytes; 64 KiB leaves room
    /// for long notes in Arabic, at 2 bytes a letter).
    public static let defaultMaximumBytes = 64 * 1024

    public let definition: TopicDefinition
    public let maximumBytes: Int

    public init(definition: TopicDefinition, maximumBytes: Int = TopicDecoder.defaultMaximumBytes) {
        self.definition = definition
        self.maximumBytes = maximumBytes
    }

    /// Parses and validates one value. With `checkKey`, the record key must be the document's
    /// `zone`: a zone's events must all travel in the zone's partition.
    public func document(value: [UInt8]?, key: [UInt8]? = nil, checkKey: Bool = false) -> Result<JSONValue, Rejection> {
        guard let value, !value.isEmpty else {
            return .failure(Rejection(reason: .emptyValue, detail: "the record has no value (tombstone or empty)"))
        }
        if value.count > maximumBytes {
            return .failure(
                Rejection(reason: .oversized, detail: "value is \(value.count) bytes; the limit is \(maximumBytes)"))
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(value)
        } catch {
            let reason: RejectionReason =
                switch error.kind {
                case .invalidUTF8: .invalidUTF8
                case .syntax: .notJSON
                case .duplicateKey: .duplicateKey
                case .tooDeep: .tooDeep
                }
            return .failure(Rejection(reason: reason, detail: error.description))
        }
        guard case .object = document else {
            return .failure(
                Rejection(reason: .notAnObject, detail: "expected a JSON object, found \(document.typeName)"))
        }
        guard let versionValue = document["schema_version"] else {
            return .failure(
                Rejection(reason: .schemaVersionMissing, detail: "schema_version is missing", field: "/schema_version"))
        }
        guard let version = versionValue.integerValue, let schema = definition.schemas[Int(version)] else {
            let known = definition.schemas.keys.sorted().map(String.init).joined(separator: ", ")
            return .failure(
                Rejection(
                    reason: .schemaVersionUnknown,
                    detail: "schema_version \(versionValue.serialized) is not one of \(known) for \(definition.name)",
                    field: "/schema_version"))
        }
        do {
            try schema.validate(document)
        } catch {
            return .failure(Rejection(reason: .schemaViolation, detail: error.description, field: error.path))
        }
        if checkKey, let zone = document["zone"]?.stringValue {
            let keyText = key.map { String(decoding: $0, as: UTF8.self) }
            if keyText != zone {
                return .failure(
                    Rejection(
                        reason: .keyZoneMismatch,
                        detail:
                            "record key \(keyText.map { "\"\($0)\"" } ?? "(none)") is not the event's zone \"\(zone)\"",
                        field: "/zone"))
            }
        }
        return .success(document)
    }
}

/// Turns raw report bytes into a validated ``Report`` or a ``Rejection`` with a precise reason.
public struct ReportDecoder: Sendable {
    public static let defaultMaximumBytes = TopicDecoder.defaultMaximumBytes

    public let topic: TopicDecoder

    public init(definition: TopicDefinition, maximumBytes: Int = ReportDecoder.defaultMaximumBytes) {
        self.topic = TopicDecoder(definition: definition, maximumBytes: maximumBytes)
    }

    public var definition: TopicDefinition { topic.definition }

    /// Decodes and validates one value. When `checkKey` is set (the worker's case), the record key
    /// must be the report's zone.
    public func decode(value: [UInt8]?, key: [UInt8]? = nil, checkKey: Bool = false) -> Result<Report, Rejection> {
        topic.document(value: value, key: key, checkKey: checkKey).flatMap { document in
            Result { () throws(Rejection) in try Report(validated: document) }
        }
    }
}
