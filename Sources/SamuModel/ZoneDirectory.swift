import Foundation

/// The zones a deployment serves: the provinces and prefectures of `seeds/provinces.json`. An
/// event for any other zone is refused (`unknown_zone`): no unit, shelter, operator or neighbour
/// could ever serve it, and each new zone string would otherwise cost a dispatcher, a lease row
/// and metric series for ever.
public struct ZoneDirectory: Sendable, Equatable {
    public let codes: Set<String>

    public init<Codes: Sequence>(_ codes: Codes) where Codes.Element == String {
        self.codes = Set(codes)
    }

    public func contains(_ zone: String) -> Bool { codes.contains(zone) }

    /// Reads a provinces file: a JSON array of objects, each with a `code`.
    public static func load(_ url: URL) throws(ReferenceFileError) -> ZoneDirectory {
        guard case .array(let rows) = try loadJSONFile(url) else {
            throw ReferenceFileError(file: url.path, message: "expected a JSON array of provinces")
        }
        var codes: [String] = []
        for row in rows {
            guard let code = row["code"]?.stringValue, !code.isEmpty else {
                throw ReferenceFileError(
                    file: url.path, message: "a province has no code: \(row.serialized.prefix(80))")
            }
            codes.append(code)
        }
        guard !codes.isEmpty else { throw ReferenceFileError(file: url.path, message: "no province in the file") }
        return ZoneDirectory(codes)
    }

    /// The repository's `seeds/provinces.json`, found as the topic catalog is.
    public static func locateDefault() throws(ReferenceFileError) -> ZoneDirectory {
        guard let url = RepositoryFiles.locate("seeds/provinces.json") else {
            throw ReferenceFileError(file: "seeds/provinces.json", message: "not found (set SAMU_ZONES)")
        }
        return try load(url)
    }

    /// The refusal of an unknown zone, naming the field.
    public static func unknown(_ zone: String) -> Rejection {
        Rejection(
            reason: .unknownZone,
            detail: "zone \"\(zone.prefix(48))\" is not one of the deployment's provinces or prefectures",
            field: "/zone")
    }
}
