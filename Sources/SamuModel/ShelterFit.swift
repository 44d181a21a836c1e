/// Who a shelter takes in (`profile` of a `samu.beds.v1` event, version 2; `eligibility` of a
/// deployment's shelter). A shelter that never declared one takes anybody its bed types fit,
/// except where the person needs what it does not declare (a women-only house, wheelchair access).
public struct ShelterProfile: Sendable, Equatable {
    /// Whom a shelter takes by sex.
    public enum Sexes: String, Sendable, CaseIterable {
        case any
        /// Women (and their children): the women-only houses for victims of violence among them.
        case women
        case men
    }

    /// The facility type's code in `seeds/facility-types.json` (`mfi_women`, `elderly_home`…).
    public var facilityType: String?
    public var sexes: Sexes
    /// Ages taken, inclusive (`ageMax` 17: minors only; `ageMin` 60: elderly only).
    public var ageMin: Int?
    public var ageMax: Int?
    public var wheelchairAccess: Bool
    /// The address is never on a partner record and is shown to a crew only once assigned (the
    /// houses for women victims of violence).
    public var confidentialAddress: Bool

    public init(
        facilityType: String? = nil, sexes: Sexes = .any, ageMin: Int? = nil, ageMax: Int? = nil,
        wheelchairAccess: Bool = false, confidentialAddress: Bool = false
    ) {
        self.facilityType = facilityType
        self.sexes = sexes
        self.ageMin = ageMin
        self.ageMax = ageMax
        self.wheelchairAccess = wheelchairAccess
        self.confidentialAddress = confidentialAddress
    }

    /// What a shelter that declared nothing is taken to be.
    public static let undeclared = ShelterProfile()

    /// Reads a profile object (`facility_type`, `sex`, `age_min`, `age_max`, `wheelchair_access`,
    /// `confidential_address`); nil when it is not an object or a field has the wrong type.
    public init?(json: JSONValue) {
        guard case .object = json else { return nil }
        var profile = ShelterProfile()
        profile.facilityType = json["facility_type"]?.stringValue
        if let sexes = json["sex"] {
            guard let parsed = sexes.stringValue.flatMap(Sexes.init(rawValue:)) else { return nil }
            profile.sexes = parsed
        }
        profile.ageMin = json["age_min"]?.integerValue.map(Int.init)
        profile.ageMax = json["age_max"]?.integerValue.map(Int.init)
        profile.wheelchairAccess = json["wheelchair_access"] == .bool(true)
        profile.confidentialAddress = json["confidential_address"] == .bool(true)
        self = profile
    }

    /// The profile as a `samu.beds.v1` event (and the database) carry it.
    public var json: JSONValue {
        var object = JSONObject()
        if let facilityType { object.append("facility_type", .string(facilityType)) }
        object.append("sex", .string(sexes.rawValue))
        if let ageMin { object.append("age_min", .integer(Int64(ageMin))) }
        if let ageMax { object.append("age_max", .integer(Int64(ageMax))) }
        object.append("wheelchair_access", .bool(wheelchairAccess))
        object.append("confidential_address", .bool(confidentialAddress))
        return .object(object)
    }

    /// Why this shelter cannot take the person (nil: it can). Beds are counted elsewhere.
    public func refusal(of need: ShelterNeed) -> ShelterRefusal? {
        if need.womenOnly, sexes != .women { return .notWomenOnly }
        switch (sexes, need.sex) {
        case (.women, .male), (.women, .unknown): return .sex
        case (.men, .female), (.men, .unknown): return .sex
        default: break
        }
        if let age = need.age {
            if let ageMin, age < ageMin { return .age }
            if let ageMax, age > ageMax { return .age }
        } else {
            // No age reported: what triage concluded decides (a minor is under 18, an elderly
            // person at least 60, anyone else an adult under 60).
            let adult = 18
            let elderly = 60
            if need.minor {
                if let ageMin, ageMin >= adult { return .age }
            } else if need.elderly {
                if let ageMax, ageMax < elderly { return .age }
            } else {
                if let ageMax, ageMax < adult { return .age }
                if let ageMin, ageMin >= elderly { return .age }
            }
        }
        if need.wheelchair, !wheelchairAccess { return .noWheelchairAccess }
        return nil
    }
}

/// Why a shelter cannot take a person, in a few words (decision records, the timeline).
public enum ShelterRefusal: String, Sendable, CaseIterable {
    case notWomenOnly = "not a women-only shelter"
    case sex = "does not take this sex"
    case age = "does not take this age"
    case noWheelchairAccess = "no wheelchair access"
}

/// What a person needs of a shelter, decided by triage from the report: beds of one type (one per
/// person), who they are, and what the house must offer.
public struct ShelterNeed: Sendable, Equatable, Codable {
    /// One bed per person (`person.count`).
    public var beds: Int
    /// The sex the shelter must take: the report's, or the one the bed type implies (a women's or
    /// mothers' bed: female; a men's bed: male).
    public var sex: Sex
    public var age: Int?
    public var minor: Bool
    public var elderly: Bool
    /// A woman victim of violence: women-only houses only.
    public var womenOnly: Bool
    public var wheelchair: Bool

    public init(
        beds: Int = 1, sex: Sex = .unknown, age: Int? = nil, minor: Bool = false, elderly: Bool = false,
        womenOnly: Bool = false, wheelchair: Bool = false
    ) {
        self.beds = beds
        self.sex = sex
        self.age = age
        self.minor = minor
        self.elderly = elderly
        self.womenOnly = womenOnly
        self.wheelchair = wheelchair
    }

    /// One person, nothing asked of the house (cases stored before shelters declared profiles).
    public static let single = ShelterNeed()

    /// As stored with the triage decision.
    public var json: JSONValue {
        var object = JSONObject()
        object.append("beds", .integer(Int64(beds)))
        object.append("sex", .string(sex.rawValue))
        if let age { object.append("age", .integer(Int64(age))) }
        object.append("minor", .bool(minor))
        object.append("elderly", .bool(elderly))
        object.append("women_only", .bool(womenOnly))
        object.append("wheelchair", .bool(wheelchair))
        return .object(object)
    }

    /// Writes ``json``'s fields, in its order, into an object being written.
    public func write(to writer: inout JSONWriter) {
        writer.append("beds", integer: Int64(beds))
        writer.append("sex", sex.rawValue)
        if let age { writer.append("age", integer: Int64(age)) }
        writer.append("minor", bool: minor)
        writer.append("elderly", bool: elderly)
        writer.append("women_only", bool: womenOnly)
        writer.append("wheelchair", bool: wheelchair)
    }

    public init(json: JSONValue) {
        self.init(
            beds: max(1, Int(json["beds"]?.integerValue ?? 1)),
            sex: json["sex"]?.stringValue.flatMap(Sex.init(rawValue:)) ?? .unknown,
            age: json["age"]?.integerValue.map(Int.init), minor: json["minor"] == .bool(true),
            elderly: json["elderly"] == .bool(true), womenOnly: json["women_only"] == .bool(true),
            wheelchair: json["wheelchair"] == .bool(true))
    }
}

/// What a triage rule may ask of the house (`shelter_needs` in the rules file).
public enum ShelterRequirement: String, Sendable, CaseIterable {
    case womenOnly = "women_only"
    case wheelchairAccess = "wheelchair_access"
}

/// Beds held for a case at one shelter.
public struct BedHold: Sendable, Equatable {
    public var shelterID: String
    public var bed: BedType
    /// One per person held there.
    public var beds: Int

    public init(shelterID: String, bed: BedType, beds: Int = 1) {
        self.shelterID = shelterID
        self.bed = bed
        self.beds = beds
    }
}
