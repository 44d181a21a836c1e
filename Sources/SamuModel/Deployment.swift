import Foundation

/// Finds the repository's data files (topics/, seeds/) from the working directory or the binary.
public enum RepositoryFiles {
    /// The first existing `relativePath` in the working directory, next to the executable, or in
    /// their parents.
    public static func locate(_ relativePath: String) -> URL? {
        var starts = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        for start in starts {
            var directory = start.standardizedFileURL
            for _ in 0..<8 {
                let candidate = directory.appendingPathComponent(relativePath)
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }
}

/// A deployment: zones, mobile units and shelters. The shipped one,
/// `seeds/demo/deployment.json`, is invented demo data (the sources give none of it).
public struct Deployment: Sendable {
    public struct Zone: Sendable, Equatable {
        public var zone: String
        public var centroid: GeoPoint
    }

    public struct Unit: Sendable, Equatable {
        public var unitID: String
        public var zone: String
        public var base: GeoPoint
        public var skills: Set<CrewSkill>
    }

    public struct Shelter: Sendable, Equatable {
        public var shelterID: String
        public var zone: String
        public var nameFrench: String
        public var nameArabic: String
        public var location: GeoPoint
        public var beds: [BedType: Int]
        /// Who the shelter takes in: its facility type and `eligibility` in the file.
        public var profile: ShelterProfile = .undeclared
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "deployment: \(message)" }
    }

    public var label: String
    public var zones: [Zone]
    public var units: [Unit]
    public var shelters: [Shelter]
    /// Zones served as one (`areas` in the file: `[{"area": id, "zones": [...]}]`).
    public var areas: DispatchAreas = .none

    public static func load(_ url: URL) throws(LoadError) -> Deployment {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw LoadError(message: "cannot read \(url.path)")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(Array(data)) } catch { throw LoadError(message: "not valid JSON: \(error)") }
        func point(_ value: JSONValue?) -> GeoPoint? {
            guard let latitude = value?["lat"]?.doubleValue, let longitude = value?["lon"]?.doubleValue else {
                return nil
            }
            return GeoPoint(latitude: latitude, longitude: longitude)
        }
        guard case .array(let zoneValues)? = json["zones"], case .array(let unitValues)? = json["units"],
            case .array(let shelterValues)? = json["shelters"]
        else { throw LoadError(message: "expected 'zones', 'units' and 'shelters' arrays") }
        var zones: [Zone] = []
        for value in zoneValues {
            guard let zone = value["zone"]?.stringValue, let centroid = point(value["centroid"]) else {
                throw LoadError(message: "a zone needs 'zone' and 'centroid'")
            }
            zones.append(Zone(zone: zone, centroid: centroid))
        }
        var units: [Unit] = []
        for value in unitValues {
            guard let id = value["unit_id"]?.stringValue, let zone = value["zone"]?.stringValue,
                let base = point(value["base"]), case .array(let skillValues)? = value["skills"]
            else { throw LoadError(message: "a unit needs 'unit_id', 'zone', 'base' and 'skills'") }
            var skills = Set<CrewSkill>()
            for skill in skillValues {
                guard let parsed = skill.stringValue.flatMap(CrewSkill.init(rawValue:)) else {
                    throw LoadError(message: "unit \(id): unknown skill \(skill.serialized)")
                }
                skills.insert(parsed)
            }
            units.append(Unit(unitID: id, zone: zone, base: base, skills: skills))
        }
        var shelters: [Shelter] = []
        for value in shelterValues {
            guard let id = value["shelter_id"]?.stringValue, let zone = value["zone"]?.stringValue,
                let location = point(value["location"]), case .object(let bedValues)? = value["beds"]
            else { throw LoadError(message: "a shelter needs 'shelter_id', 'zone', 'location' and 'beds'") }
            var beds: [BedType: Int] = [:]
            for entry in bedValues.entries {
                guard let bed = BedType(rawValue: entry.key), let count = entry.value.integerValue else {
                    throw LoadError(message: "shelter \(id): bad bed entry \(entry.key)")
                }
                beds[bed] = Int(count)
            }
            var profile = ShelterProfile.undeclared
            if let eligibility = value["eligibility"] {
                guard let parsed = ShelterProfile(json: eligibility) else {
                    throw LoadError(message: "shelter \(id): 'eligibility' must be an object of known fields")
                }
                profile = parsed
            }
            profile.facilityType = value["facility_type"]?.stringValue ?? profile.facilityType
            shelters.append(
                Shelter(
                    shelterID: id, zone: zone, nameFrench: value["name_fr"]?.stringValue ?? id,
                    nameArabic: value["name_ar"]?.stringValue ?? "", location: location, beds: beds, profile: profile))
        }
        var deployment = Deployment(
            label: json["label"]?.stringValue ?? "", zones: zones, units: units, shelters: shelters)
        if let areaValues = json["areas"] {
            guard case .array(let items) = areaValues else { throw LoadError(message: "'areas' must be an array") }
            var declared: [(area: String, zones: [String])] = []
            for item in items {
                guard let area = item["area"]?.stringValue, case .array(let members)? = item["zones"] else {
                    throw LoadError(message: "an area needs 'area' and 'zones'")
                }
                let names = members.compactMap(\.stringValue)
                guard names.count == members.count else { throw LoadError(message: "area \(area): zones are strings") }
                declared.append((area, names))
            }
            do { deployment.areas = try DispatchAreas(declared) } catch { throw LoadError(message: error.description) }
        }
        return deployment
    }

    /// How far mutual aid looks: 220 km, great-circle, from a zone's centroid to the nearest unit
    /// base of another zone (Agadir to Marrakech, about three hours by road; a design assumption).
    public static let mutualAidRadiusKilometres = 220.0

    /// Neighbour dispatch areas by area, for mutual aid, nearest first: the areas with a unit based
    /// within `radiusKilometres` of one of the area's zone centroids (an area without units: its
    /// centroids), at most `atMost`. Measured, not written by hand: Laâyoune's nearest zone with
    /// units, Agadir, is 506 km away (650 km by road), so Laâyoune has none. With no area declared,
    /// areas are zones.
    public func neighbours(
        radiusKilometres: Double = Self.mutualAidRadiusKilometres, atMost: Int = 4
    ) -> [String: [String]] {
        var bases: [String: [GeoPoint]] = [:]
        for unit in units { bases[areas.area(of: unit.zone), default: []].append(unit.base) }
        var centroids: [String: [GeoPoint]] = [:]
        var order: [String] = []
        for zone in zones {
            let area = areas.area(of: zone.zone)
            if centroids[area] == nil { order.append(area) }
            centroids[area, default: []].append(zone.centroid)
        }
        var result: [String: [String]] = [:]
        for area in order {
            var near: [(area: String, kilometres: Double)] = []
            for other in order where other != area {
                let points = bases[other] ?? centroids[other] ?? []
                var kilometres = Double.infinity
                for centroid in centroids[area] ?? [] {
                    for point in points { kilometres = min(kilometres, centroid.haversineKilometres(to: point)) }
                }
                if kilometres <= radiusKilometres { near.append((other, kilometres)) }
            }
            near.sort { ($0.kilometres, $0.area) < ($1.kilometres, $1.area) }
            result[area] = near.prefix(atMost).map(\.area)
        }
        return result
    }

    /// ``neighbours(radiusKilometres:atMost:)`` with the defaults.
    public var neighbours: [String: [String]] { neighbours() }
}

extension Deployment {
    /// This deployment repeated until it has `count` zones (benchmarks: 75 zones from the 14 demo
    /// ones). Copy *k* of zone `z` is `z-bk`, a few kilometres east, with its own units and shelters.
    public func scaled(toZones count: Int) -> Deployment {
        guard !zones.isEmpty else { return self }
        var scaled = Deployment(label: "\(label) ×\(count) zones", zones: [], units: [], shelters: [])
        var copy = 1
        while scaled.zones.count < count {
            let suffix = copy == 1 ? "" : "-b\(copy)"
            let shift = Double(copy - 1) * 0.05
            func moved(_ point: GeoPoint) -> GeoPoint {
                GeoPoint(latitude: point.latitude, longitude: point.longitude + shift)
            }
            let taken = Set(zones.prefix(count - scaled.zones.count).map(\.zone))
            for zone in zones where taken.contains(zone.zone) {
                scaled.zones.append(Zone(zone: zone.zone + suffix, centroid: moved(zone.centroid)))
            }
            for unit in units where taken.contains(unit.zone) {
                scaled.units.append(
                    Unit(
                        unitID: unit.unitID + suffix, zone: unit.zone + suffix, base: moved(unit.base),
                        skills: unit.skills))
            }
            for shelter in shelters where taken.contains(shelter.zone) {
                var copied = shelter
                copied.shelterID += suffix
                copied.zone += suffix
                copied.location = moved(shelter.location)
                scaled.shelters.append(copied)
            }
            copy += 1
        }
        // The first copy keeps its zones' names, so their areas; the copies are zones of their own.
        let kept = Set(scaled.zones.map(\.zone))
        let keptAreas = areas.zonesOfArea.sorted { $0.key < $1.key }.compactMap { area, members in
            let zones = members.filter(kept.contains)
            return zones.isEmpty ? nil : (area: area, zones: zones)
        }
        scaled.areas = (try? DispatchAreas(keptAreas)) ?? .none
        return scaled
    }
}
