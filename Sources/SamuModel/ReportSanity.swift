import Foundation

/// The outlines of samu's zones (`seeds/hcp/zone-outlines.json`): the statistics office's
/// boundaries, simplified, one or more outer rings per zone.
public struct ZoneOutlines: Sendable {
    let rings: [String: [CommuneRing]]

    public init(rings: [String: [CommuneRing]]) {
        self.rings = rings
    }

    public var zones: [String] { rings.keys.sorted() }

    /// The outlines of `zones` as the console's map draws them: `{"zone": [[[lon, lat], …], …]}`.
    public func json(for zones: [String]) -> JSONValue {
        var object = JSONObject()
        for zone in zones.sorted() {
            guard let zoneRings = rings[zone] else { continue }
            object.append(
                zone,
                .array(
                    zoneRings.map { ring in
                        .array(
                            ring.longitudes.indices.map {
                                .array([.number(ring.longitudes[$0]), .number(ring.latitudes[$0])])
                            })
                    }))
        }
        return .object(object)
    }

    /// `{"zones": [{"zone": …, "rings": [[[lon, lat], …], …]}]}`.
    public static func load(_ url: URL) throws(ReferenceFileError) -> ZoneOutlines {
        ZoneOutlines(rings: try CommuneRing.load(url, list: "zones", key: "zone"))
    }

    /// How far outside the zone's outline the point lies, in kilometres (0 inside); nil for a zone
    /// without an outline.
    /// The first of `zones` whose outline holds the point (a click on the map names its zone).
    public func zone(containing point: GeoPoint, among zones: [String]) -> String? {
        zones.first { zone in rings[zone]?.contains(where: { $0.contains(point) }) ?? false }
    }

    public func kilometresOutside(_ point: GeoPoint, zone: String) -> Double? {
        guard let zoneRings = rings[zone], !zoneRings.isEmpty else { return nil }
        if zoneRings.contains(where: { $0.contains(point) }) { return 0 }
        return zoneRings.map { $0.kilometres(to: point) }.min()
    }
}

extension CommuneRing {
    /// The distance from a point outside the ring to its nearest edge, in kilometres (a flat
    /// projection at the point's latitude: enough at the scale of a border).
    func kilometres(to point: GeoPoint) -> Double {
        let kmPerLat = 111.19
        let kmPerLon = 111.19 * cos(point.latitude * .pi / 180)
        var best = Double.infinity
        var previous = longitudes.count - 1
        for index in longitudes.indices {
            let ax = (longitudes[previous] - point.longitude) * kmPerLon
            let ay = (latitudes[previous] - point.latitude) * kmPerLat
            let bx = (longitudes[index] - point.longitude) * kmPerLon
            let by = (latitudes[index] - point.latitude) * kmPerLat
            let dx = bx - ax
            let dy = by - ay
            let length = dx * dx + dy * dy
            let t = length == 0 ? 0 : max(0, min(1, -(ax * dx + ay * dy) / length))
            let x = ax + t * dx
            let y = ay + t * dy
            best = min(best, (x * x + y * y).squareRoot())
            previous = index
        }
        return best
    }
}

/// What an operator should not trust in a report without a look: a time far from when samu
/// received it, a position far outside its zone. Shown on the board and in the case; nothing is
/// refused for it (a hotline's clock may be wrong, and the person is still out there).
public enum ReportFlag: String, Sendable, CaseIterable, Codable {
    /// Reported more than 10 minutes after samu received it: the sender's clock runs ahead.
    case reportedInFuture = "reported_in_future"
    /// Reported more than a day before samu received it: an old report, or a wrong date.
    case reportedLongAgo = "reported_long_ago"
    /// The position lies more than 5 km outside the zone's outline.
    case outsideZone = "outside_zone"

    public static let futureTolerance: TimeInterval = 10 * 60
    public static let pastTolerance: TimeInterval = 24 * 3600
    /// Kilometres outside a zone's simplified outline still taken as in it (simplification, borders).
    public static let outsideTolerance = 5.0

    /// The flags of a report received at `received`.
    public static func flags(
        reportedAt: Date, received: Date, position: GeoPoint?, zone: String, outlines: ZoneOutlines?
    ) -> [ReportFlag] {
        var flags: [ReportFlag] = []
        if reportedAt.timeIntervalSince(received) > futureTolerance { flags.append(.reportedInFuture) }
        if received.timeIntervalSince(reportedAt) > pastTolerance { flags.append(.reportedLongAgo) }
        if let position, let outside = outlines?.kilometresOutside(position, zone: zone), outside > outsideTolerance {
            flags.append(.outsideZone)
        }
        return flags
    }
}
