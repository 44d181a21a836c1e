import Foundation

/// An event the dispatch workers consume, decoded and validated.
public enum InboundEvent: Sendable, Equatable {
    case report(Report)
    case unit(UnitUpdate)
    case beds(BedUpdate)
    case command(OperatorCommand)
    /// A message of the mutual-aid exchange between two areas' workers.
    case aid(AidMessage)
}

/// A decoded event with what every inbound event has: its id (the inbox key) and its zone.
public struct DecodedEvent: Sendable, Equatable {
    public var eventID: UUID
    public var zone: String
    public var event: InboundEvent
    /// The dispatch area that decides the event (its zone unless the deployment groups it).
    public var area: String
    /// Keyed by its zone although the zone is in a dispatch area (a producer not yet told of the
    /// area): valid, but it travels in another partition than its area's, so its worker forwards
    /// it under the area's key instead of deciding it.
    public var misrouted = false

    public init(eventID: UUID, zone: String, event: InboundEvent, area: String? = nil) {
        self.eventID = eventID
        self.zone = zone
        self.event = event
        self.area = area ?? zone
    }
}

/// Decodes the four inbound topics with their schemas from the catalog.
public struct InboundDecoder: Sendable {
    let decoders: [String: (TopicRole, TopicDecoder)]
    /// The zones events may name; `nil` accepts any well-formed zone (tools that read history).
    let zones: ZoneDirectory?
    /// The deployment's dispatch areas: the record key must be the event's area.
    public let areas: DispatchAreas

    public init(catalog: TopicCatalog, zones: ZoneDirectory?, areas: DispatchAreas = .none) {
        self.zones = zones
        self.areas = areas
        var decoders: [String: (TopicRole, TopicDecoder)] = [:]
        for role in TopicRole.inbound {
            decoders[catalog.name(role)] = (role, TopicDecoder(definition: catalog.definition(role)))
        }
        self.decoders = decoders
    }

    /// Decodes a record from one of the inbound topics; the key must be the event's dispatch area.
    public func decode(topic: String, key: [UInt8]?, value: [UInt8]?) -> Result<DecodedEvent, Rejection> {
        guard let (role, decoder) = decoders[topic] else {
            return .failure(Rejection(reason: .notAnObject, detail: "topic \(topic) is not an inbound topic"))
        }
        // A zone grouped into an area whose event still comes keyed by the zone is forwarded, not
        // refused: producers move to area keys after the workers (docs/dispatch.md).
        let keyText = key.map { String(decoding: $0, as: UTF8.self) }
        let grouped = keyText.map { areas.isGrouped($0) && areas.area(of: $0) != $0 } ?? false
        return decoder.document(value: value, key: key, checkKey: !grouped, areas: areas).flatMap { document in
            Result { () throws(Rejection) in
                var event = try Self.map(role, document)
                if let zones, !zones.contains(event.zone) { throw ZoneDirectory.unknown(event.zone) }
                event.area = areas.area(of: event.zone)
                if grouped {
                    guard keyText == event.zone else {
                        throw Rejection(
                            reason: .keyZoneMismatch,
                            detail:
                                "record key \"\(keyText ?? "")\" is neither zone \(event.zone)'s dispatch area \"\(event.area)\" nor the zone",
                            field: "/zone")
                    }
                    event.misrouted = true
                }
                return event
            }
        }
    }

    static func map(_ role: TopicRole, _ document: JSONValue) throws(Rejection) -> DecodedEvent {
        func missing(_ field: String) -> Rejection {
            Rejection(reason: .schemaViolation, detail: "schema and decoder disagree about \(field)", field: field)
        }
        guard let id = document["event_id"]?.stringValue.flatMap(UUID.init(canonical:)) else {
            throw missing("/event_id")
        }
        guard let zone = document["zone"]?.stringValue else { throw missing("/zone") }
        func point(_ value: JSONValue?) -> GeoPoint? {
            guard let latitude = value?["lat"]?.doubleValue, let longitude = value?["lon"]?.doubleValue else {
                return nil
            }
            return GeoPoint(latitude: latitude, longitude: longitude)
        }
        func uuid(_ name: String) -> UUID? { document[name]?.stringValue.flatMap(UUID.init(canonical:)) }
        switch role {
        case .reports:
            return DecodedEvent(eventID: id, zone: zone, event: .report(try Report(validated: document)))
        case .units:
            guard let unitID = document["unit_id"]?.stringValue, let version = document["version"]?.integerValue,
                let status = document["status"]?.stringValue.flatMap(UnitStatus.init(rawValue:)),
                let position = point(document["position"])
            else { throw missing("/unit_id") }
            var skills: Set<CrewSkill>?
            if case .array(let values)? = document["skills"] {
                skills = Set(values.compactMap { $0.stringValue.flatMap(CrewSkill.init(rawValue:)) })
            }
            let update = UnitUpdate(
                unitID: unitID, version: version, status: status, position: position, skills: skills,
                caseID: uuid("case_id"),
                resolution: document["resolution"]?.stringValue.flatMap(Resolution.init(rawValue:)),
                shelterID: document["shelter_id"]?.stringValue, note: document["note"]?.stringValue,
                positionOnly: document["position_only"] == .bool(true))
            return DecodedEvent(eventID: id, zone: zone, event: .unit(update))
        case .beds:
            guard let shelterID = document["shelter_id"]?.stringValue, let version = document["version"]?.integerValue,
                let location = point(document["location"]), case .object(let counts)? = document["beds"]
            else { throw missing("/shelter_id") }
            var beds: [BedType: BedCount] = [:]
            for entry in counts.entries {
                guard let bed = BedType(rawValue: entry.key), let capacity = entry.value["capacity"]?.integerValue,
                    let occupied = entry.value["occupied"]?.integerValue
                else { throw missing("/beds/\(entry.key)") }
                beds[bed] = BedCount(capacity: Int(capacity), occupied: Int(occupied))
            }
            if (document["declined_case_id"] == nil) != (document["decline_reason"] == nil) {
                throw Rejection(
                    reason: .schemaViolation, detail: "a decline needs both declined_case_id and decline_reason",
                    field: document["declined_case_id"] == nil ? "/declined_case_id" : "/decline_reason")
            }
            let update = BedUpdate(
                shelterID: shelterID, version: version, position: location, beds: beds,
                admittedCase: uuid("admitted_case_id"),
                profile: document["profile"].flatMap(ShelterProfile.init(json:)),
                declinedCase: uuid("declined_case_id"), declineReason: document["decline_reason"]?.stringValue,
                zone: zone)
            return DecodedEvent(eventID: id, zone: zone, event: .beds(update))
        case .commands:
            guard let caseID = uuid("case_id"), let name = document["command"]?.stringValue,
                let operatorID = document["operator_id"]?.stringValue, let reason = document["reason"]?.stringValue
            else { throw missing("/command") }
            let action: OperatorCommand.Action
            switch name {
            case "reassign": action = .reassign(unitID: document["unit_id"]?.stringValue)
            case "cancel": action = .cancel
            case "close":
                guard let resolution = document["resolution"]?.stringValue.flatMap(Resolution.init(rawValue:)) else {
                    throw Rejection(reason: .schemaViolation, detail: "close needs a resolution", field: "/resolution")
                }
                action = .close(resolution)
            case "claim": action = .claim
            case "release": action = .release
            case "mutual_aid": action = .requestMutualAid
            case "record_step":
                guard let step = document["step"]?.stringValue.flatMap(SocialStep.init(rawValue:)) else {
                    throw Rejection(reason: .schemaViolation, detail: "record_step needs a step", field: "/step")
                }
                action = .recordStep(step)
            case "take_follow_up": action = .takeFollowUp
            case "complete_follow_up":
                let outcome = document["visit_outcome"]?.stringValue.flatMap(VisitOutcome.init(rawValue:))
                action = .completeFollowUp(outcome ?? .done)
            case "acknowledge_referral": action = .acknowledgeReferral
            case "decide_referral":
                guard let decision = document["decision"]?.stringValue.flatMap(ReferralDecision.init(rawValue:)) else {
                    throw Rejection(
                        reason: .schemaViolation, detail: "decide_referral needs a decision", field: "/decision")
                }
                action = .decideReferral(decision)
            case "set_priority":
                guard let priority = document["priority"]?.stringValue.flatMap(Priority.init(code:)) else {
                    throw Rejection(
                        reason: .schemaViolation, detail: "set_priority needs a priority", field: "/priority")
                }
                action = .setPriority(priority)
            case "choose_bed":
                guard let bed = document["bed_type"]?.stringValue.flatMap(BedType.init(rawValue:)) else {
                    throw Rejection(
                        reason: .schemaViolation, detail: "choose_bed needs a bed_type", field: "/bed_type")
                }
                action = .chooseBed(bed, shelterID: document["shelter_id"]?.stringValue)
            default: throw missing("/command")
            }
            return DecodedEvent(
                eventID: id, zone: zone,
                event: .command(
                    OperatorCommand(
                        caseID: caseID, action: action, operatorID: operatorID, reason: reason,
                        bySupervisor: document["operator_role"]?.stringValue == "supervisor",
                        byChildProtection: document["operator_role"]?.stringValue == "child_protection"))
            )
        case .aid:
            return DecodedEvent(eventID: id, zone: zone, event: .aid(try AidMessage(validated: document)))
        case .outcomes, .deadLetters, .partnerOutcomes:
            throw Rejection(reason: .notAnObject, detail: "\(role.rawValue) is not an inbound topic")
        }
    }
}
