import CLibFuzzer
import Foundation
import SamuModel

/// What the fuzzer feeds every input to: the inbound decoder of each topic samu consumes, the HTTP
/// intake's report decoder, and the validators of the topics samu produces; loaded once from the
/// repository (found from the working directory or the executable's).
struct Decoders: Sendable {
    let catalog: TopicCatalog
    let inbound: InboundDecoder
    let reports: ReportDecoder
    let outbound: [TopicDecoder]

    static let shared: Decoders = {
        do {
            let catalog = try TopicCatalog.loadDefault()
            guard let provinces = RepositoryFiles.locate("seeds/provinces.json") else {
                fatalError("run from the repository (or set SAMU_ROOT): seeds/provinces.json not found")
            }
            let zones = try ZoneDirectory.load(provinces)
            return Decoders(
                catalog: catalog, inbound: InboundDecoder(catalog: catalog, zones: zones),
                reports: ReportDecoder(definition: catalog.definition(.reports), zones: zones),
                outbound: [TopicRole.outcomes, .deadLetters, .partnerOutcomes].map {
                    TopicDecoder(definition: catalog.definition($0))
                })
        } catch {
            fatalError("the fuzzer cannot load the topic catalog or the zones: \(error)")
        }
    }()
}

/// libFuzzer's loop, driven from Swift's entry point: the command line's options, the corpus
/// directories, and ``fuzz(_:_:)`` for each input.
@main
enum DecoderFuzzer {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = unsafe CommandLine.unsafeArgv
        exit(unsafe LLVMFuzzerRunDriver(&argc, &argv, fuzz))
    }
}

/// One input: every decoder must answer with a value or a `Rejection` (a crash or a hang is a
/// finding), and a document the parser accepts must survive its own serialisation.
/// (Also exported under libFuzzer's conventional name, which its driver refers to.)
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = unsafe data.map { unsafe Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let decoders = Decoders.shared
    for role in TopicRole.inbound {
        _ = decoders.inbound.decode(topic: decoders.catalog.name(role), key: Array("rabat".utf8), value: bytes)
    }
    _ = decoders.reports.decode(value: bytes)
    for decoder in decoders.outbound { _ = decoder.document(value: bytes) }
    if let document = try? JSONParser.parse(bytes) {
        guard let again = try? JSONParser.parse(document.serializedBytes), again == document else {
            fatalError("a parsed document did not survive its serialisation")
        }
    }
    return 0
}
