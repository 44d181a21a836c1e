import Foundation
import SamuTestSupport
import Testing

@testable import SamuModel

@Suite("Crew reports: the crew app and the demo's simulator send the same unit events")
struct CrewReportTests {
    static let base = GeoPoint(latitude: 34.0209, longitude: -6.8416)
    static let person = GeoPoint(latitude: 34.0132, longitude: -6.8326)
    static let caseID = UUID(uuidString: "7c5b1c1e-2f1d-4e3a-9b8c-1d2e3f4a5b6c")!

    /// What the crew app posts for a step (crew.js `act`: the action's name, the case, the
    /// resolution and the phone's position), checked as `POST /api/crew/actions` checks it.
    static func fromApp(_ step: CrewReport) throws -> CrewReport {
        try CrewReport(
            eventID: step.eventID, action: step.action.rawValue, caseID: step.caseID?.lowercased,
            resolution: step.resolution?.rawValue, note: nil, position: step.position)
    }

    @Test(
        "for every resolution, each step of samu crews is the app's action, and its event is identical and valid",
        arguments: Resolution.allCases)
    func simulatorIsTheApp(resolution: Resolution) throws {
        let catalog = try Repository.catalog()
        let schema = TopicDecoder(definition: catalog.definition(.units))
        let inbound = InboundDecoder(catalog: catalog, zones: nil)
        let steps = CrewReport.simulatedCase(Self.caseID, resolution: resolution, from: Self.base, to: Self.person)
        #expect(steps.first?.action == .acknowledge)
        #expect(steps.last?.action == .resolve)
        #expect(steps.contains { $0.action == .position })
        #expect(steps.contains { $0.action == .transporting } == (resolution == .sheltered || resolution == .hospital))
        var current = (status: UnitStatus.available, position: Self.base)
        var version: Int64 = 41
        let time = RFC3339.parse("2026-01-15T02:10:37.250Z")!
        var statuses: [UnitStatus] = []
        for step in steps {
            let app = try Self.fromApp(step)
            #expect(app == step)
            version = CrewReport.version(at: time, after: version)
            let simulated = step.unitEvent(
                unitID: "rabat-u1", zone: "rabat", current: current, version: version, at: time)
            let sent = app.unitEvent(unitID: "rabat-u1", zone: "rabat", current: current, version: version, at: time)
            #expect(simulated.serializedBytes == sent.serializedBytes)
            // Valid against the topic's schema, and read by the worker as the step says.
            let bytes = simulated.serializedBytes
            guard case .success(let document) = schema.document(value: bytes) else {
                Issue.record("\(step.action) is not valid: \(simulated.serialized)")
                continue
            }
            // A position alone is marked so (version 3): the worker keeps the unit's status.
            #expect(
                document["schema_version"]
                    == .integer(step.action == .position ? CrewReport.positionSchemaVersion : CrewReport.schemaVersion))
            let decoded = inbound.decode(topic: catalog.name(.units), key: Array("rabat".utf8), value: bytes)
            guard case .success(let event) = decoded, case .unit(let update) = event.event else {
                Issue.record("\(step.action) was not read as a unit update")
                continue
            }
            #expect(update.caseID == (step.action == .position ? nil : Self.caseID))
            #expect(update.resolution == (step.action == .resolve ? resolution : nil))
            #expect(update.positionOnly == (step.action == .position))
            statuses.append(update.status)
            current = (update.status, update.position)
        }
        // The case closes with the unit available (never `returning`), a position keeps en route.
        #expect(statuses.first == .enRoute)
        #expect(statuses[1] == .enRoute)
        #expect(statuses.last == .available)
        #expect(!statuses.contains(.returning))
    }

    @Test("the app's action is checked: unknown action, a case action without its case, resolve without resolution")
    func checked() {
        #expect(throws: CrewReport.Invalid.self) {
            try CrewReport(eventID: UUID(), action: "fly", caseID: nil, resolution: nil, note: nil, position: nil)
        }
        #expect(throws: CrewReport.Invalid(detail: "on_scene needs the case", field: "/case_id")) {
            try CrewReport(eventID: UUID(), action: "on_scene", caseID: nil, resolution: nil, note: nil, position: nil)
        }
        #expect(throws: CrewReport.Invalid(detail: "resolve needs a resolution", field: "/resolution")) {
            try CrewReport(
                eventID: UUID(), action: "resolve", caseID: Self.caseID.lowercased, resolution: "flew", note: nil,
                position: nil)
        }
        // A note of blanks is no note; a position report carries no case.
        let position = try? CrewReport(
            eventID: UUID(), action: "position", caseID: Self.caseID.lowercased, resolution: nil, note: "  ",
            position: Self.base)
        #expect(position?.caseID == nil && position?.note == nil)
        // A wild fix with a case action is left out (the unit keeps its last position); a position
        // report keeps it, for the topic's schema to refuse. NaN is never in the served area.
        for wild in [
            GeoPoint(latitude: 0, longitude: 0), GeoPoint(latitude: 48.85, longitude: 2.35),
            GeoPoint(latitude: .nan, longitude: -6.8),
        ] {
            let resolve = try? CrewReport(
                eventID: UUID(), action: "resolve", caseID: Self.caseID.lowercased, resolution: "sheltered", note: nil,
                position: wild)
            #expect(resolve?.position == nil)
            #expect(resolve?.droppedFix != nil)
            let event = resolve?.unitEvent(
                unitID: "u", zone: "rabat", current: (.onScene, Self.base), version: 1, at: Date())
            #expect(event?["position"]?["lat"] == .number(Self.base.latitude))
            let moved = try? CrewReport(
                eventID: UUID(), action: "position", caseID: nil, resolution: nil, note: nil, position: wild)
            #expect(moved?.droppedFix == nil && moved?.position != nil)
        }
        let fine = try? CrewReport(
            eventID: UUID(), action: "on_scene", caseID: Self.caseID.lowercased, resolution: nil, note: nil,
            position: Self.base)
        #expect(fine?.position == Self.base && fine?.droppedFix == nil)
        #expect(CrewReport.version(at: Date(timeIntervalSince1970: 10), after: 3) == 10_000)
        #expect(CrewReport.version(at: Date(timeIntervalSince1970: 10), after: 20_000) == 20_001)
    }

    @Test(
        "a unit's or a shelter's version is at most 2^53 − 1: one past it is refused by the schema, and the next version after any stored one is computed without overflow"
    )
    func versionsBounded() throws {
        let catalog = try Repository.catalog()
        let time = RFC3339.parse("2026-01-15T02:10:37.250Z")!
        // After the largest version a schema accepts, or after Int64.max stored by an older schema:
        // one more than the bound, which the schemas refuse, and no trap.
        #expect(CrewReport.version(at: time, after: CrewReport.maximumVersion) == CrewReport.maximumVersion + 1)
        #expect(CrewReport.version(at: time, after: .max) == CrewReport.maximumVersion + 1)
        #expect(CrewReport.version(at: time, after: 41) == Int64(time.timeIntervalSince1970 * 1000))
        let step = CrewReport.simulatedCase(Self.caseID, resolution: .sheltered, from: Self.base, to: Self.person)[0]
        for (version, valid) in [(CrewReport.maximumVersion, true), (CrewReport.maximumVersion + 1, false)] {
            let unit = step.unitEvent(
                unitID: "rabat-u1", zone: "rabat", current: (.available, Self.base), version: version, at: time)
            let decoded = TopicDecoder(definition: catalog.definition(.units)).document(value: unit.serializedBytes)
            if case .success = decoded { #expect(valid) } else { #expect(!valid) }
            guard case .object(var beds)? = catalog.definition(.beds).examples.last else {
                Issue.record("the beds topic has no example")
                return
            }
            beds.set("version", .integer(version))
            let shelter = TopicDecoder(definition: catalog.definition(.beds)).document(
                value: JSONValue.object(beds).serializedBytes)
            if case .success = shelter { #expect(valid) } else { #expect(!valid) }
        }
    }
}
