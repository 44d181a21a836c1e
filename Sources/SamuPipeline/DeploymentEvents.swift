import Foundation
import RdKafka
import SamuModel

/// A deployment's crews and shelters as the unit and bed events they would send when they report
/// in (`samu seed --deployment`, the fault tests).
public enum DeploymentEvents {
    public static func records(
        _ plan: Deployment, catalog: TopicCatalog, occupied: Double = 0, at now: Date = Date()
    ) -> [KafkaRecord] {
        let version = Int64(now.timeIntervalSince1970 * 1000)
        func record(_ role: TopicRole, zone: String, _ event: JSONValue) -> KafkaRecord {
            KafkaRecord(topic: catalog.name(role), key: plan.areas.key(for: zone), value: Array(event.serialized.utf8))
        }
        var records: [KafkaRecord] = []
        for unit in plan.units {
            let event: JSONValue = [
                "schema_version": 1, "event_id": .string(UUID().uuidString.lowercased()), "zone": .string(unit.zone),
                "unit_id": .string(unit.unitID), "version": .integer(version), "status": "available",
                "position": ["lat": .number(unit.base.latitude), "lon": .number(unit.base.longitude)],
                "reported_at": .string(RFC3339.format(now)),
                "skills": .array(unit.skills.sorted().map { .string($0.rawValue) }),
            ]
            records.append(record(.units, zone: unit.zone, event))
        }
        for shelter in plan.shelters {
            var beds = JSONObject()
            for (bed, capacity) in shelter.beds.sorted(by: { $0.key < $1.key }) {
                beds.append(
                    bed.rawValue,
                    ["capacity": .integer(Int64(capacity)), "occupied": .integer(Int64(Double(capacity) * occupied))])
            }
            let event: JSONValue = [
                "schema_version": 2, "event_id": .string(UUID().uuidString.lowercased()), "zone": .string(shelter.zone),
                "shelter_id": .string(shelter.shelterID), "version": .integer(version),
                "location": ["lat": .number(shelter.location.latitude), "lon": .number(shelter.location.longitude)],
                "beds": .object(beds), "profile": shelter.profile.json, "reported_at": .string(RFC3339.format(now)),
            ]
            records.append(record(.beds, zone: shelter.zone, event))
        }
        return records
    }
}
