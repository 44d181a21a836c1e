import Foundation
import SamuModel
import SamuTestSupport
import Testing

/// A seeded mutation fuzzer for everything that reads bytes from outside: the JSON parser, the
/// schema validator and the inbound, report and topic decoders. Every input must come back as a
/// value or a `Rejection`, never a crash or a hang, and a parsed document must survive its own
/// serialisation.
///
/// The coverage-guided fuzzer is libFuzzer (`Fuzz/`, run by `ops/fuzz.sh` for 60 s in the test
/// command); it needs a build of its own with `-sanitize=fuzzer`. This one runs inside the test
/// build: it is guided by outcomes instead of coverage. An input that produces an outcome not seen
/// before (topic, accepted or the rejection's reason and field) joins the working corpus and is
/// mutated further. It starts from the catalog's examples, the sample reports and the committed
/// corpus (`Tests/Fuzz/corpus`), and runs for `SAMU_FUZZ_SECONDS` (15 by default) with a seed
/// printed for replay (`SAMU_FUZZ_SEED`).
@Suite("Decoder fuzzing")
struct FuzzTests {
    static let corpusDirectory = Repository.root.appendingPathComponent("Tests/Fuzz/corpus")

    static func seeds(_ catalog: TopicCatalog) throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for definition in catalog.definitions {
            seeds += definition.examples.map { Array($0.serialized.utf8) }
        }
        for file in ["sample-reports.ndjson", "sample-burst.ndjson"] {
            let data = try Data(contentsOf: Repository.seeds.appendingPathComponent(file))
            seeds += Array(data).split(separator: UInt8(ascii: "\n")).map { Array($0) }
        }
        let files =
            (try? FileManager.default.contentsOfDirectory(at: corpusDirectory, includingPropertiesForKeys: nil))
            ?? []
        for file in files.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) {
            if let data = FileManager.default.contents(atPath: file.path) { seeds.append(Array(data)) }
        }
        return seeds
    }

    /// Bytes that break JSON and its escapes in interesting ways.
    static let tokens: [[UInt8]] =
        [
            #"\u0000"#, #"\ud800"#, #"\udc00x"#, "\"", "\\", "{", "}", "[", "]", ",", ":", "1e309", "-0", "NaN", "null",
            "true", "1.7976931348623157e309", "99999999999999999999", #"{"a":1,"a":2}"#, "\u{FEFF}", "é", "\u{0}",
            String(repeating: "[", count: 80), #""zone":"zz-nowhere""#, #""schema_version":2"#, #""event_id":"x""#,
        ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0x00], [0x7F]]

    struct Mutator {
        var random: SplitMix64

        mutating func int(_ bound: Int) -> Int { Int(random.next() % UInt64(max(bound, 1))) }

        mutating func mutate(_ input: [UInt8], other: [UInt8]) -> [UInt8] {
            var bytes = input
            for _ in 0..<(1 + int(4)) {
                let position = int(bytes.count + 1)
                switch int(9) {
                case 0 where !bytes.isEmpty:  // flip a bit
                    let index = min(position, bytes.count - 1)
                    bytes[index] ^= UInt8(1 << int(8))
                case 1 where !bytes.isEmpty:  // delete a run
                    let end = min(bytes.count, position + 1 + int(16))
                    bytes.removeSubrange(min(position, bytes.count)..<end)
                case 2:  // insert a token
                    bytes.insert(contentsOf: FuzzTests.tokens[int(FuzzTests.tokens.count)], at: position)
                case 3 where !bytes.isEmpty:  // replace a byte with a token
                    let index = min(position, bytes.count - 1)
                    bytes.replaceSubrange(index...index, with: FuzzTests.tokens[int(FuzzTests.tokens.count)])
                case 4:  // truncate
                    bytes = Array(bytes.prefix(position))
                case 5 where !other.isEmpty:  // splice another input
                    let start = int(other.count)
                    bytes.insert(contentsOf: other[start..<min(other.count, start + 1 + int(64))], at: position)
                case 6 where !bytes.isEmpty:  // duplicate a run
                    let start = min(position, bytes.count - 1)
                    bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + 1 + int(32))], at: start)
                case 7:  // a digit run (numbers at and past their limits)
                    bytes.insert(contentsOf: Array(String(random.next()).utf8), at: position)
                default:  // a random byte
                    bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                }
            }
            return Array(bytes.prefix(80_000))
        }
    }

    @Test("no input crashes or hangs the parser, the validator or the decoders; parsed documents round-trip")
    func fuzz() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = Double(environment["SAMU_FUZZ_SECONDS"] ?? "") ?? 15
        let seed = UInt64(environment["SAMU_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        let catalog = try Repository.catalog()
        let zones = try ZoneDirectory.load(Repository.seeds.appendingPathComponent("provinces.json"))
        let inbound = InboundDecoder(catalog: catalog, zones: zones)
        let reports = ReportDecoder(definition: catalog.definition(.reports), zones: zones)
        let outbound = [TopicRole.outcomes, .deadLetters, .partnerOutcomes].map {
            TopicDecoder(definition: catalog.definition($0))
        }
        var corpus = try Self.seeds(catalog)
        #expect(corpus.count > 40)
        var seen = Set<String>()
        var mutator = Mutator(random: SplitMix64(seed: seed))
        var runs = 0
        var roundTrips = 0
        let deadline = Date().addingTimeInterval(seconds)
        func outcomes(_ bytes: [UInt8]) -> [String] {
            var found: [String] = []
            for role in TopicRole.inbound {
                switch inbound.decode(topic: catalog.name(role), key: Array("rabat".utf8), value: bytes) {
                case .success: found.append("\(role.rawValue):ok")
                case .failure(let rejection):
                    found.append("\(role.rawValue):\(rejection.reason.rawValue):\(rejection.field ?? "-")")
                }
            }
            if case .failure(let rejection) = reports.decode(value: bytes) {
                found.append("report:\(rejection.reason)")
            }
            for decoder in outbound {
                if case .failure(let rejection) = decoder.document(value: bytes) {
                    found.append("\(decoder.definition.name):\(rejection.reason.rawValue)")
                }
            }
            return found
        }
        while Date() < deadline {
            for _ in 0..<200 {
                let input = mutator.mutate(
                    corpus[mutator.int(corpus.count)], other: corpus[mutator.int(corpus.count)])
                runs += 1
                let found = outcomes(input)
                if let document = try? JSONParser.parse(input) {
                    roundTrips += 1
                    let again = try JSONParser.parse(document.serializedBytes)
                    #expect(
                        again == document, "round trip changed \(String(decoding: input.prefix(200), as: UTF8.self))")
                }
                if found.contains(where: { seen.insert($0).inserted }), corpus.count < 5_000 { corpus.append(input) }
            }
        }
        print(
            "fuzz: seed \(seed), \(runs) inputs in \(Int(seconds)) s, \(seen.count) distinct outcomes, \(roundTrips) parsed and round-tripped, corpus \(corpus.count)"
        )
        #expect(runs > 1_000)
        #expect(seen.count > 30, "the mutations reach too few outcomes: \(seen.sorted().prefix(20))")
        // `SAMU_FUZZ_SAVE=1` writes the inputs that found new outcomes to the committed corpus.
        if environment["SAMU_FUZZ_SAVE"] == "1" {
            try FileManager.default.createDirectory(at: Self.corpusDirectory, withIntermediateDirectories: true)
            let found = corpus.suffix(from: try Self.seeds(catalog).count).filter { $0.count <= 4_096 }
            for (index, input) in found.prefix(100).enumerated() {
                try Data(input).write(
                    to: Self.corpusDirectory.appendingPathComponent(String(format: "found-%03d", index)))
            }
        }
    }
}
