import Foundation
import SamuModel

/// The repository's own files (topics/, seeds/), found from this source file's location.
public enum Repository {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var topics: URL { root.appendingPathComponent("topics") }
    public static var seeds: URL { root.appendingPathComponent("seeds") }

    public static func catalog(prefix: String = "") throws -> TopicCatalog {
        try TopicCatalog.load(directory: topics).withPrefix(prefix)
    }
}

/// Builds valid report documents, with overrides, for tests.
public enum ReportFixture {
    public static func document(
        id: UUID = UUID(), zone: String = "rabat", category: String = "homeless_adult",
        reportedAt: String = "2026-01-15T02:10:00Z", age: Int64? = 54, sex: String = "male",
        location: GeoPoint = GeoPoint(latitude: 34.0209, longitude: -6.8416), extra: [(String, JSONValue)] = []
    ) -> JSONValue {
        var person = JSONObject()
        if let age { person.append("age", .integer(age)) }
        person.append("sex", .string(sex))
        person.append("count", 1)
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(id.lowercased))
        object.append("reported_at", .string(reportedAt))
        object.append("zone", .string(zone))
        object.append("category", .string(category))
        object.append(
            "location", ["lat": .number(location.latitude), "lon": .number(location.longitude), "commune": "Hassan"])
        object.append("person", .object(person))
        object.append("factors", ["alone_at_night"])
        object.append("temperature_c", 6.5)
        object.append("channel", "hotline")
        object.append("notes", "رجل مسن ينام قرب باب الأحد")
        for (key, value) in extra { object.append(key, value) }
        return .object(object)
    }

    public static func bytes(_ document: JSONValue) -> [UInt8] {
        Array(document.serialized.utf8)
    }
}
