import Foundation
import SamuModel
import Testing

@testable import SamuDispatchCore
@testable import SamuPipeline
@testable import SamuStore

/// The texts the worker writes straight into bytes for every report — the stored triage, the
/// decision record, the timeline's triaged entry — are the texts the JSON trees they replaced gave
/// (rows written before and after read the same), and read back to what was written.
@Suite("Stored records written without a JSON tree")
struct StoredTextTests {
    static func text(_ random: inout SplitMix64) -> String {
        let pieces = ["", "a", "\"", "\\", "\n", "\u{01}", "é", "الطفل", "ⵜⴰⵎⴰⵣⵉⵖⵜ", " "]
        return (0..<Int(random.next() % 5)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
    }

    static func pick<T: CaseIterable>(_ random: inout SplitMix64, _: T.Type) -> T {
        let all = Array(T.allCases)
        return all[Int(random.next() % UInt64(all.count))]
    }

    static func subset<T: CaseIterable & Hashable>(_ random: inout SplitMix64, _: T.Type) -> Set<T> {
        Set(T.allCases.filter { _ in random.next() % 3 == 0 })
    }

    static func number(_ random: inout SplitMix64) -> Double {
        [0, 12, 0.05, 1e21, -3.25, Double(random.next() % 100_000) / 7][Int(random.next() % 6)]
    }

    static func triage(_ random: inout SplitMix64) -> TriageDecision {
        TriageDecision(
            priority: pick(&random, Priority.self), requiredSkills: subset(&random, CrewSkill.self),
            preferredSkills: subset(&random, CrewSkill.self), bedType: pick(&random, BedType.self),
            holdsBed: random.next() % 2 == 0, notify: subset(&random, Authority.self),
            reasons: (0..<Int(random.next() % 4)).map { _ in
                TriageReason(
                    rule: text(&random), english: text(&random), french: text(&random), arabic: text(&random))
            }, rulesVersion: text(&random), minor: random.next() % 2 == 0,
            referral: random.next() % 2 == 0
                ? nil
                : ReferralPlan(
                    destination: pick(&random, ReferralDestination.self), deadlineMinutes: Int(random.next() % 2_000),
                    rule: text(&random)),
            shelterNeed: ShelterNeed(
                beds: 1 + Int(random.next() % 5), sex: pick(&random, Sex.self),
                age: random.next() % 2 == 0 ? nil : Int(random.next() % 99), minor: random.next() % 2 == 0,
                elderly: random.next() % 2 == 0, womenOnly: random.next() % 2 == 0,
                wheelchair: random.next() % 2 == 0))
    }

    /// The tree the stored triage was built as before it was written directly.
    static func triageTree(_ triage: TriageDecision) -> JSONValue {
        [
            "priority": .string(triage.priority.code),
            "required_skills": .array(triage.requiredSkills.sorted().map { .string($0.rawValue) }),
            "preferred_skills": .array(triage.preferredSkills.sorted().map { .string($0.rawValue) }),
            "bed_type": .string(triage.bedType.rawValue),
            "holds_bed": .bool(triage.holdsBed),
            "notify": .array(triage.notify.sorted().map { .string($0.rawValue) }),
            "minor": .bool(triage.minor),
            "referral": triage.referral.map {
                [
                    "destination": .string($0.destination.rawValue),
                    "deadline_minutes": .integer(Int64($0.deadlineMinutes)), "rule": .string($0.rule),
                ]
            } ?? .null,
            "rules_version": .string(triage.rulesVersion),
            "shelter_need": triage.shelterNeed.json,
            "reasons": .array(
                triage.reasons.map {
                    [
                        "rule": .string($0.rule), "en": .string($0.english), "fr": .string($0.french),
                        "ar": .string($0.arabic),
                    ]
                }),
        ]
    }

    /// The tree the decision record was built as before it was written directly.
    static func recordTree(_ record: DecisionRecord) -> JSONValue {
        func candidates(_ list: [Candidate]) -> JSONValue {
            .array(
                list.map {
                    [
                        "id": .string($0.id), "travel_seconds": .number(($0.travelSeconds * 10).rounded() / 10),
                        "score": .number(($0.score * 10).rounded() / 10),
                    ]
                })
        }
        var object = JSONObject()
        object.append("decision_id", .string(record.decisionID.lowercased))
        object.append("kind", .string(record.kind.rawValue))
        object.append("priority", .string(record.priority.code))
        object.append("unit_id", record.unitID.map { .string($0) } ?? .null)
        object.append(
            "unit_travel_seconds", record.unitTravelSeconds.map { .number(($0 * 10).rounded() / 10) } ?? .null)
        object.append("shelter_id", record.shelterID.map { .string($0) } ?? .null)
        object.append("bed_type", .string(record.bedType.rawValue))
        object.append("unit_candidates", candidates(record.unitCandidates))
        object.append("unit_candidate_count", .integer(Int64(record.unitCandidateCount)))
        object.append("shelter_candidates", candidates(record.shelterCandidates))
        object.append("joint", .bool(record.joint))
        object.append("rules_version", .string(record.rulesVersion))
        object.append("reason", .string(record.reason))
        if let operatorID = record.operatorID { object.append("operator_id", .string(operatorID)) }
        if let reason = record.operatorReason { object.append("operator_reason", .string(reason)) }
        return .object(object)
    }

    @Test("the stored triage is the tree's text and reads back to the same decision")
    func storedTriage() throws {
        var random = SplitMix64(seed: 77)
        for _ in 0..<1_000 {
            let triage = Self.triage(&random)
            let text = SamuStore.triageText(triage)
            #expect(text == Self.triageTree(triage).serialized)
            #expect(SamuStore.triage(from: try JSONParser.parse(text)) == triage)
        }
    }

    @Test("the decision record and the triaged timeline entry are the trees' texts")
    func decisionRecord() throws {
        var random = SplitMix64(seed: 78)
        let kinds: [DecisionRecord.Kind] = [.assign, .reassign, .queue, .override]
        for _ in 0..<1_000 {
            let candidates = { (random: inout SplitMix64) in
                (0..<Int(random.next() % 4)).map { _ in
                    Candidate(id: Self.text(&random), travelSeconds: Self.number(&random), score: Self.number(&random))
                }
            }
            let record = DecisionRecord(
                decisionID: UUID(), caseID: UUID(), zone: Self.text(&random),
                kind: kinds[Int(random.next() % 4)], priority: Self.pick(&random, Priority.self),
                unitID: random.next() % 2 == 0 ? nil : Self.text(&random),
                unitTravelSeconds: random.next() % 2 == 0 ? nil : Self.number(&random),
                shelterID: random.next() % 2 == 0 ? nil : Self.text(&random), bedType: Self.pick(&random, BedType.self),
                unitCandidates: candidates(&random), unitCandidateCount: Int(random.next() % 50),
                shelterCandidates: candidates(&random), rulesVersion: Self.text(&random), reason: Self.text(&random),
                operatorID: random.next() % 2 == 0 ? nil : Self.text(&random),
                operatorReason: random.next() % 2 == 0 ? nil : Self.text(&random), at: Date(),
                joint: random.next() % 2 == 0)
            let text = DispatchRecorder.recordText(record)
            #expect(text == Self.recordTree(record).serialized)
            #expect(try JSONParser.parse(text) == Self.recordTree(record))

            let triage = Self.triage(&random)
            let report = UUID()
            let source = Self.text(&random)
            let tree: JSONValue = [
                "report_id": .string(report.lowercased), "source": .string(source),
                "priority": .string(triage.priority.code), "bed_type": .string(triage.bedType.rawValue),
                "rules": .array(triage.reasons.map { .string($0.rule) }),
            ]
            #expect(DispatchRecorder.triagedDetail(triage, report: report, source: source) == tree.serialized)
        }
    }
}
