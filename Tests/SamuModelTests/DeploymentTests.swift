import Foundation
import SamuModel
import SamuTestSupport
import Testing

@Suite("Deployment: mutual-aid neighbours by distance, shelters that declare who they take in")
struct DeploymentTests {
    let plan: Deployment

    init() throws {
        plan = try Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json"))
    }

    /// The distance mutual aid measures: from the area's zone centroids to the other area's
    /// nearest unit base.
    func kilometres(from area: String, to other: String) throws -> Double {
        let centroids = plan.zones.filter { plan.areas.area(of: $0.zone) == area }.map(\.centroid)
        try #require(!centroids.isEmpty)
        let bases = plan.units.filter { plan.areas.area(of: $0.zone) == other }.map(\.base)
        return centroids.flatMap { centroid in bases.map { centroid.haversineKilometres(to: $0) } }.min() ?? .infinity
    }

    var areaIDs: [String] { Array(Set(plan.zones.map { plan.areas.area(of: $0.zone) })).sorted() }

    @Test("neighbours are the zones with a unit within the radius, nearest first, never the zone itself")
    func measured() throws {
        let neighbours = plan.neighbours
        #expect(Set(neighbours.keys) == Set(areaIDs))
        for (zone, near) in neighbours {
            #expect(!near.contains(zone))
            #expect(near.count <= 4)
            let distances = try near.map { try kilometres(from: zone, to: $0) }
            #expect(distances.allSatisfy { $0 <= Deployment.mutualAidRadiusKilometres }, "\(zone): \(distances)")
            #expect(distances == distances.sorted(), "\(zone): \(near) at \(distances)")
            // Every zone left out is farther than the radius, or farther than the last one kept.
            for other in areaIDs where other != zone && !near.contains(other) {
                let away = try kilometres(from: zone, to: other)
                #expect(
                    away > Deployment.mutualAidRadiusKilometres || near.count == 4 && away >= distances.last!,
                    "\(zone) leaves out \(other) at \(away) km")
            }
        }
    }

    @Test(
        "Laâyoune is nobody's neighbour: Agadir is 506 km away (650 by road); Salé is Rabat's nearest; Agadir and Marrakech help each other"
    )
    func demo() throws {
        let neighbours = plan.neighbours
        #expect(neighbours["laayoune"] == [])
        #expect(!neighbours.values.contains { $0.contains("laayoune") })
        #expect(try kilometres(from: "laayoune", to: "agadir-ida-outanane") > 500)
        #expect(neighbours["rabat"]?.first == "sale")
        #expect(neighbours["agadir-ida-outanane"]?.contains("marrakech") == true)
        #expect(neighbours["marrakech"]?.contains("agadir-ida-outanane") == true)
        // A smaller radius keeps fewer.
        #expect(plan.neighbours(radiusKilometres: 20)["rabat"] == ["sale"])
        #expect(plan.neighbours(radiusKilometres: 20)["fes"] == [])
    }

    @Test("every shelter names a known facility type and who it takes in; every zone has a women-only house")
    func shelterProfiles() throws {
        let types = try JSONParser.parse(
            Array(try Data(contentsOf: Repository.seeds.appendingPathComponent("facility-types.json"))))
        let codes = Set((types.arrayValue ?? []).compactMap { $0["code"]?.stringValue })
        for shelter in plan.shelters {
            let facility = try #require(shelter.profile.facilityType, "\(shelter.shelterID) has no facility type")
            #expect(codes.contains(facility), "\(shelter.shelterID): unknown facility type \(facility)")
            if facility == "mfi_women" {
                #expect(shelter.profile.sexes == .women && shelter.profile.confidentialAddress, "\(shelter.shelterID)")
            }
            if (shelter.beds[.minors] ?? 0) > 0
                && shelter.beds.filter({ $0.key != .minors }).values.allSatisfy({ $0 == 0 })
            {
                #expect(shelter.profile.ageMax == 17, "\(shelter.shelterID) has only minors' beds but takes adults")
            }
        }
        for area in areaIDs {
            let houses = plan.shelters.filter { plan.areas.area(of: $0.zone) == area && $0.profile.sexes == .women }
            #expect(!houses.isEmpty, "\(area) has no women-only house for women victims of violence")
        }
    }

    @Test(
        "the women's multi-functional institutions the sources name are in known provinces of their region; a demo house cites the source only where the seed names its province"
    )
    func womenInstitutions() throws {
        func file(_ name: String) throws -> JSONValue {
            try JSONParser.parse(Array(try Data(contentsOf: Repository.seeds.appendingPathComponent(name))))
        }
        func rows(_ name: String) throws -> [JSONValue] { try file(name).arrayValue ?? [] }
        let regionOf = Dictionary(
            uniqueKeysWithValues: try rows("provinces.json").compactMap { row -> (String, String)? in
                guard let code = row["code"]?.stringValue, let region = row["region"]?.stringValue else { return nil }
                return (code, region)
            })
        let seed = try rows("women-institutions.json")
        #expect(!seed.isEmpty)
        var named: [String: JSONValue] = [:]
        var perRegion: [String: Int64] = [:]
        for row in seed {
            let region = try #require(row["region"]?.stringValue)
            let count = try #require(row["count"]?.integerValue)
            #expect(count > 0)
            #expect(["created", "activated", "being_activated"].contains(row["status"]?.stringValue ?? ""))
            let line = try #require(row["source"]?.stringValue)
            #expect(line.range(of: #"^004 L[0-9]+$"#, options: .regularExpression) != nil, "\(line)")
            perRegion[region, default: 0] += count
            guard let province = row["province"]?.stringValue else { continue }
            #expect(regionOf[province] != nil, "\(province) is not in seeds/provinces.json")
            #expect(regionOf[province] == region, "\(province) is not in \(region)")
            #expect(named.updateValue(row, forKey: province) == nil, "\(province) listed twice")
        }
        // The totals the source gives per region (004 L854, L1402, L1654, L2020, L2405, L2690, L2930,
        // L3165, L3450, L3694).
        #expect(
            perRegion == [
                "LSH": 5, "MS": 4, "SM": 3, "ORI": 6, "GON": 4, "BMK": 3, "FMK": 7, "CS": 5, "RSK": 8, "TTA": 8,
            ])
        var cited = 0
        for shelter in try file("demo/deployment.json")["shelters"]?.arrayValue ?? [] {
            guard shelter["facility_type"]?.stringValue == "mfi_women" else { continue }
            let id = shelter["shelter_id"]?.stringValue ?? "?"
            let zone = try #require(shelter["zone"]?.stringValue)
            let source = try #require(shelter["source"]?.stringValue)
            if source == "demo" { continue }
            cited += 1
            let row = try #require(named[zone], "\(id) cites the source, but the seed names no institution in \(zone)")
            #expect(source.hasPrefix((row["source"]?.stringValue ?? "") + ":"), "\(id): \(source)")
            #expect(source.contains("invented"), "\(id) says what is invented")
        }
        #expect(cited > 0)
    }

    @Test("Casablanca's eight prefectures are one dispatch area: one key, one fleet, and each keeps its zone")
    func casablancaArea() throws {
        let areas = plan.areas
        let prefectures = [
            "casablanca-anfa", "al-fida-mers-sultan", "ain-sebaa-hay-mohammadi", "hay-hassani", "ain-chock",
            "sidi-bernoussi", "ben-msick", "moulay-rachid",
        ]
        #expect(areas.zones(of: "casablanca") == prefectures.sorted())
        for zone in prefectures { #expect(areas.key(for: zone) == Array("casablanca".utf8)) }
        #expect(areas.area(of: "rabat") == "rabat", "a zone in no area is its own")
        #expect(areas.zones(of: "rabat") == ["rabat"])
        #expect(plan.neighbours["casablanca"] != nil && plan.neighbours["hay-hassani"] == nil)
        #expect(plan.neighbours["rabat"]?.contains("casablanca-anfa") != true)
        // Units of several prefectures are one fleet.
        #expect(Set(plan.units.filter { areas.area(of: $0.zone) == "casablanca" }.map(\.zone)).count > 1)
    }

    @Test("a scaled plan keeps the areas of the zones it keeps; its copies are zones of their own")
    func scaledAreas() throws {
        let few = plan.scaled(toZones: 3)
        #expect(few.zones.map(\.zone) == Array(plan.zones.prefix(3).map(\.zone)))
        #expect(few.areas.zones(of: "casablanca") == few.zones.map(\.zone).sorted())
        for zone in few.zones { #expect(few.areas.key(for: zone.zone) == Array("casablanca".utf8)) }
        let big = plan.scaled(toZones: 75)
        #expect(big.zones.count == 75)
        #expect(big.areas.zones(of: "casablanca") == plan.areas.zones(of: "casablanca"))
        #expect(big.areas.area(of: "casablanca-anfa") == "casablanca")
        #expect(big.areas.area(of: "casablanca-anfa-b2") == "casablanca-anfa-b2", "a copy is not in the area")
        #expect(big.areas.area(of: "rabat") == "rabat")
    }

    @Test("areas that would make a key mean two things are refused")
    func invalidAreas() {
        #expect(throws: DispatchAreas.Invalid.self) { try DispatchAreas([("a", ["x", "y"]), ("b", ["y"])]) }
        #expect(throws: DispatchAreas.Invalid.self) { try DispatchAreas([("a", ["x"]), ("x", ["z"])]) }
        #expect(throws: DispatchAreas.Invalid.self) { try DispatchAreas([("a", [])]) }
        #expect(throws: DispatchAreas.Invalid.self) { try DispatchAreas([("Casa Blanca", ["x"])]) }
        #expect(throws: DispatchAreas.Invalid.self) { try DispatchAreas([("a", ["x"]), ("a", ["y"])]) }
        #expect((try? DispatchAreas([("casablanca", ["casablanca-anfa", "hay-hassani"])])) != nil)
    }
}
