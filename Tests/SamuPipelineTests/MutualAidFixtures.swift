import Foundation
import RdKafka
import SamuModel
import SamuTestSupport

/// Events the mutual-aid tests send: a crew's report, and a P1.
extension PipelineHarness {
    /// A crew's report (with child-protection and nurse skills) on `samu.units.v1`.
    func crewReport(
        _ id: String, zone: String, at point: GeoPoint, version: Int64, status: String = "available",
        caseID: UUID? = nil, resolution: String? = nil
    ) -> KafkaRecord {
        var fields: [(String, JSONValue)] = [
            ("unit_id", .string(id)), ("version", .integer(version)), ("status", .string(status)),
            ("position", ["lat": .number(point.latitude), "lon": .number(point.longitude)]),
            ("reported_at", "2026-01-15T01:00:00Z"), ("skills", ["child_protection", "nurse"]),
        ]
        if let caseID { fields.append(("case_id", .string(caseID.lowercased))) }
        if let resolution { fields.append(("resolution", .string(resolution))) }
        return event(.units, zone: zone, fields)
    }

    /// A P1: an adult in immediate danger (the police are informed; no child-protection referral).
    func dangerReport(_ id: UUID, zone: String, at point: GeoPoint) -> KafkaRecord {
        var document = ReportFixture.document(id: id, zone: zone, location: point)
        if case .object(var object) = document {
            object = JSONObject(object.entries.map { $0.key == "factors" ? ($0.key, ["immediate_danger"]) : $0 })
            document = .object(object)
        }
        return reportRecord(document)
    }
}
