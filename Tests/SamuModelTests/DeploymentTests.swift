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

    /// The distance mutual aid measures: from the zone's centroid to the other zone's nearest unit base.
    func kilometres(from zone: String, to other: String) throws -> Double {
        let centroid = try #require(plan.zones.first { $0.zone == zone }).centroid
        return plan.units.filter { $0.zone == other }.map { centroid.haversineKilometres(to: $0.base) }.min()
            ?? .infinity
    }

    @Test("neighbours are the zones with a unit within the radius, nearest first, never the zone itself")
    func measured() throws {
        let neighbours = plan.neighbours
        #expect(Set(neighbours.keys) == Set(plan.zones.map(\.zone)))
        for (zone, near) in neighbours {
            #expect(!near.contains(zone))
            #expect(near.count <= 4)
            let distances = try near.map { try kilometres(from: zone, to: $0) }
            #expect(distances.allSatisfy { $0 <= Deployment.mutualAidRadiusKilometres }, "\(zone): \(distances)")
            #expect(distances == distances.sorted(), "\(zone): \(near) at \(distances)")
            // Every zone left out is farther than the radius, or farther than the last one kept.
            for other in plan.zones.map(\.zone) where other != zone && !near.contains(other) {
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
        for zone in plan.zones {
            let houses = plan.shelters.filter { $0.zone == zone.zone && $0.profile.sexes == .women }
            #expect(!houses.isEmpty, "\(zone.zone) has no women-only house for women victims of violence")
        }
    }
}
