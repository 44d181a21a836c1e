import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuStore

/// What a shelter tells samu, from the command line until the shelter page exists: a decline of
/// an incoming person, sent as the shelter's next `samu.beds.v1` report (its counts unchanged).
struct ShelterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shelter", abstract: "Report for a shelter: decline an incoming person.",
        subcommands: [Decline.self])

    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The shelter will not take the person of a case: samu releases the beds held there and holds the next fitting bed.",
            discussion:
                "Publishes the shelter's next bed report (schema version 2, its latest counts unchanged) with declined_case_id and decline_reason."
        )

        @Option(help: "The shelter's id.") var shelter: String
        @Option(name: .customLong("case"), help: "The case whose person is declined.") var caseID: String
        @Option(help: "Why (shown on the case's timeline; at most 300 characters).") var reason: String

        func validate() throws {
            guard UUID(uuidString: caseID) != nil else { throw ValidationError("--case: not a case id") }
            guard !reason.isEmpty, reason.count <= 300 else { throw ValidationError("--reason: 1 to 300 characters") }
        }

        func run() async throws {
            try requireLibrdKafka()
            let context = try Context.forCommand(label: "samu.shelter")
            guard
                let (position, version, beds, zone) = try await context.withStore({ try await $0.shelterBeds(shelter) })
            else { throw ValidationError("shelter \(shelter) has never reported its beds") }
            // One more than the stored version (bounded: a version at the schema's limit gives a
            // refused report, not an overflow).
            let next = min(version, CrewReport.maximumVersion) + 1
            var counts = JSONObject()
            for (bed, count) in beds.sorted(by: { $0.key < $1.key }) {
                counts.append(
                    bed.rawValue,
                    ["capacity": .integer(Int64(count.capacity)), "occupied": .integer(Int64(count.occupied))])
            }
            let event: JSONValue = [
                "schema_version": 2, "event_id": .string(UUID().uuidString.lowercased()), "zone": .string(zone),
                "shelter_id": .string(shelter), "version": .integer(next),
                "location": ["lat": .number(position.latitude), "lon": .number(position.longitude)],
                "beds": .object(counts), "declined_case_id": .string(caseID.lowercased()),
                "decline_reason": .string(reason), "reported_at": .string(RFC3339.format(Date())),
            ]
            // Validated as the worker will, so that a mistake is said here and not in the DLQ.
            if case .failure(let rejection) = TopicDecoder(definition: context.catalog.definition(.beds))
                .document(value: Array(event.serialized.utf8))
            {
                throw ValidationError("the bed report would be refused: \(rejection)")
            }
            try await KafkaProducer.withProducer(configuration: context.configuration.producer, logger: context.logger)
            {
                producer in
                _ = try await producer.send(
                    KafkaRecord(
                        topic: context.catalog.name(.beds), key: try context.areas().key(for: zone),
                        value: Array(event.serialized.utf8)))
            }
            print(
                "shelter \(shelter): declined case \(caseID.lowercased()) (\(reason)); bed report version \(next)"
            )
        }
    }
}
