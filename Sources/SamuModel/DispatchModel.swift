import Foundation

/// A WGS 84 position.
public struct GeoPoint: Sendable, Equatable, Hashable, Codable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    static let earthRadiusKilometres = 6371.0088

    /// Great-circle distance (haversine): exact on the sphere, the baseline the benchmark compares with.
    public func haversineKilometres(to other: GeoPoint) -> Double {
        let φ1 = latitude * .pi / 180
        let φ2 = other.latitude * .pi / 180
        let Δφ = φ2 - φ1
        let Δλ = (other.longitude - longitude) * .pi / 180
        let a = sin(Δφ / 2) * sin(Δφ / 2) + cos(φ1) * cos(φ2) * sin(Δλ / 2) * sin(Δλ / 2)
        return 2 * Self.earthRadiusKilometres * asin(min(1, sqrt(a)))
    }
}

/// What a mobile unit is doing, as its crew reports it (`samu.units.v1`).
public enum UnitStatus: String, Sendable, CaseIterable, Codable {
    case available
    case enRoute = "en_route"
    case onScene = "on_scene"
    case transporting
    case returning
    case offDuty = "off_duty"

    /// Free to take a new case now.
    public var isFree: Bool { self == .available || self == .returning }
}

/// How a case ended (DESIGN.md §3).
public enum Resolution: String, Sendable, CaseIterable, Codable {
    case sheltered
    case hospital = "taken_to_hospital"
    case referredChildProtection = "referred_child_protection"
    case referredPolice = "referred_police"
    case referredFamily = "referred_family"
    case helpRefused = "help_refused"
    case personNotFound = "person_not_found"
    case noBedTonight = "no_bed_tonight"

    /// Resolutions that leave a person without help tonight: they open a follow-up task and count
    /// as unmet demand.
    public var isUnmetDemand: Bool { self == .helpRefused || self == .personNotFound || self == .noBedTonight }
}

/// A case ready for dispatch: where the person is and what triage decided.
public struct TriagedCase: Sendable, Equatable {
    public var caseID: UUID
    public var reportID: UUID
    public var zone: String
    public var location: GeoPoint
    public var category: BeneficiaryCategory
    public var triage: TriageDecision
    public var receivedAt: Date

    public init(
        caseID: UUID, reportID: UUID, zone: String, location: GeoPoint, category: BeneficiaryCategory,
        triage: TriageDecision, receivedAt: Date
    ) {
        self.caseID = caseID
        self.reportID = reportID
        self.zone = zone
        self.location = location
        self.category = category
        self.triage = triage
        self.receivedAt = receivedAt
    }
}
