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
    /// A string holds U+0000 (`\u0000` is valid JSON, but PostgreSQL's `text` and `jsonb` cannot
    /// store it): refused here, with the field, instead of failing the database write.
    case nulCharacter = "nul_character"
    /// The zone is not one of the deployment's provinces and prefectures: no unit, operator or
    /// neighbour could ever serve it.
    case unknownZone = "unknown_zone"
    /// The event id was used before for a different payload (a producer's bug): the first payload
    /// stands, the second is parked with both digests.
    case conflictingDuplicate = "conflicting_duplicate"
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
    /// `zone`'s dispatch area (the zone itself unless `areas` groups it): an area's events must all
    /// travel in the area's partition.
    public func document(
        value: [UInt8]?, key: [UInt8]? = nil, checkKey: Bool = false, areas: DispatchAreas = .none
    ) -> Result<JSONValue, Rejection> {
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
        if let rejection = Self.nulCharacter(in: value, document: document) { return .failure(rejection) }
        if checkKey, let zone = document["zone"]?.stringValue {
            let keyText = key.map { String(decoding: $0, as: UTF8.self) }
            let area = areas.area(of: zone)
            if keyText != area {
                let expected =
                    area == zone ? "the event's zone \"\(zone)\"" : "zone \(zone)'s dispatch area \"\(area)\""
                return .failure(
                    Rejection(
                        reason: .keyZoneMismatch,
                        detail: "record key \(keyText.map { "\"\($0.prefix(64))\"" } ?? "(none)") is not \(expected)",
                        field: "/zone"))
            }
        }
        return .success(document)
    }
}

extension TopicDecoder {
    /// The first string (value or key) holding U+0000, as a rejection naming its field. JSON can
    /// only carry U+0000 as the escape `\u0000` (a raw control byte is a syntax error), so the raw
    /// bytes are searched first and the document is walked only when the escape appears.
    static func nulCharacter(in bytes: [UInt8], document: JSONValue) -> Rejection? {
        let escape = Array(#"\u0000"#.utf8)
        guard bytes.count >= escape.count else { return nil }
        var found = false
        var index = 0
        let last = bytes.count - escape.count
        while index <= last {
            if bytes[index] == escape[0], bytes[index + 1] == escape[1], bytes[index + 2] == escape[2],
                bytes[index + 3] == escape[3], bytes[index + 4] == escape[4], bytes[index + 5] == escape[5]
            {
                found = true
                break
            }
            index += 1
        }
        guard found, let path = nulPath(document, path: "") else { return nil }
        return Rejection(
            reason: .nulCharacter, detail: "a string holds U+0000, which PostgreSQL cannot store",
            field: path.isEmpty ? "/" : path)
    }

    /// The JSON Pointer of the first string or key holding U+0000.
    static func nulPath(_ value: JSONValue, path: String) -> String? {
        switch value {
        case .string(let text):
            return text.utf8.contains(0) ? path : nil
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = nulPath(element, path: "\(path)/\(index)") { return found }
            }
            return nil
        case .object(let object):
            for entry in object.entries {
                let pointer = "\(path)/\(JSONSchema.escape(entry.key))"
                if entry.key.utf8.contains(0) { return pointer }
                if let found = nulPath(entry.value, path: pointer) { return found }
            }
            return nil
        default:
            return nil
        }
    }
}

/// Turns raw report bytes into a validated ``Report`` or a ``Rejection`` with a precise reason.
public struct ReportDecoder: Sendable {
    public static let defaultMaximumBytes = TopicDecoder.defaultMaximumBytes

    public let topic: TopicDecoder
    /// The zones a report may name (`nil`: any well-formed zone).
    public let zones: ZoneDirectory?

    public init(
        definition: TopicDefinition, zones: ZoneDirectory? = nil,
        maximumBytes: Int = ReportDecoder.defaultMaximumBytes
    ) {
        self.topic = TopicDecoder(definition: definition, maximumBytes: maximumBytes)
        self.zones = zones
    }

    public var definition: TopicDefinition { topic.definition }

    /// Decodes and validates one value. When `checkKey` is set (the worker's case), the record key
    /// must be the report's zone.
    public func decode(value: [UInt8]?, key: [UInt8]? = nil, checkKey: Bool = false) -> Result<Report, Rejection> {
        topic.document(value: value, key: key, checkKey: checkKey).flatMap { document in
            Result { () throws(Rejection) in
                let report = try Report(validated: document)
                if let zones, !zones.contains(report.zone) { throw ZoneDirectory.unknown(report.zone) }
                return report
            }
        }
    }
}
