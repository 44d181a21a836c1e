import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuStore

/// Plays the crews for a demonstration: every unit with a case acknowledges it, reaches the
/// person and closes the case, with the same events the crew app sends (``CrewReport``); shelters
/// report the admissions.
struct CrewsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crews",
        abstract:
            "Play the crews (demo): units with a case acknowledge, reach the person and close it; the queue drains.",
        discussion:
            "Resolutions follow a fixed mix: sheltered, hospital, family, refused, not found; minors are sheltered or referred to child protection."
    )

    @Option(help: "Rounds at most (each closes every active case).") var rounds = 5
    @Option(help: "Seconds to wait for the worker after each round.") var wait = 30

    func run() async throws {
        try requireLibrdKafka()
        let context = try Context.forCommand(label: "samu.crews")
        let unitsTopic = context.catalog.name(.units)
        let bedsTopic = context.catalog.name(.beds)
        let areas = try context.areas()
        try await KafkaProducer.withProducer(configuration: context.configuration.producer, logger: context.logger) {
            producer in
            for round in 1...rounds {
                let (work, waitingBefore) = try await context.withStore { store in
                    (try await store.activeAssignments(), try await store.waitingCases())
                }
                if work.isEmpty {
                    print("crews: round \(round): no case in hand, \(waitingBefore) waiting")
                    return
                }
                var records: [KafkaRecord] = []
                var tally: [Resolution: Int] = [:]
                var shelterUpdates: [String: (GeoPoint, Int64, [BedType: BedCount], [UUID])] = [:]
                var shelterZones: [String: String] = [:]
                for (index, item) in work.enumerated() {
                    let resolution = Self.resolution(for: item, index: index, round: round)
                    tally[resolution, default: 0] += 1
                    // The steps a crew with the app would send, built as the app's are.
                    var version = item.unitVersion
                    var current = (status: UnitStatus.available, position: item.unitPosition)
                    let steps = CrewReport.simulatedCase(
                        item.caseID, resolution: resolution, from: item.unitPosition, to: item.location)
                    for step in steps {
                        let now = Date()
                        version = CrewReport.version(at: now, after: version)
                        let event = step.unitEvent(
                            unitID: item.unitID, zone: item.zone, current: current, version: version, at: now)
                        current = (step.action.status ?? current.status, step.position ?? current.position)
                        records.append(
                            KafkaRecord(
                                topic: unitsTopic, key: areas.key(for: item.zone), value: event.serializedBytes,
                                headers: [KafkaHeader(name: "samu-source", string: "crews")]))
                    }
                    if resolution == .sheltered, let hold = item.hold {
                        if shelterUpdates[hold.shelterID] == nil,
                            let beds = try await context.withStore({ try await $0.shelterBeds(hold.shelterID) })
                        {
                            shelterUpdates[hold.shelterID] = (beds.0, beds.1, beds.2, [])
                            shelterZones[hold.shelterID] = beds.3
                        }
                        if var update = shelterUpdates[hold.shelterID] {
                            update.1 = min(update.1, CrewReport.maximumVersion) + 1
                            update.2[hold.bedType, default: BedCount(capacity: 0, occupied: 0)].occupied += hold.beds
                            update.3.append(item.caseID)
                            shelterUpdates[hold.shelterID] = update
                            records.append(
                                Self.bedEvent(
                                    topic: bedsTopic, shelterID: hold.shelterID,
                                    zone: shelterZones[hold.shelterID] ?? item.zone, update: update, areas: areas))
                        }
                    }
                }
                for result in await producer.send(records) { _ = try result.get() }
                let closed = work.map(\.caseID)
                let deadline = ContinuousClock.now + .seconds(wait)
                var waitingAfter = waitingBefore
                while ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(500))
                    let (still, waiting) = try await context.withStore { store in
                        (
                            try await store.activeAssignments().filter { closed.contains($0.caseID) }.count,
                            try await store.waitingCases()
                        )
                    }
                    waitingAfter = waiting
                    if still == 0 { break }
                }
                let mix = tally.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
                print(
                    "crews: round \(round): \(work.count) cases closed (\(mix.joined(separator: ", "))); waiting for a unit: \(waitingBefore) → \(waitingAfter)"
                )
            }
        }
    }

    static func resolution(for item: SamuStore.CrewAssignment, index: Int, round: Int) -> Resolution {
        let roll = (item.caseID.uuid.0 &+ item.caseID.uuid.5) % 20
        if item.minor { return roll < 14 ? .sheltered : .referredChildProtection }
        switch roll {
        case 0..<12: return .sheltered
        case 12..<15: return .hospital
        case 15..<17: return .referredFamily
        case 17..<19: return .helpRefused
        default: return .personNotFound
        }
    }

    static func bedEvent(
        topic: String, shelterID: String, zone: String, update: (GeoPoint, Int64, [BedType: BedCount], [UUID]),
        areas: DispatchAreas
    ) -> KafkaRecord {
        var beds = JSONObject()
        for (bed, count) in update.2.sorted(by: { $0.key < $1.key }) {
            beds.append(
                bed.rawValue,
                ["capacity": .integer(Int64(count.capacity)), "occupied": .integer(Int64(count.occupied))])
        }
        var object = JSONObject()
        object.append("schema_version", 1)
        object.append("event_id", .string(UUID().uuidString.lowercased()))
        object.append("zone", .string(zone))
        object.append("shelter_id", .string(shelterID))
        object.append("version", .integer(update.1))
        object.append("location", ["lat": .number(update.0.latitude), "lon": .number(update.0.longitude)])
        object.append("beds", .object(beds))
        if let admitted = update.3.last { object.append("admitted_case_id", .string(admitted.lowercased)) }
        object.append("reported_at", .string(RFC3339.format(Date())))
        return KafkaRecord(
            topic: topic, key: areas.key(for: zone), value: Array(JSONValue.object(object).serialized.utf8))
    }
}
