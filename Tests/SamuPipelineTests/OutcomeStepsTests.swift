import Foundation
import SamuDispatchCore
import SamuModel
import SamuTestSupport
import SamuTriage
import Testing

@testable import SamuPipeline
@testable import SamuStore

@Suite("One outcome record per case per batch")
struct OutcomeStepsTests {
    let catalog: TopicCatalog

    init() throws {
        catalog = try Repository.catalog()
    }

    @Test(
        "a report dispatched at once publishes one case.steps record carrying received, triaged, assigned and the bed held in order, each step valid and with its own id; a case with one step and mutual-aid messages are left as they are"
    )
    func coalesced() throws {
        let rules = try TriageRules.load(Repository.seeds.appendingPathComponent("triage/rules.json"))
        let triage = TriageEngine(rules: rules)
        var zone = ZoneDispatcher(zone: "rabat")
        let start = DispatchInstant(wall: Date(timeIntervalSince1970: 1_768_443_000), monotonic: .zero)
        let here = GeoPoint(latitude: 34.0209, longitude: -6.8416)
        _ = zone.apply(
            UnitUpdate(unitID: "rabat-u1", version: 1, status: .available, position: here, skills: [.nurse]),
            at: start)
        _ = zone.apply(
            BedUpdate(
                shelterID: "rabat-s1", version: 1, position: here,
                beds: [.men: BedCount(capacity: 9, occupied: 0), .elderly: BedCount(capacity: 9, occupied: 0)]),
            at: start)
        var recorder = DispatchRecorder(outcomesTopic: catalog.name(.outcomes), aidTopic: "samu.aid.v1", actor: "w")
        var caseIDs: [UUID] = []
        for index in 0..<2 {
            let document = ReportFixture.document(
                location: GeoPoint(latitude: 34.02 + Double(index) * 0.001, longitude: -6.84))
            let report = try ReportDecoder(definition: catalog.definition(.reports)).decode(
                value: ReportFixture.bytes(document)
            ).get()
            let caseID = DerivedID.caseID(forReport: report.id)
            caseIDs.append(caseID)
            let decision = triage.triage(report)
            recorder.caseOpened(
                AcceptedReport(report: report, sourceTopic: "r", sourcePartition: 0, sourceOffset: Int64(index)),
                caseID: caseID, triage: decision, at: start.wall)
            let actions = zone.submit(
                TriagedCase(
                    caseID: caseID, reportID: report.id, zone: "rabat", location: here, category: report.category,
                    triage: decision, receivedAt: report.reportedAt), at: start)
            recorder.record(actions, zone: "rabat", source: "test/\(index)", at: start.wall, dispatcher: zone)
        }
        // An aid message (another topic) stays a row of its own.
        recorder.write.outbox.append(
            OutboxRecord(id: UUID(), topic: "samu.aid.v1", key: "sale", payload: "{}", createdAt: Date()))
        let before = recorder.write.outbox
        let absorbed = recorder.coalesceOutcomes()
        let after = recorder.write.outbox
        // The rows folded into another are named (a stage trace forgets them): every row of
        // before that is not a row of after.
        #expect(Set(absorbed) == Set(before.map(\.id)).subtracting(after.map(\.id)))
        #expect(absorbed.count == before.count - after.count)
        #expect(after.count == 3, "two cases' records and the aid message: \(after.map(\.payload))")
        let schema = TopicDecoder(definition: catalog.definition(.outcomes))
        // The first case: a unit and a bed at once, four steps in one record.
        let first = try JSONParser.parse(after[0].payload)
        #expect(first["type"]?.stringValue == OutcomeRecord.stepsType)
        #expect(first["case_id"]?.stringValue == caseIDs[0].lowercased)
        guard case .success = schema.document(value: Array(after[0].payload.utf8)) else {
            Issue.record("the record does not pass the topic's schema: \(after[0].payload)")
            return
        }
        let steps = OutcomeRecord.steps(first)
        #expect(
            steps.map { $0["type"]?.stringValue } == [
                "case.received", "case.triaged", "case.assigned", "case.bed_held",
            ])
        for step in steps {
            guard case .success = schema.document(value: Array(step.serialized.utf8)) else {
                Issue.record("a step does not pass its own schema version: \(step.serialized)")
                continue
            }
        }
        // Each step is the row it would have been alone: same id, same bytes.
        let alone = before.filter { $0.payload.contains(caseIDs[0].lowercased) }
        #expect(steps.map(\.serialized) == alone.map { try! JSONParser.parse($0.payload).serialized })
        #expect(after[0].id == alone[0].id, "the record takes its first step's id")
        // The second case (the only unit is busy): received, triaged, queued — one record too.
        let second = OutcomeRecord.steps(try JSONParser.parse(after[1].payload))
        #expect(second.map { $0["type"]?.stringValue } == ["case.received", "case.triaged", "case.queued"])
        #expect(after[2].topic == "samu.aid.v1")
        // A record that is one step reads as itself.
        let single = try JSONParser.parse(before[0].payload)
        #expect(OutcomeRecord.steps(single) == [single])
    }
}
