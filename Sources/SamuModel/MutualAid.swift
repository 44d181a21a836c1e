import Foundation

/// One message of the mutual-aid exchange between two dispatch areas' workers (`samu.aid.v1`,
/// keyed by the recipient's area). The requesting area asks; the lending area, the single writer
/// of its units, offers one and holds it; the requester accepts; the lender confirms the loan (only
/// then does the requester's case count the unit as assigned); the lender relays the crew's
/// statuses until the unit is back. Either side may withdraw. Every message goes out through the
/// sender's outbox, so it is sent if and only if the state change that made it committed.
public struct AidMessage: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Requester → lender: a case waits past its threshold; is a fitting unit free?
        case request
        /// Lender → requester: this unit is held for the case until the offer expires.
        case offer
        /// Requester → lender: the case still waits; the unit is wanted.
        case accept
        /// Lender → requester: the unit is lent; assign it.
        case confirm
        /// Either way: no unit, no longer needed, offer expired, loan over.
        case withdraw
        /// Lender → requester: the lent crew's status (and resolution when it closes the case).
        case unitStatus = "unit_status"
    }

    public var kind: Kind
    public var requestID: UUID
    public var caseID: UUID
    /// The sender's and the recipient's dispatch areas.
    public var fromArea: String
    public var toArea: String
    /// A zone of the recipient's area: the event's `zone`, which its key follows.
    public var zone: String
    public var priority: Priority?
    public var location: GeoPoint?
    public var requiredSkills: Set<CrewSkill>
    public var unitID: String?
    public var unitPosition: GeoPoint?
    public var unitSkills: Set<CrewSkill>
    public var travelSeconds: Double?
    public var status: UnitStatus?
    public var resolution: Resolution?
    public var reason: String?

    public init(
        kind: Kind, requestID: UUID, caseID: UUID, fromArea: String, toArea: String, zone: String,
        priority: Priority? = nil, location: GeoPoint? = nil, requiredSkills: Set<CrewSkill> = [],
        unitID: String? = nil, unitPosition: GeoPoint? = nil, unitSkills: Set<CrewSkill> = [],
        travelSeconds: Double? = nil, status: UnitStatus? = nil, resolution: Resolution? = nil, reason: String? = nil
    ) {
        self.kind = kind
        self.requestID = requestID
        self.caseID = caseID
        self.fromArea = fromArea
        self.toArea = toArea
        self.zone = zone
        self.priority = priority
        self.location = location
        self.requiredSkills = requiredSkills
        self.unitID = unitID
        self.unitPosition = unitPosition
        self.unitSkills = unitSkills
        self.travelSeconds = travelSeconds
        self.status = status
        self.resolution = resolution
        self.reason = reason
    }

    /// The message as `samu.aid.v1` carries it; `eventID` is derived by the sender (a message
    /// decided again after a restart has the same id, and the recipient's inbox applies it once).
    public func json(eventID: UUID, at time: Date) -> JSONValue {
        func point(_ point: GeoPoint) -> JSONValue {
            ["lat": .number(point.latitude), "lon": .number(point.longitude)]
        }
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(eventID.lowercased))
        object.append("zone", .string(zone))
        object.append("message", .string(kind.rawValue))
        object.append("request_id", .string(requestID.lowercased))
        object.append("case_id", .string(caseID.lowercased))
        object.append("from_area", .string(fromArea))
        object.append("to_area", .string(toArea))
        object.append("sent_at", .string(RFC3339.format(time)))
        if let priority { object.append("priority", .string(priority.code)) }
        if let location { object.append("location", point(location)) }
        if !requiredSkills.isEmpty {
            object.append("required_skills", .array(requiredSkills.sorted().map { .string($0.rawValue) }))
        }
        if let unitID { object.append("unit_id", .string(unitID)) }
        if let unitPosition { object.append("unit_position", point(unitPosition)) }
        if !unitSkills.isEmpty {
            object.append("unit_skills", .array(unitSkills.sorted().map { .string($0.rawValue) }))
        }
        if let travelSeconds { object.append("travel_seconds", .number((travelSeconds * 10).rounded() / 10)) }
        if let status { object.append("status", .string(status.rawValue)) }
        if let resolution { object.append("resolution", .string(resolution.rawValue)) }
        if let reason { object.append("reason", .string(reason)) }
        return .object(object)
    }

    /// Reads a document that passed the topic's schema.
    init(validated document: JSONValue) throws(Rejection) {
        func missing(_ field: String) -> Rejection {
            Rejection(reason: .schemaViolation, detail: "schema and decoder disagree about \(field)", field: field)
        }
        func point(_ value: JSONValue?) -> GeoPoint? {
            guard let latitude = value?["lat"]?.doubleValue, let longitude = value?["lon"]?.doubleValue else {
                return nil
            }
            return GeoPoint(latitude: latitude, longitude: longitude)
        }
        func skills(_ key: String) -> Set<CrewSkill> {
            guard case .array(let items)? = document[key] else { return [] }
            return Set(items.compactMap { $0.stringValue.flatMap(CrewSkill.init(rawValue:)) })
        }
        guard let kind = document["message"]?.stringValue.flatMap(Kind.init(rawValue:)) else {
            throw missing("/message")
        }
        guard let requestID = document["request_id"]?.stringValue.flatMap(UUID.init(canonical:)),
            let caseID = document["case_id"]?.stringValue.flatMap(UUID.init(canonical:))
        else { throw missing("/request_id") }
        guard let from = document["from_area"]?.stringValue, let to = document["to_area"]?.stringValue,
            let zone = document["zone"]?.stringValue
        else { throw missing("/from_area") }
        self.init(
            kind: kind, requestID: requestID, caseID: caseID, fromArea: from, toArea: to, zone: zone,
            priority: document["priority"]?.stringValue.flatMap(Priority.init(code:)),
            location: point(document["location"]), requiredSkills: skills("required_skills"),
            unitID: document["unit_id"]?.stringValue, unitPosition: point(document["unit_position"]),
            unitSkills: skills("unit_skills"), travelSeconds: document["travel_seconds"]?.doubleValue,
            status: document["status"]?.stringValue.flatMap(UnitStatus.init(rawValue:)),
            resolution: document["resolution"]?.stringValue.flatMap(Resolution.init(rawValue:)),
            reason: document["reason"]?.stringValue)
    }
}

/// One side's record of an exchange (`aid_exchanges`): what a worker that takes the area over needs
/// to go on with it.
public struct AidExchange: Sendable, Equatable {
    public enum Side: String, Sendable, CaseIterable {
        case requester
        case lender
    }

    public enum Status: String, Sendable, CaseIterable {
        /// Requester: asked, waiting for an offer.
        case requested
        /// Lender: a unit is held for the requester until the offer expires.
        case offered
        /// Requester: an offer was accepted, waiting for the lender's confirmation.
        case accepted
        /// Both: the unit is lent to the case.
        case confirmed
        /// Both: over (withdrawn, expired, the crew left the case).
        case ended
    }

    public var requestID: UUID
    public var side: Side
    /// This side's area and the other's.
    public var area: String
    public var peerArea: String
    public var caseID: UUID
    public var unitID: String?
    public var status: Status

    public init(
        requestID: UUID, side: Side, area: String, peerArea: String, caseID: UUID, unitID: String?, status: Status
    ) {
        self.requestID = requestID
        self.side = side
        self.area = area
        self.peerArea = peerArea
        self.caseID = caseID
        self.unitID = unitID
        self.status = status
    }
}
