import Foundation

/// The body a child's case is referred to, in the chain the sources describe (detection → report →
/// risk assessment → referral to the bodies that decide; docs/domain.md).
public enum ReferralDestination: String, Sendable, CaseIterable, Codable {
    /// The public prosecutor (procureur du Roi): a child in danger.
    case prosecutor = "public_prosecutor"
    /// A hospital's child-protection unit: a child hurt, ill or using substances.
    case hospitalUnit = "hospital_child_protection_unit"
    /// The province's child-protection committee under the governor (the territorial mechanism).
    case provincialCommittee = "provincial_child_protection_committee"
    /// Family tracing: a child alone, to be returned to the family when that is safe.
    case familyTracing = "family_tracing"
}

/// Where a referral stands (`referrals.status`).
public enum ReferralStatus: String, Sendable, CaseIterable, Codable {
    case open
    /// The receiving body has it.
    case acknowledged
    /// The receiving body decided (``ReferralDecision``).
    case decided
}

/// What the receiving body decided for the child.
public enum ReferralDecision: String, Sendable, CaseIterable, Codable {
    case familyReunification = "family_reunification"
    case childProtectionCentre = "child_protection_centre"
    case socialWelfareInstitution = "social_welfare_institution"
    /// Kafala or a foster family.
    case fosterCare = "foster_care"
    case medicalCare = "medical_care"
    case noProtectionMeasure = "no_protection_measure"
}

/// Triage's referral for a case: to whom, within how long, under which rule.
public struct ReferralPlan: Sendable, Equatable, Codable {
    public var destination: ReferralDestination
    /// How long the receiving body has to acknowledge before the referral is late.
    public var deadlineMinutes: Int
    public var rule: String

    public init(destination: ReferralDestination, deadlineMinutes: Int, rule: String) {
        self.destination = destination
        self.deadlineMinutes = deadlineMinutes
        self.rule = rule
    }
}
