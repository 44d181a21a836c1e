import Foundation
import Testing

@testable import SamuModel

@Suite("JSON written straight into bytes")
struct JSONWriterTests {
    /// Strings that need every kind of escape, non-ASCII text and nothing at all.
    static func text(_ random: inout SplitMix64) -> String {
        let pieces = ["", "a", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1f}", "é", "الطفل", "😀", "/", " ", "{}"]
        return (0..<Int(random.next() % 6)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
    }

    @Test("any object it writes is the text JSONValue.serialized gives for the same fields, and parses back")
    func sameAsTheTree() throws {
        var random = SplitMix64(seed: 512)
        for _ in 0..<2_000 {
            var writer = JSONWriter(capacity: Int(random.next() % 64))
            var object = JSONObject()
            for index in 0..<Int(random.next() % 8) {
                let key = Self.text(&random) + "\(index)"
                switch random.next() % 8 {
                case 0:
                    let value = Self.text(&random)
                    writer.append(key, value)
                    object.append(key, .string(value))
                case 1:
                    let id = UUID()
                    writer.append(key, id: id)
                    object.append(key, .string(id.uuidString.lowercased()))
                case 2:
                    let time = Date(timeIntervalSince1970: Double(Int64(random.next() % 9_000_000_000_000)) / 1000)
                    writer.append(key, time: time)
                    object.append(key, .string(RFC3339.format(time)))
                case 3:
                    let value = Int64(bitPattern: random.next())
                    writer.append(key, integer: value)
                    object.append(key, .integer(value))
                case 4:
                    let values = (0..<Int(random.next() % 4)).map { _ in Self.text(&random) }
                    writer.append(key, strings: values)
                    object.append(key, .array(values.map { .string($0) }))
                case 5:
                    let number = [0, -0.5, 1e21, 12, 3.14159, Double(random.next() % 1_000) / 7][Int(random.next() % 6)]
                    let flag = random.next() % 2 == 0
                    let name: String? = random.next() % 2 == 0 ? nil : Self.text(&random)
                    switch random.next() % 3 {
                    case 0:
                        writer.append(key, number: number)
                        object.append(key, .number(number))
                    case 1:
                        writer.append(key, bool: flag)
                        object.append(key, .bool(flag))
                    default:
                        writer.append(key, name)
                        object.append(key, name.map { .string($0) } ?? .null)
                    }
                case 6:
                    // Nested objects, alone and in an array, with an empty one.
                    let names = (0..<Int(random.next() % 3)).map { _ in Self.text(&random) }
                    writer.append(key, objects: names) { inner, name in
                        inner.append("name", name)
                        inner.append("inner") { $0.append("n", integer: 1) }
                    }
                    object.append(key, .array(names.map { ["name": .string($0), "inner": ["n": 1]] }))
                    writer.append(key + "-empty") { _ in }
                    object.append(key + "-empty", .object(JSONObject()))
                default:
                    let value: JSONValue = ["n": .number(1.5), "a": [true, nil, .string(Self.text(&random))]]
                    let texts = [value.serialized, "[]", "7"]
                    if random.next() % 2 == 0 {
                        writer.append(key, value)
                        object.append(key, value)
                    } else {
                        writer.append(key, jsonTexts: texts)
                        object.append(key, .array(try texts.map { try JSONParser.parse($0) }))
                    }
                }
            }
            let text = writer.finished()
            #expect(text == JSONValue.object(object).serialized)
            #expect(try JSONParser.parse(text) == .object(object))
        }
    }

    @Test("a case's received outcome written directly is its JSON tree's text")
    func receivedOutcome() {
        for reportedAt in [Date(timeIntervalSince1970: 1_767_225_600.25), nil] {
            let outcome = CaseOutcome(
                eventID: UUID(), type: "case.received", caseID: UUID(), reportID: UUID(), zone: "rabat",
                category: "child_street", status: "received", occurredAt: Date(), reportedAt: reportedAt)
            #expect(outcome.payload == outcome.json.serialized)
        }
    }

    @Test("ids written into a buffer are Foundation's text in lower case")
    func ids() {
        for _ in 0..<200 {
            let id = UUID()
            var bytes: [UInt8] = Array("x".utf8)
            id.writeLowercased(to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == "x" + id.uuidString.lowercased())
            #expect(id.lowercased == id.uuidString.lowercased())
        }
    }
}
