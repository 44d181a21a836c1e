import Foundation

/// Where and why a value does not match its schema.
public struct SchemaViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// A JSON Pointer to the offending value, such as `/person/age` (empty for the document).
    public var path: String
    /// The schema keyword that failed (`required`, `maximum`, `enum`, ...).
    public var keyword: String
    public var message: String

    public var description: String { "\(path.isEmpty ? "/" : path): \(message)" }

    /// The violation seen from the value that holds this one under `step` (`/key` or `/index`).
    func under(_ step: String) -> SchemaViolation {
        SchemaViolation(path: step + path, keyword: keyword, message: message)
    }
}

/// A compiled JSON Schema (the subset of draft 2020-12 that samu's topic schemas use).
///
/// Compilation refuses any keyword it does not implement, so a schema in `topics/` can never ask for
/// a check that silently does not happen.
public struct JSONSchema: Sendable {
    indirect enum AdditionalProperties: Sendable {
        case allowed
        case forbidden
        case schema(Node)
    }

    final class Node: Sendable {
        let types: Set<String>?
        /// `types` as bits (one per type name, see `JSONSchema.typeBit`): checked for every value
        /// without hashing.
        let typeMask: UInt8
        let properties: [(String, Node)]
        let required: [String]
        let additionalProperties: AdditionalProperties
        let enumValues: [JSONValue]?
        let constValue: JSONValue?
        let minLength: Int?
        let maxLength: Int?
        let pattern: Pattern?
        let format: String?
        let minimum: Double?
        let maximum: Double?
        let exclusiveMinimum: Double?
        let exclusiveMaximum: Double?
        let items: Node?
        let minItems: Int?
        let maxItems: Int?
        let uniqueItems: Bool
        let reference: String?

        init(
            types: Set<String>?, properties: [(String, Node)], required: [String],
            additionalProperties: AdditionalProperties, enumValues: [JSONValue]?, constValue: JSONValue?,
            minLength: Int?,
            maxLength: Int?, pattern: Pattern?, format: String?, minimum: Double?, maximum: Double?,
            exclusiveMinimum: Double?, exclusiveMaximum: Double?, items: Node?, minItems: Int?, maxItems: Int?,
            uniqueItems: Bool, reference: String?
        ) {
            self.types = types
            typeMask = types.map { $0.reduce(0) { $0 | JSONSchema.typeBit($1) } } ?? 0
            self.properties = properties
            self.required = required
            self.additionalProperties = additionalProperties
            self.enumValues = enumValues
            self.constValue = constValue
            self.minLength = minLength
            self.maxLength = maxLength
            self.pattern = pattern
            self.format = format
            self.minimum = minimum
            self.maximum = maximum
            self.exclusiveMinimum = exclusiveMinimum
            self.exclusiveMaximum = exclusiveMaximum
            self.items = items
            self.minItems = minItems
            self.maxItems = maxItems
            self.uniqueItems = uniqueItems
            self.reference = reference
        }
    }

    /// A regular expression from a `pattern` keyword (ECMA-262 syntax shared with Swift's Regex for
    /// the patterns samu uses), matched anywhere in the string as JSON Schema specifies.
    ///
    /// The anchored shapes samu's topics use are matched by a byte scan (``Shape``): the worker
    /// checks several per event, and a regular expression match costs a conversion to UTF-16 and
    /// an ICU matcher each time. Any other pattern goes to `NSRegularExpression`.
    struct Pattern: Sendable {
        let source: String
        let regex: NSRegularExpression
        let shape: Shape?

        init(source: String) throws {
            self.source = source
            self.regex = try NSRegularExpression(pattern: source)
            self.shape = Shape(source)
        }

        func matches(_ text: String) -> Bool {
            if let shape { return shape.matches(text) }
            return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
    }

    /// The anchored patterns of samu's topics, matched byte by byte (ECMA-262's `$`: the end of the
    /// input, never before a final line break).
    enum Shape: Sendable, Equatable {
        /// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`: zone and area codes.
        case code
        /// `^[a-z0-9][a-z0-9-]{0,N}$`: unit and shelter ids.
        case identifier(maxTail: Int)
        /// `^\+?[0-9 ]{6,20}$`: a telephone number.
        case phone
        /// `^[0-9a-f]{N}$`: a hexadecimal digest.
        case hex(length: Int)

        init?(_ source: String) {
            switch source {
            case "^[a-z][a-z0-9]*(-[a-z0-9]+)*$": self = .code
            case "^\\+?[0-9 ]{6,20}$": self = .phone
            default:
                if let tail = Self.bound(source, prefix: "^[a-z0-9][a-z0-9-]{0,", suffix: "}$") {
                    self = .identifier(maxTail: tail)
                } else if let length = Self.bound(source, prefix: "^[0-9a-f]{", suffix: "}$") {
                    self = .hex(length: length)
                } else {
                    return nil
                }
            }
        }

        private static func bound(_ source: String, prefix: String, suffix: String) -> Int? {
            guard source.hasPrefix(prefix), source.hasSuffix(suffix), source.count > prefix.count + suffix.count
            else { return nil }
            let digits = source.dropFirst(prefix.count).dropLast(suffix.count)
            guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let value = Int(digits), value < 1000
            else { return nil }
            return value
        }

        func matches(_ text: String) -> Bool {
            let bytes = text.utf8
            func lower(_ byte: UInt8) -> Bool { byte >= 0x61 && byte <= 0x7A }
            func digit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
            switch self {
            case .code:
                // A letter, then letters and digits, in groups joined by single hyphens.
                guard let first = bytes.first, lower(first), bytes.last != 0x2D else { return false }
                var previousHyphen = false
                for byte in bytes.dropFirst() {
                    if byte == 0x2D {
                        if previousHyphen { return false }
                        previousHyphen = true
                    } else if lower(byte) || digit(byte) {
                        previousHyphen = false
                    } else {
                        return false
                    }
                }
                return true
            case .identifier(let maxTail):
                guard let first = bytes.first, lower(first) || digit(first), bytes.count <= maxTail + 1 else {
                    return false
                }
                return bytes.dropFirst().allSatisfy { lower($0) || digit($0) || $0 == 0x2D }
            case .phone:
                let body = bytes.first == 0x2B ? bytes.dropFirst() : bytes[...]
                return (6...20).contains(body.count) && body.allSatisfy { digit($0) || $0 == 0x20 }
            case .hex(let length):
                return bytes.count == length && bytes.allSatisfy { digit($0) || ($0 >= 0x61 && $0 <= 0x66) }
            }
        }
    }

    public struct CompileError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "schema \(path.isEmpty ? "/" : path): \(message)" }
    }

    let root: Node
    let definitions: [String: Node]
    /// The schema as written, for documentation and tooling.
    public let source: JSONValue

    static let annotationKeywords: Set<String> = [
        "$schema", "$id", "$comment", "title", "description", "examples", "default", "$defs", "deprecated",
    ]
    static let knownFormats: Set<String> = ["uuid", "date-time"]

    public init(_ source: JSONValue) throws(CompileError) {
        self.source = source
        var definitions: [String: Node] = [:]
        if case .object(let defs)? = source["$defs"] {
            for entry in defs.entries {
                definitions[entry.key] = try Self.compile(entry.value, path: "/$defs/\(entry.key)")
            }
        }
        self.definitions = definitions
        self.root = try Self.compile(source, path: "")
        for reference in Self.references(in: root) where definitions[reference] == nil {
            throw CompileError(path: "", message: "$ref to unknown definition '\(reference)'")
        }
    }

    private static func references(in node: Node) -> [String] {
        var found: [String] = node.reference.map { [$0] } ?? []
        for (_, child) in node.properties { found += references(in: child) }
        if let items = node.items { found += references(in: items) }
        if case .schema(let child) = node.additionalProperties { found += references(in: child) }
        return found
    }

    private static func compile(_ value: JSONValue, path: String) throws(CompileError) -> Node {
        guard case .object(let object) = value else {
            throw CompileError(path: path, message: "a schema must be an object")
        }
        let known: Set<String> = [
            "type", "properties", "required", "additionalProperties", "enum", "const", "minLength", "maxLength",
            "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems",
            "maxItems", "uniqueItems", "$ref",
        ]
        for key in object.keys where !known.contains(key) && !annotationKeywords.contains(key) {
            throw CompileError(path: path, message: "keyword '\(key)' is not supported by samu's validator")
        }
        func int(_ key: String) throws(CompileError) -> Int? {
            guard let value = object[key] else { return nil }
            guard let number = value.integerValue, number >= 0 else {
                throw CompileError(path: path, message: "'\(key)' must be a non-negative integer")
            }
            return Int(number)
        }
        func double(_ key: String) throws(CompileError) -> Double? {
            guard let value = object[key] else { return nil }
            guard let number = value.doubleValue else {
                throw CompileError(path: path, message: "'\(key)' must be a number")
            }
            return number
        }
        var types: Set<String>?
        switch object["type"] {
        case nil: types = nil
        case .string(let name)?: types = [name]
        case .array(let names)?: types = Set(names.compactMap(\.stringValue))
        default: throw CompileError(path: path, message: "'type' must be a string or an array of strings")
        }
        if let types, !types.isSubset(of: Self.typeNames) {
            throw CompileError(path: path, message: "unknown type in \(types.sorted())")
        }
        var properties: [(String, Node)] = []
        if let value = object["properties"] {
            guard case .object(let members) = value else {
                throw CompileError(path: path, message: "'properties' must be an object")
            }
            for entry in members.entries {
                properties.append((entry.key, try compile(entry.value, path: "\(path)/properties/\(entry.key)")))
            }
        }
        let required: [String]
        switch object["required"] {
        case nil: required = []
        case .array(let names)?: required = names.compactMap(\.stringValue)
        default: throw CompileError(path: path, message: "'required' must be an array of strings")
        }
        let additional: AdditionalProperties
        switch object["additionalProperties"] {
        case nil, .bool(true)?: additional = .allowed
        case .bool(false)?: additional = .forbidden
        case let schema?: additional = .schema(try compile(schema, path: "\(path)/additionalProperties"))
        }
        var enumValues: [JSONValue]?
        if let value = object["enum"] {
            guard case .array(let values) = value, !values.isEmpty else {
                throw CompileError(path: path, message: "'enum' must be a non-empty array")
            }
            enumValues = values
        }
        var pattern: Pattern?
        if let source = object["pattern"]?.stringValue {
            do {
                pattern = try Pattern(source: source)
            } catch {
                throw CompileError(path: path, message: "invalid pattern \(source)")
            }
        }
        let format = object["format"]?.stringValue
        if let format, !knownFormats.contains(format) {
            throw CompileError(path: path, message: "format '\(format)' is not supported")
        }
        var reference: String?
        if let ref = object["$ref"]?.stringValue {
            guard ref.hasPrefix("#/$defs/") else {
                throw CompileError(path: path, message: "only local references (#/$defs/...) are supported")
            }
            reference = String(ref.dropFirst("#/$defs/".count))
        }
        let items = try object["items"].map { (schema: JSONValue) throws(CompileError) in
            try compile(schema, path: "\(path)/items")
        }
        return Node(
            types: types, properties: properties, required: required, additionalProperties: additional,
            enumValues: enumValues, constValue: object["const"], minLength: try int("minLength"),
            maxLength: try int("maxLength"), pattern: pattern, format: format, minimum: try double("minimum"),
            maximum: try double("maximum"), exclusiveMinimum: try double("exclusiveMinimum"),
            exclusiveMaximum: try double("exclusiveMaximum"), items: items, minItems: try int("minItems"),
            maxItems: try int("maxItems"), uniqueItems: object["uniqueItems"] == .bool(true), reference: reference)
    }

    /// Checks `value`; throws the first violation found (in document order).
    public func validate(_ value: JSONValue) throws(SchemaViolation) {
        try validate(value, against: root)
    }

    /// The JSON Schema type names, in the order of their bits in `Node.typeMask`.
    static let typeNames = ["null", "boolean", "integer", "number", "string", "array", "object"]
    static let integerBit = typeBit("integer")
    static let numberBit = typeBit("number")

    /// A type name's bit in `Node.typeMask` (0 for a name that is not a type).
    static func typeBit(_ name: String) -> UInt8 {
        typeNames.firstIndex(of: name).map { 1 << $0 } ?? 0
    }

    /// The bit of a value's type (``JSONValue/typeName`` as a bit, without comparing text).
    static func typeBit(_ value: JSONValue) -> UInt8 {
        switch value {
        case .null: 1 << 0
        case .bool: 1 << 1
        case .integer: 1 << 2
        case .number: 1 << 3
        case .string: 1 << 4
        case .array: 1 << 5
        case .object: 1 << 6
        }
    }

    /// Validates a value; a violation's path is relative to the value (each level adds its key as
    /// the error goes up, so that no path is built for a valid document).
    private func validate(_ value: JSONValue, against node: Node) throws(SchemaViolation) {
        func fail(_ keyword: String, _ message: String) -> SchemaViolation {
            SchemaViolation(path: "", keyword: keyword, message: message)
        }
        if let reference = node.reference, let target = definitions[reference] {
            try validate(value, against: target)
        }
        if let types = node.types {
            let mask = node.typeMask
            let matches =
                mask & Self.typeBit(value) != 0
                || { if case .integer = value { return mask & Self.numberBit != 0 } else { return false } }()
                || (mask & Self.integerBit != 0
                    && { if case .number(let n) = value { return n == n.rounded() } else { return false } }())
            if !matches {
                throw fail("type", "expected \(types.sorted().joined(separator: " or ")), found \(value.typeName)")
            }
        }
        if let constant = node.constValue, !Self.equal(constant, value) {
            throw fail("const", "must be \(constant.serialized)")
        }
        if let values = node.enumValues, !values.contains(where: { Self.equal($0, value) }) {
            let shown = values.prefix(12).map(\.serialized).joined(separator: ", ")
            throw fail("enum", "\(Self.short(value)) is not one of \(shown)")
        }
        switch value {
        case .string(let text):
            let length = (node.minLength != nil || node.maxLength != nil) ? text.unicodeScalars.count : 0
            if let minimum = node.minLength, length < minimum {
                throw fail("minLength", "shorter than \(minimum) characters")
            }
            if let maximum = node.maxLength, length > maximum {
                throw fail("maxLength", "longer than \(maximum) characters (\(length))")
            }
            if let pattern = node.pattern, !pattern.matches(text) {
                throw fail("pattern", "\(Self.short(value)) does not match \(pattern.source)")
            }
            if let format = node.format, !Self.check(format: format, text) {
                throw fail("format", "\(Self.short(value)) is not a valid \(format)")
            }
        case .integer, .number:
            let number = value.doubleValue!
            if let minimum = node.minimum, number < minimum {
                throw fail("minimum", "\(value.serialized) is less than \(Self.number(minimum))")
            }
            if let maximum = node.maximum, number > maximum {
                throw fail("maximum", "\(value.serialized) is more than \(Self.number(maximum))")
            }
            if let minimum = node.exclusiveMinimum, number <= minimum {
                throw fail("exclusiveMinimum", "\(value.serialized) must be more than \(Self.number(minimum))")
            }
            if let maximum = node.exclusiveMaximum, number >= maximum {
                throw fail("exclusiveMaximum", "\(value.serialized) must be less than \(Self.number(maximum))")
            }
        case .array(let elements):
            if let minimum = node.minItems, elements.count < minimum {
                throw fail("minItems", "fewer than \(minimum) items")
            }
            if let maximum = node.maxItems, elements.count > maximum {
                throw fail("maxItems", "more than \(maximum) items")
            }
            if node.uniqueItems {
                for (index, element) in elements.enumerated()
                where elements[..<index].contains(where: { Self.equal($0, element) }) {
                    throw fail("uniqueItems", "item \(index) repeats an earlier item")
                }
            }
            if let items = node.items {
                for (index, element) in elements.enumerated() {
                    do {
                        try validate(element, against: items)
                    } catch {
                        throw error.under("/\(index)")
                    }
                }
            }
        case .object(let object):
            for name in node.required where object[name] == nil {
                throw SchemaViolation(path: "/\(name)", keyword: "required", message: "required field is missing")
            }
            for entry in object.entries {
                let child: Node
                if let property = node.properties.first(where: { $0.0 == entry.key })?.1 {
                    child = property
                } else {
                    switch node.additionalProperties {
                    case .allowed: continue
                    case .forbidden:
                        throw SchemaViolation(
                            path: "/\(Self.escape(entry.key))", keyword: "additionalProperties",
                            message: "unknown field")
                    case .schema(let schema): child = schema
                    }
                }
                do {
                    try validate(entry.value, against: child)
                } catch {
                    throw error.under("/\(Self.escape(entry.key))")
                }
            }
        case .null, .bool:
            break
        }
    }

    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        if let left = lhs.doubleValue, let right = rhs.doubleValue { return left == right }
        return lhs == rhs
    }

    /// A limit as people write it: `120`, not `120.0`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func short(_ value: JSONValue) -> String {
        let text = value.serialized
        return text.count > 40 ? String(text.prefix(40)) + "…" : text
    }

    static func escape(_ key: String) -> String {
        // Almost every key needs no escape: skip Foundation's search for them.
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return key }
        return key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    static func check(format: String, _ text: String) -> Bool {
        switch format {
        case "uuid": UUID(canonical: text) != nil
        case "date-time": RFC3339.parse(text) != nil
        default: true
        }
    }
}

/// RFC 3339 timestamps (`2026-01-15T02:10:00Z`, `2026-01-15T03:10:00.250+01:00`).
public enum RFC3339 {
    /// Parses a timestamp into a `Date`; nil when it is not RFC 3339 (a date-time with a zone).
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2),
            bytes[7] == UInt8(ascii: "-"), let day = number(8, 2),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"), let hour = number(11, 2),
            bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2), bytes[16] == UInt8(ascii: ":"),
            let second = number(17, 2)
        else { return nil }
        // Year 0 has no place in PostgreSQL's calendar (1 BC is followed by AD 1): refused here, not by the
        // database after the report was accepted.
        guard year >= 1, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24,
            minute < 60,
            second < 61
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            if index == start { return nil }
        }
        guard index < bytes.count else { return nil }
        var offsetSeconds = 0
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
            index += 1
        } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "+") ? 1 : -1
            guard let offsetHour = number(index + 1, 2), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                let offsetMinute = number(index + 4, 2), offsetHour < 24, offsetMinute < 60
            else { return nil }
            offsetSeconds = sign * (offsetHour * 3600 + offsetMinute * 60)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Formats a date as `2026-01-15T02:10:00.250Z` (UTC, milliseconds).
    public static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        write(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``format(_:)``'s text to a buffer, digit by digit: every outcome and timeline entry
    /// has timestamps.
    public static func write(_ date: Date, to bytes: inout [UInt8]) {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let milliseconds = Int(((totalMilliseconds % 1000) + 1000) % 1000)
        let totalSeconds = (totalMilliseconds - Int64(milliseconds)) / 1000
        let days = Int(totalSeconds >= 0 ? totalSeconds / 86_400 : (totalSeconds - 86_399) / 86_400)
        let secondsOfDay = Int(totalSeconds - Int64(days) * 86_400)
        let (year, month, day) = civilFromDays(days)
        func digits(_ value: Int, _ width: Int) {
            if value >= 10_000 || value < 0 {
                bytes.append(contentsOf: String(value).utf8)
                return
            }
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(secondsOfDay / 3600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondsOfDay / 60 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondsOfDay % 60, 2)
        bytes.append(UInt8(ascii: "."))
        digits(milliseconds, 3)
        bytes.append(UInt8(ascii: "Z"))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days_from_civil: days since 1970-01-01.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
