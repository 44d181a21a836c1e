import Foundation
import Hummingbird
import NIOCore
import SamuModel

/// The console's page and its files (plain HTML, CSS and JavaScript, served from the binary).
struct AssetController: Sendable {
    let assets: [String: Asset]

    struct Asset: Sendable {
        var bytes: [UInt8]
        var type: String
    }

    init() throws {
        assets = try Self.load()
    }

    func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/") { _, _ in asset("index.html") }
        router.get("/assets/{name}") { _, context in asset(context.parameters.get("name") ?? "") }
        // The crew app (installable: its manifest and its service worker, whose scope is /crew)
        // and the shelter page.
        router.get("/crew") { _, _ in asset("crew.html") }
        router.get("/crew-sw.js") { _, _ in asset("crew-sw.js") }
        router.get("/crew/manifest.webmanifest") { _, _ in asset("crew.webmanifest") }
        router.get("/shelter") { _, _ in asset("shelter.html") }
    }

    func asset(_ name: String) -> Response {
        guard let asset = assets[name] else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "not found")))
        }
        return Response(
            status: .ok, headers: [.contentType: asset.type, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    static func load() throws -> [String: Asset] {
        guard let directory = Bundle.module.url(forResource: "Assets", withExtension: nil) else {
            throw ConsoleError("the console's assets are missing from the build")
        }
        var assets: [String: Asset] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            let type =
                switch (name as NSString).pathExtension {
                case "html": "text/html; charset=utf-8"
                case "js": "text/javascript; charset=utf-8"
                case "css": "text/css; charset=utf-8"
                case "svg": "image/svg+xml"
                case "png": "image/png"
                case "webmanifest": "application/manifest+json"
                default: "application/octet-stream"
                }
            assets[name] = Asset(bytes: Array(data), type: type)
        }
        return assets
    }

    /// seeds/vocabulary.json (case states, unit statuses, resolutions… in Arabic and French).
    static func loadVocabulary() -> [String: [String: String]] {
        guard let url = RepositoryFiles.locate("seeds/vocabulary.json"), let data = try? Data(contentsOf: url),
            let entries = try? JSONDecoder().decode([[String: JSONLoose]].self, from: data)
        else { return [:] }
        var vocabulary: [String: [String: String]] = [:]
        for entry in entries {
            guard case .string(let key)? = entry["key"] else { continue }
            var names: [String: String] = [:]
            for language in ["ar", "fr", "en"] {
                if case .string(let name)? = entry[language] { names[language] = name }
            }
            vocabulary[key] = names
        }
        return vocabulary
    }
}

/// Any JSON value, keeping only strings (enough to read the vocabulary file).
enum JSONLoose: Decodable {
    case string(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self = (try? container.decode(String.self)).map(JSONLoose.string) ?? .other
    }
}
