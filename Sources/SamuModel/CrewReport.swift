import Foundation

/// What a crew can report from its phone: the crew app's buttons, and the steps the demo's
/// simulator (`samu crews`) plays. Both build their `samu.units.v1` event with
/// ``CrewReport/unitEvent(unitID:zone:current:version:at:)``, so they cannot drift apart.
public enum CrewAction: String, Sendable, CaseIterable, Codable {
    case acknowledge
    case onScene = "on_scene"
    case transporting
    case resolve
    case available
    case unavailable
    case endShift = "end_shift"
    /// A position alone: the unit keeps its status.
    case position

    /// The unit status the action reports (acknowledging is setting off: en route; closing the
    /// case leaves the unit available); nil for a position, which keeps the unit's status.
    public var status: UnitStatus? {
        switch self {
        case .acknowledge: .enRoute
        case .onScene: .onScene
        case .transporting: .transporting
        case .resolve, .available: .available
        case .unavailable, .endShift: .offDuty
        case .position: nil
        }
    }

    /// Actions about the unit's case: they carry its id and are refused once it is not the unit's.
    public var isAboutCase: Bool {
        self == .acknowledge || self == .onScene || self == .transporting || self == .resolve
    }
}

/// One crew action: the crew app's `POST /api/crew/actions`, or one step of `samu crews`.
public struct CrewReport: Sendable, Equatable {
    /// The version of `samu.units.v1` crews send (version 2: the note and `deceased`); a position
    /// alone is sent as version 3, marked `position_only`.
    public static let schemaVersion: Int64 = 2
    public static let positionSchemaVersion: Int64 = 3

    /// Made on the device (or by the simulator): the event's id, so a resend is applied once.
    public var eventID: UUID
    public var action: CrewAction
    public var caseID: UUID?
    public var resolution: Resolution?
    public var note: String?
    /// Where the phone was; nil keeps the unit's last position.
    public var position: GeoPoint?
    /// A fix outside the served area came with an action about a case and was left out: the
    /// action counts, the unit keeps its last position.
    public var droppedFix: GeoPoint?

    public init(
        eventID: UUID = UUID(), action: CrewAction, caseID: UUID? = nil, resolution: Resolution? = nil,
        note: String? = nil, position: GeoPoint? = nil
    ) {
        self.eventID = eventID
        self.action = action
        self.caseID = action.isAboutCase ? caseID : nil
        self.resolution = action == .resolve ? resolution : nil
        let trimmed = note?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.note = trimmed?.isEmpty == false ? trimmed : nil
        // A phone's first fixes can be wild (0, 0 before the satellites answer, a cell tower's
        // guess abroad): a resolve or an on-scene must not be lost for them. A position report is
        // nothing but its fix, and is refused by the topic's schema instead.
        if let position, !position.isServed, action != .position {
            self.position = nil
            self.droppedFix = position
        } else {
            self.position = position
        }
    }

    /// Why an action as sent cannot be a report, with the field at fault.
    public struct Invalid: Error, Sendable, Equatable {
        public var detail: String
        public var field: String
    }

    /// The crew app's action as it arrives (the fields of its JSON body), checked.
    public init(
        eventID: UUID, action: String, caseID: String?, resolution: String?, note: String?, position: GeoPoint?
    ) throws(Invalid) {
        guard let kind = CrewAction(rawValue: action) else {
            throw Invalid(detail: "unknown action \(action)", field: "/action")
        }
        let caseID = caseID.flatMap(UUID.init(uuidString:))
        if kind.isAboutCase, caseID == nil { throw Invalid(detail: "\(action) needs the case", field: "/case_id") }
        let resolution = resolution.flatMap(Resolution.init(rawValue:))
        if kind == .resolve, resolution == nil {
            throw Invalid(detail: "resolve needs a resolution", field: "/resolution")
        }
        self.init(
            eventID: eventID, action: kind, caseID: caseID, resolution: resolution, note: note, position: position)
    }

    /// The unit's version for a report made at `time`: the server's clock in milliseconds (the
    /// order reports reach samu), and always past the unit's last version.
    public static func version(at time: Date, after last: Int64) -> Int64 {
        max(Int64((time.timeIntervalSince1970 * 1000).rounded(.down)), min(last, maximumVersion) + 1)
    }

    /// The largest version the `samu.units.v1` and `samu.beds.v1` schemas accept (2^53 − 1, the
    /// largest integer every JSON reader keeps exact). One more than a version at this bound is
    /// refused by the schema, a clear error, where one more than `Int64.max` would stop the process.
    public static let maximumVersion: Int64 = 9_007_199_254_740_991

    /// The `samu.units.v1` event of this report for a unit whose last known status and position
    /// are `current`.
    public func unitEvent(
        unitID: String, zone: String, current: (status: UnitStatus, position: GeoPoint), version: Int64, at time: Date
    ) -> JSONValue {
        let place = position ?? current.position
        var event = JSONObject()
        event.append(
            "schema_version", .integer(action == .position ? Self.positionSchemaVersion : Self.schemaVersion))
        event.append("event_id", .string(eventID.lowercased))
        event.append("zone", .string(zone))
        event.append("unit_id", .string(unitID))
        event.append("version", .integer(version))
        event.append("status", .string((action.status ?? current.status).rawValue))
        event.append("position", ["lat": .number(place.latitude), "lon": .number(place.longitude)])
        event.append("reported_at", .string(RFC3339.format(time)))
        if let caseID { event.append("case_id", .string(caseID.lowercased)) }
        if let resolution { event.append("resolution", .string(resolution.rawValue)) }
        if let note { event.append("note", .string(note)) }
        // Its status is the one the console last stored, which may be from before an action the
        // worker has not applied yet (a phone's queue sends its fix right after its close): never
        // a change of the unit's status or case.
        if action == .position { event.append("position_only", .bool(true)) }
        return .object(event)
    }

    /// The steps `samu crews` plays for a case, as a crew with the app would: acknowledge from
    /// where the unit is, a position halfway, on scene at the person, transporting when taking
    /// the person to a bed or a hospital, and the resolution.
    public static func simulatedCase(
        _ caseID: UUID, resolution: Resolution, from unit: GeoPoint, to person: GeoPoint
    ) -> [CrewReport] {
        let halfway = GeoPoint(
            latitude: (unit.latitude + person.latitude) / 2, longitude: (unit.longitude + person.longitude) / 2)
        var steps = [
            CrewReport(action: .acknowledge, caseID: caseID, position: unit),
            CrewReport(action: .position, position: halfway),
            CrewReport(action: .onScene, caseID: caseID, position: person),
        ]
        if resolution == .sheltered || resolution == .hospital {
            steps.append(CrewReport(action: .transporting, caseID: caseID, position: person))
        }
        steps.append(CrewReport(action: .resolve, caseID: caseID, resolution: resolution, position: person))
        return steps
    }
}
