import Foundation
import Testing

@testable import SamuModel

@Suite("Strict JSON parser")
struct JSONParserTests {
    @Test("parses every JSON type and keeps integers apart from decimals")
    func types() throws {
        let value = try JSONParser.parse(#"{"a":[1,-2.5,1e3,true,false,null,"x\u00e9\ud83d\ude00\n"],"b":{}}"#)
        #expect(value["a"] == [1, -2.5, 1000.0, true, false, nil, "xé😀\n"])
        #expect(value["b"] == .object(JSONObject()))
        #expect(try JSONParser.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONParser.parse("9223372036854775808") == .number(9_223_372_036_854_775_808))
    }

    @Test(
        "refuses what RFC 8259 refuses",
        arguments: [
            "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "NaN", "Infinity", "-", "'x'", "{a:1}", "[1 2]",
            "\"\\x\"", "\"\u{01}\"", "\"\\ud800\"", "\"\\udc00\"", "tru", "nul", "1 2", "{\"a\" 1}", "1e999",
        ])
    func syntaxErrors(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test("invalid UTF-8 is reported as such, with its offset")
    func invalidUTF8() {
        for bytes: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82],
        ] {
            let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
            #expect(error?.kind == .invalidUTF8)
            #expect(error?.offset == 1)
        }
    }

    @Test("a duplicate key is an error, not a silent choice")
    func duplicateKey() {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"zone":"rabat","zone":"sale"}"#) }
        #expect(error?.kind == .duplicateKey)
    }

    @Test("a duplicate key is found at any position in objects of any size, and distinct keys are kept")
    func duplicateKeyAnySize() throws {
        for size in [1, 2, 15, 16, 17, 40] {
            let keys = (0..<size).map { "k\($0)" }
            let fields = keys.map { "\"\($0)\":1" }
            let object = try JSONParser.parse("{" + fields.joined(separator: ",") + "}")
            #expect(object.arrayValue == nil && (try? JSONParser.parse(object.serialized)) == object)
            guard case .object(let parsed) = object else { Issue.record("not an object"); continue }
            #expect(parsed.keys == keys)
            for repeated in keys.indices {
                let text = "{" + (fields + ["\"\(keys[repeated])\":2"]).joined(separator: ",") + "}"
                let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
                #expect(error?.kind == .duplicateKey)
                #expect(error?.offset == fields.joined(separator: ",").utf8.count + 2)
            }
        }
    }

    @Test("integers are read from their bytes as Int64 reads their text; beyond 64 bits they are numbers")
    func integers() throws {
        var random = SplitMix64(seed: 9)
        var texts = [
            "0", "-0", "7", "-7", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
            "-9223372036854775809", "18446744073709551616", "99999999999999999999",
        ]
        for _ in 0..<2_000 {
            let value = Int64(bitPattern: random.next()) >> (random.next() % 64)
            texts.append(String(value))
        }
        for text in texts {
            let expected: JSONValue = Int64(text).map { .integer($0) } ?? .number(Double(text)!)
            #expect(try JSONParser.parse(text) == expected, "\(text)")
            #expect(try JSONParser.parse("[\(text)]") == .array([expected]))
        }
    }

    @Test("nesting is bounded")
    func depth() {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        #expect(error?.kind == .tooDeep)
        #expect(throws: Never.self) {
            try JSONParser.parse(String(repeating: "[", count: 30) + String(repeating: "]", count: 30))
        }
    }

    @Test("serializing and parsing again gives the same value")
    func roundTrip() throws {
        let text = #"{"s":"قال \"لا\" \\ \t","n":-0.125,"i":42,"a":[null,{"k":false}]}"#
        let value = try JSONParser.parse(text)
        #expect(try JSONParser.parse(value.serialized) == value)
        let escaped: JSONValue = [
            "k\"": .string("a\"b\\c\n\r\t\u{01}\u{1f} é قال"), "n": 1.5, "i": -3, "b": true, "z": nil,
        ]
        #expect(escaped.serialized == #"{"k\"":"a\"b\\c\n\r\t\u0001\u001f é قال","n":1.5,"i":-3,"b":true,"z":null}"#)
    }
}

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("parses zones and fractions")
    func parse() throws {
        let utc = try #require(RFC3339.parse("2026-01-15T02:10:00Z"))
        #expect(utc.timeIntervalSince1970 == 1_768_443_000)
        #expect(RFC3339.parse("2026-01-15T03:10:00+01:00") == utc)
        #expect(RFC3339.parse("2026-01-15T02:10:00.5Z")?.timeIntervalSince1970 == 1_768_443_000.5)
    }

    @Test(
        "refuses dates that are not RFC 3339, and year 0, which PostgreSQL has not",
        arguments: [
            "2026-01-15", "2026-01-15T02:10:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-15 02:10:00Z",
            "2026-01-15T25:00:00Z", "2026-01-15T02:10:00Zjunk", "0000-01-01T00:00:00Z",
        ])
    func refuse(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("formats in UTC with milliseconds, and parses back")
    func format() throws {
        let date = try #require(RFC3339.parse("2024-02-29T23:59:59.123Z"))
        #expect(RFC3339.format(date) == "2024-02-29T23:59:59.123Z")
        #expect(RFC3339.format(try #require(RFC3339.parse("1969-12-31T23:59:59Z"))) == "1969-12-31T23:59:59.000Z")
    }

    @Test("any millisecond from 1900 to 2200 formats as ISO 8601 in UTC and parses back to itself")
    func formatRoundTrip() throws {
        var random = SplitMix64(seed: 3339)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for _ in 0..<2000 {
            let milliseconds = Int64(random.next() % 9_467_280_000_000) - 2_208_988_800_000
            // A fifth of a millisecond in: milliseconds are truncated, the formatter rounds.
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000 + 0.0002)
            let text = RFC3339.format(date)
            #expect(text == formatter.string(from: date), "\(milliseconds)")
            let parsed = try #require(RFC3339.parse(text))
            #expect(Int64((parsed.timeIntervalSince1970 * 1000).rounded()) == milliseconds, "\(text)")
        }
    }
}
