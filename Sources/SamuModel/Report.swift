import Foundation

/// Who the report is about (docs/domain.md §2.1: the ministry's target groups met in the street).
public enum BeneficiaryCategory: String, Sendable, CaseIterable, Codable {
    case childStreetSituation = "child_street_situation"
    case homelessAdult = "homeless_adult"
    case isolatedElderly = "isolated_elderly"
    case womanViolenceVictim = "woman_violence_victim"
    case personWithDisability = "person_with_disability"
    case mentalDistress = "mental_distress"
}

extension BeneficiaryCategory {
    /// Whether two calls' categories may be about the same person: the same category; or one is a
    /// homeless adult (what callers say of anyone sleeping outside: an adolescent, a woman who fled
    /// violence, an old man); or both are among the elderly, disabled and distressed, whom callers
    /// tell apart by what they notice first.
    public func mayBeSamePerson(as other: BeneficiaryCategory) -> Bool {
        if self == other || self == .homelessAdult || other == .homelessAdult { return true }
        let adults: Set<BeneficiaryCategory> = [.isolatedElderly, .personWithDisability, .mentalDistress]
        return adults.contains(self) && adults.contains(other)
    }
}

/// Vulnerability and danger factors the call taker ticked.
public enum ReportFactor: String, Sendable, CaseIterable, Codable {
    case injury
    case pregnancy
    case disability
    case aloneAtNight = "alone_at_night"
    case violenceInProgress = "violence_in_progress"
    case immediateDanger = "immediate_danger"
    case mentalDistress = "mental_distress"
    case withChildren = "with_children"
    case coldExposure = "cold_exposure"
    case illness
    // Schema version 2: the calls real nights bring (docs/dispatch.md, "Triage").
    /// Solvents, alcohol or drugs (sniffing glue among street children).
    case substanceUse = "substance_use"
    /// A child made to beg by an adult (exploitation: a child in danger).
    case beggingExploitation = "begging_exploitation"
    /// The caller believes the person is dead (a crew still goes: a caller cannot confirm a death).
    case deceased
    /// Acute psychiatric crisis (agitation, delusions, suicidal words).
    case psychiatricEmergency = "psychiatric_emergency"
    /// The person threatens others.
    case dangerToOthers = "danger_to_others"
    /// Heat stroke or exhaustion signs, or no shade or water in a heat wave.
    case heatExposure = "heat_exposure"
    /// A migrant person (language and the services open to foreigners).
    case migrant
    /// The person uses a wheelchair: the shelter must have wheelchair access.
    case wheelchair
}

public enum Sex: String, Sendable, CaseIterable, Codable {
    case female, male, unknown
}

/// A hotline report (`samu.reports.v1`, schema version 1), after validation.
public struct Report: Sendable, Equatable {
    public struct Location: Sendable, Equatable {
        public var latitude: Double
        public var longitude: Double
        public var commune: String?
        public var description: String?
    }

    public struct Person: Sendable, Equatable {
        public var age: Int?
        public var sex: Sex
        public var count: Int
    }

    public var id: UUID
    public var schemaVersion: Int
    public var reportedAt: Date
    public var zone: String
    public var category: BeneficiaryCategory
    public var location: Location
    public var person: Person
    public var factors: [ReportFactor]
    public var temperatureCelsius: Double?
    public var channel: String?
    public var language: String?
    public var notes: String?
    /// Schema version 3: the open case this call is about (another call about the same person).
    public var linkedCaseID: UUID?
    /// The report exactly as received (validated JSON), kept for audit.
    public var document: JSONValue

    /// Maps a document that already passed the version-1 schema. The schema guarantees every
    /// field used here, so a failure is a disagreement between code and schema, reported as such.
    init(validated document: JSONValue) throws(Rejection) {
        func missing(_ field: String) -> Rejection {
            Rejection(reason: .schemaViolation, detail: "schema and decoder disagree about \(field)", field: field)
        }
        guard let idText = document["event_id"]?.stringValue, let id = UUID(canonical: idText) else {
            throw missing("/event_id")
        }
        guard let reportedText = document["reported_at"]?.stringValue, let reportedAt = RFC3339.parse(reportedText)
        else {
            throw missing("/reported_at")
        }
        guard let zone = document["zone"]?.stringValue else { throw missing("/zone") }
        guard let categoryText = document["category"]?.stringValue,
            let category = BeneficiaryCategory(rawValue: categoryText)
        else { throw missing("/category") }
        guard let location = document["location"], let latitude = location["lat"]?.doubleValue,
            let longitude = location["lon"]?.doubleValue
        else { throw missing("/location") }
        guard let person = document["person"], let sexText = person["sex"]?.stringValue,
            let sex = Sex(rawValue: sexText)
        else { throw missing("/person") }
        var factors: [ReportFactor] = []
        if case .array(let values)? = document["factors"] {
            for value in values {
                guard let factor = value.stringValue.flatMap(ReportFactor.init(rawValue:)) else {
                    throw missing("/factors")
                }
                factors.append(factor)
            }
        }
        self.id = id
        self.schemaVersion = Int(document["schema_version"]?.integerValue ?? 1)
        self.reportedAt = reportedAt
        self.zone = zone
        self.category = category
        self.location = Location(
            latitude: latitude, longitude: longitude, commune: location["commune"]?.stringValue,
            description: location["description"]?.stringValue)
        self.person = Person(
            age: person["age"]?.integerValue.map(Int.init), sex: sex, count: Int(person["count"]?.integerValue ?? 1))
        self.factors = factors
        self.temperatureCelsius = document["temperature_c"]?.doubleValue
        self.channel = document["channel"]?.stringValue
        self.language = document["language"]?.stringValue
        self.notes = document["notes"]?.stringValue
        self.linkedCaseID = document["linked_case_id"]?.stringValue.flatMap(UUID.init(canonical:))
        self.document = document
    }
}
