/// Dispatch areas: sets of zones one fleet serves (Casablanca's eight prefectures
/// d'arrondissements are one city). An area's events share one record key, the area's id, so
/// that they travel in one partition and one worker decides for the whole area: its units,
/// shelters, cases and queue are one dispatcher's. Reports, cases, partner records and accounts
/// keep their zone.
///
/// A zone in no declared area is an area of its own, under its own id: with no area declared,
/// keys are zones, as before areas existed.
public struct DispatchAreas: Sendable, Equatable {
    /// Area by zone, for the zones of declared areas.
    public let areaOfZone: [String: String]
    /// Member zones by declared area, sorted.
    public let zonesOfArea: [String: [String]]

    /// No declared area: every zone is its own.
    public static let none = DispatchAreas(areaOfZone: [:], zonesOfArea: [:])

    init(areaOfZone: [String: String], zonesOfArea: [String: [String]]) {
        self.areaOfZone = areaOfZone
        self.zonesOfArea = zonesOfArea
    }

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { "dispatch areas: \(message)" }
    }

    /// Areas from `(area id, member zones)`. Refused: an id that is not a key-safe code, an area
    /// without zones, a zone in two areas, an id that is another area's zone (a key would mean two
    /// things).
    public init(_ areas: [(area: String, zones: [String])]) throws(Invalid) {
        var areaOfZone: [String: String] = [:]
        var zonesOfArea: [String: [String]] = [:]
        for (area, zones) in areas {
            guard area.wholeMatch(of: /[a-z][a-z0-9]*(-[a-z0-9]+)*/) != nil, area.utf8.count <= 48 else {
                throw Invalid(message: "'\(area.prefix(60))' is not a lower-case code of at most 48 characters")
            }
            guard !zones.isEmpty else { throw Invalid(message: "area \(area) has no zone") }
            guard zonesOfArea[area] == nil else { throw Invalid(message: "area \(area) is declared twice") }
            for zone in zones {
                if let other = areaOfZone[zone] {
                    throw Invalid(message: "zone \(zone) is in two areas, \(other) and \(area)")
                }
                areaOfZone[zone] = area
            }
            zonesOfArea[area] = zones.sorted()
        }
        for (area, _) in zonesOfArea {
            if let owner = areaOfZone[area], owner != area {
                throw Invalid(message: "area \(area) is also a zone of area \(owner)")
            }
        }
        self.init(areaOfZone: areaOfZone, zonesOfArea: zonesOfArea)
    }

    /// The area a zone's events are decided in (the zone itself when it is in no declared area).
    public func area(of zone: String) -> String { areaOfZone[zone] ?? zone }

    /// The record key of a zone's events on the inbound topics: its area's id.
    public func key(for zone: String) -> [UInt8] { Array(area(of: zone).utf8) }

    /// The zones of an area (an undeclared one: itself).
    public func zones(of area: String) -> [String] { zonesOfArea[area] ?? [area] }

    /// The zones of these areas.
    public func zones<Areas: Sequence>(of areas: Areas) -> [String] where Areas.Element == String {
        areas.flatMap { zones(of: $0) }
    }

    /// Whether a zone shares its area with other zones.
    public func isGrouped(_ zone: String) -> Bool { areaOfZone[zone] != nil }
}
