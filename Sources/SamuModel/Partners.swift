import Crypto
import Foundation

/// A reference-data file that could not be loaded (communes, partners, pseudonym keys).
public struct ReferenceFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

func loadJSONFile(_ url: URL) throws(ReferenceFileError) -> JSONValue {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ReferenceFileError(file: url.path, message: "cannot read the file")
    }
    do { return try JSONParser.parse(Array(data)) } catch {
        throw ReferenceFileError(file: url.path, message: "not valid JSON: \(error)")
    }
}

// MARK: - Communes

/// A commune (or arrondissement): the finest geography a partner ever sees.
public struct Commune: Sendable, Equatable {
    public var code: String
    public var zone: String
    public var nameArabic: String
    public var nameFrench: String
    public var centroid: GeoPoint

    public init(code: String, zone: String, nameArabic: String, nameFrench: String, centroid: GeoPoint) {
        self.code = code
        self.zone = zone
        self.nameArabic = nameArabic
        self.nameFrench = nameFrench
        self.centroid = centroid
    }
}

/// The communes of each zone, used to coarsen a case's position for partners: the statistics
/// office's (`seeds/hcp/communes.json`, an array of rows with `hcp_code` and `centroid`), or a
/// file of the older shape (`{"communes": [{"code": …, "centroid": …}]}`).
public struct CommuneDirectory: Sendable {
    public let communes: [Commune]
    private let byZone: [String: [Commune]]
    /// Each commune's boundary rings, when a boundaries file came with the communes.
    private let rings: [String: [CommuneRing]]

    public init(_ communes: [Commune], rings: [String: [CommuneRing]] = [:]) {
        self.communes = communes
        self.byZone = Dictionary(grouping: communes, by: \.zone)
        self.rings = rings
    }

    /// Whether boundaries were loaded (positions are then placed by containment).
    public var hasBoundaries: Bool { !rings.isEmpty }

    public static func load(_ url: URL) throws(ReferenceFileError) -> CommuneDirectory {
        let json = try loadJSONFile(url)
        let rows: [JSONValue]
        switch json {
        case .array(let array): rows = array
        case .object: rows = json["communes"]?.arrayValue ?? []
        default: rows = []
        }
        if rows.isEmpty {
            throw ReferenceFileError(file: url.path, message: "expected an array of communes (or a 'communes' array)")
        }
        var communes: [Commune] = []
        communes.reserveCapacity(rows.count)
        for row in rows {
            guard let code = row["hcp_code"]?.stringValue ?? row["code"]?.stringValue,
                let zone = row["zone"]?.stringValue,
                let latitude = row["centroid"]?["lat"]?.doubleValue,
                let longitude = row["centroid"]?["lon"]?.doubleValue
            else {
                throw ReferenceFileError(file: url.path, message: "a commune needs a code, a zone and a centroid")
            }
            communes.append(
                Commune(
                    code: code, zone: zone, nameArabic: row["name_ar"]?.stringValue ?? "",
                    nameFrench: row["name_fr"]?.stringValue ?? code,
                    centroid: GeoPoint(latitude: latitude, longitude: longitude)))
        }
        let codes = communes.map(\.code)
        if Set(codes).count != codes.count {
            throw ReferenceFileError(file: url.path, message: "commune codes must be unique")
        }
        // The statistics office's boundaries, beside the communes file when they are there.
        let boundaries = url.deletingLastPathComponent().appendingPathComponent("commune-boundaries.json")
        guard FileManager.default.fileExists(atPath: boundaries.path) else { return CommuneDirectory(communes) }
        return CommuneDirectory(communes, rings: try CommuneRing.load(boundaries))
    }

    /// The commune a report names (ignoring case, accents and punctuation) or, failing that,
    /// the one whose centroid is nearest; `nil` when the zone has no commune on file.
    public func commune(zone: String, at point: GeoPoint?, named name: String?) -> Commune? {
        guard let candidates = byZone[zone], !candidates.isEmpty else { return nil }
        if let name, !name.isEmpty {
            let wanted = Self.normalised(name)
            if let match = candidates.first(where: {
                Self.normalised($0.nameFrench) == wanted || Self.normalised($0.nameArabic) == wanted
                    || Self.normalised($0.code) == wanted
            }) {
                return match
            }
        }
        guard let point else { return nil }
        // The commune whose boundary holds the point; in several (a town ring inside its rural
        // commune's: rings have no holes), the smallest. Outside all (a gap left by the
        // simplification, a point at sea), the nearest centroid.
        if !rings.isEmpty {
            var best: (commune: Commune, area: Double)?
            for commune in candidates {
                for ring in rings[commune.code] ?? [] where ring.contains(point) {
                    if best.map({ ring.area < $0.area }) ?? true { best = (commune, ring.area) }
                }
            }
            if let best { return best.commune }
        }
        return candidates.min {
            $0.centroid.haversineKilometres(to: point) < $1.centroid.haversineKilometres(to: point)
        }
    }

    static func normalised(_ text: String) -> String {
        String(
            text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).unicodeScalars
                .filter { CharacterSet.alphanumerics.contains($0) }
                .map(Character.init))
    }
}

/// One outer ring of a commune's boundary (`seeds/hcp/commune-boundaries.json`): longitudes and
/// latitudes, with its bounding box and area (in square degrees, to compare rings).
public struct CommuneRing: Sendable {
    let longitudes: [Double]
    let latitudes: [Double]
    let minLon: Double, maxLon: Double, minLat: Double, maxLat: Double
    let area: Double

    init(points: [(lon: Double, lat: Double)]) {
        longitudes = points.map(\.lon)
        latitudes = points.map(\.lat)
        minLon = longitudes.min() ?? 0
        maxLon = longitudes.max() ?? 0
        minLat = latitudes.min() ?? 0
        maxLat = latitudes.max() ?? 0
        var twice = 0.0
        for index in points.indices {
            let next = (index + 1) % points.count
            twice += points[index].lon * points[next].lat - points[next].lon * points[index].lat
        }
        area = abs(twice) / 2
    }

    /// Whether the point is inside (ray casting; a point on the edge may go either way).
    func contains(_ point: GeoPoint) -> Bool {
        let x = point.longitude
        let y = point.latitude
        guard x >= minLon, x <= maxLon, y >= minLat, y <= maxLat else { return false }
        var inside = false
        var previous = longitudes.count - 1
        for index in longitudes.indices {
            let (xi, yi, xj, yj) = (longitudes[index], latitudes[index], longitudes[previous], latitudes[previous])
            if (yi > y) != (yj > y), x < (xj - xi) * (y - yi) / (yj - yi) + xi { inside.toggle() }
            previous = index
        }
        return inside
    }

    /// `{"communes": [{"hcp_code": …, "rings": [[[lon, lat], …], …]}]}`, by commune code.
    static func load(_ url: URL) throws(ReferenceFileError) -> [String: [CommuneRing]] {
        try load(url, list: "communes", key: "hcp_code")
    }

    /// `{list: [{key: …, "rings": [[[lon, lat], …], …]}]}`: the rings of each row, by its key.
    static func load(_ url: URL, list: String, key: String) throws(ReferenceFileError) -> [String: [CommuneRing]] {
        guard case .array(let rows)? = try loadJSONFile(url)[list] else {
            throw ReferenceFileError(file: url.path, message: "expected a '\(list)' array")
        }
        var rings: [String: [CommuneRing]] = [:]
        for row in rows {
            guard let code = row[key]?.stringValue, case .array(let ringList)? = row["rings"] else {
                throw ReferenceFileError(file: url.path, message: "a row needs \(key) and rings")
            }
            for ring in ringList {
                let points = (ring.arrayValue ?? []).compactMap { pair -> (lon: Double, lat: Double)? in
                    guard let values = pair.arrayValue, values.count == 2, let lon = values[0].doubleValue,
                        let lat = values[1].doubleValue
                    else { return nil }
                    return (lon, lat)
                }
                guard points.count >= 3 else {
                    throw ReferenceFileError(file: url.path, message: "a ring of \(code) has fewer than 3 points")
                }
                rings[code, default: []].append(CommuneRing(points: points))
            }
        }
        return rings
    }
}

// MARK: - Partners

/// A municipal partner subscribed to pseudonymised outcomes for some zones.
public struct Partner: Sendable, Equatable {
    /// Cells below this are never published; the default is the CMS rule (1–10 suppressed).
    public static let defaultMinimumCell = 11
    /// The lowest threshold allowed at all (docs/reliability.md §5.4), and only with a recorded decision.
    public static let lowestMinimumCell = 3

    public var id: String
    public var nameFrench: String
    public var nameArabic: String
    public var zones: Set<String>
    public var minimumCell: Int
    public var minimumCellDecision: String?

    public init(
        id: String, nameFrench: String, nameArabic: String = "", zones: Set<String>,
        minimumCell: Int = Partner.defaultMinimumCell, minimumCellDecision: String? = nil
    ) {
        self.id = id
        self.nameFrench = nameFrench
        self.nameArabic = nameArabic
        self.zones = zones
        self.minimumCell = minimumCell
        self.minimumCellDecision = minimumCellDecision
    }
}

/// The partners file (`seeds/demo/partners.json` in the embedded default).
public struct PartnerDirectory: Sendable {
    public let partners: [Partner]

    public init(_ partners: [Partner]) {
        self.partners = partners
    }

    public static func load(_ url: URL) throws(ReferenceFileError) -> PartnerDirectory {
        let json = try loadJSONFile(url)
        guard case .array(let rows)? = json["partners"] else {
            throw ReferenceFileError(file: url.path, message: "expected a 'partners' array")
        }
        var partners: [Partner] = []
        for row in rows {
            guard let id = row["id"]?.stringValue, case .array(let zones)? = row["zones"] else {
                throw ReferenceFileError(file: url.path, message: "a partner needs 'id' and 'zones'")
            }
            guard id.wholeMatch(of: /[a-z][a-z0-9]*(-[a-z0-9]+)*/) != nil, id.count <= 40 else {
                throw ReferenceFileError(file: url.path, message: "partner id '\(id)' must be a lower-case slug")
            }
            let minimum = row["min_cell"]?.integerValue.map(Int.init) ?? Partner.defaultMinimumCell
            let decision = row["min_cell_decision"]?.stringValue
            if minimum < Partner.lowestMinimumCell {
                throw ReferenceFileError(
                    file: url.path,
                    message: "partner \(id): min_cell \(minimum) is below \(Partner.lowestMinimumCell), never allowed")
            }
            if minimum < Partner.defaultMinimumCell && (decision ?? "").isEmpty {
                throw ReferenceFileError(
                    file: url.path,
                    message:
                        "partner \(id): min_cell \(minimum) is below the default \(Partner.defaultMinimumCell); record the decision in min_cell_decision"
                )
            }
            partners.append(
                Partner(
                    id: id, nameFrench: row["name_fr"]?.stringValue ?? id,
                    nameArabic: row["name_ar"]?.stringValue ?? "",
                    zones: Set(zones.compactMap(\.stringValue)), minimumCell: minimum, minimumCellDecision: decision))
        }
        if Set(partners.map(\.id)).count != partners.count {
            throw ReferenceFileError(file: url.path, message: "partner ids must be unique")
        }
        return PartnerDirectory(partners)
    }

    public func partners(covering zone: String) -> [Partner] {
        partners.filter { $0.zones.contains(zone) }
    }

    public var zones: Set<String> { partners.reduce(into: Set<String>()) { $0.formUnion($1.zones) } }
}

// MARK: - Pseudonyms

/// The keys of the partners' pseudonyms, kept outside PostgreSQL (a file readable only by the
/// process that publishes partner outcomes, or a KMS in production).
///
/// `pseudonym = base32(HMAC-SHA256(K, case_id))[:26]` with `K = HMAC-SHA256(secret, "samu/pseudonym/v1/" +
/// partner + "/" + quarter)`: the same case gets a different pseudonym for each partner and each
/// quarter, and adding a key (``rotated(partner:at:)``) breaks the linkage from its start on.
public struct PseudonymKeyring: Sendable {
    public struct Key: Sendable, Equatable {
        public var partner: String
        public var id: String
        public var since: Date
        public var secret: [UInt8]
    }

    public private(set) var keys: [Key]

    public init(keys: [Key]) {
        self.keys = keys
    }

    public static func load(_ url: URL) throws(ReferenceFileError) -> PseudonymKeyring {
        let json = try loadJSONFile(url)
        guard case .array(let rows)? = json["keys"] else {
            throw ReferenceFileError(file: url.path, message: "expected a 'keys' array")
        }
        var keys: [Key] = []
        for row in rows {
            guard let partner = row["partner"]?.stringValue, let id = row["id"]?.stringValue,
                let since = row["since"]?.stringValue.flatMap(RFC3339.parse),
                let secretText = row["secret_base64"]?.stringValue, let secret = Data(base64Encoded: secretText)
            else {
                throw ReferenceFileError(
                    file: url.path, message: "a key needs partner, id, since (RFC 3339) and secret_base64")
            }
            guard secret.count >= 32 else {
                throw ReferenceFileError(file: url.path, message: "key \(partner)/\(id): the secret must be ≥ 32 bytes")
            }
            keys.append(Key(partner: partner, id: id, since: since, secret: Array(secret)))
        }
        return PseudonymKeyring(keys: keys)
    }

    /// A fresh keyring: one random key per partner, valid from `since`.
    public static func generate(partners: [String], since: Date = Date(timeIntervalSince1970: 0)) -> PseudonymKeyring {
        PseudonymKeyring(keys: partners.map { Key(partner: $0, id: "k1", since: since, secret: randomSecret()) })
    }

    /// The keyring with a new key for `partner`, used for every time bucket from `since` on.
    public func rotated(partner: String, at since: Date) -> PseudonymKeyring {
        let count = keys.filter { $0.partner == partner }.count
        var copy = self
        copy.keys.append(Key(partner: partner, id: "k\(count + 1)", since: since, secret: Self.randomSecret()))
        return copy
    }

    static func randomSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public var json: JSONValue {
        .object(
            JSONObject([
                (
                    "keys",
                    .array(
                        keys.map { key in
                            .object(
                                JSONObject([
                                    ("partner", .string(key.partner)), ("id", .string(key.id)),
                                    ("since", .string(RFC3339.format(key.since))),
                                    ("secret_base64", .string(Data(key.secret).base64EncodedString())),
                                ]))
                        })
                )
            ]))
    }

    /// Partners without any key (a configuration error: their outcomes could not be published).
    public func missingPartners(_ partners: [String]) -> [String] {
        let known = Set(keys.map(\.partner))
        return partners.filter { !known.contains($0) }
    }

    /// The pseudonym of `subject` for `partner` in the period holding `time`, and the epoch label
    /// (`2026Q1.k2`) partners receive with it; `nil` when the partner has no key valid then.
    public func pseudonym(partner: String, subject: UUID, at time: Date) -> (pseudonym: String, epoch: String)? {
        guard
            let key = keys.filter({ $0.partner == partner && $0.since <= time }).max(by: { $0.since < $1.since })
        else { return nil }
        let quarter = Self.quarter(of: time)
        let periodKey = HMAC<SHA256>.authenticationCode(
            for: Array("samu/pseudonym/v1/\(partner)/\(quarter)".utf8), using: SymmetricKey(data: key.secret))
        let mac = HMAC<SHA256>.authenticationCode(for: subject.bytes, using: SymmetricKey(data: Array(periodKey)))
        return (String(Base32.encode(Array(mac)).prefix(26)), "\(quarter).\(key.id)")
    }

    static func quarter(of time: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month], from: time)
        return "\(parts.year!)Q\((parts.month! - 1) / 3 + 1)"
    }
}

extension UUID {
    var bytes: [UInt8] {
        unsafe withUnsafeBytes(of: uuid) { unsafe Array($0) }
    }
}

/// RFC 4648 base32, lower case, no padding.
enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }
}
