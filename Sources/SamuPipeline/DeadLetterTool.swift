import Foundation
import Logging
import RdKafka
import SamuModel
import SamuStore

/// Reading and replaying the dead-letter topic (`samu dlq list`, `samu dlq replay`).
public struct DeadLetterTool: Sendable {
    /// A dead letter read back from the topic.
    public struct Entry: Sendable {
        public var eventID: UUID
        public var reason: String
        public var field: String?
        public var detail: String
        public var sourceTopic: String
        public var sourcePartition: Int64
        public var sourceOffset: Int64
        public var rejectedAt: String
        public var key: [UInt8]?
        public var value: [UInt8]?
        public var headers: [KafkaHeader]
        /// The original value was too large to keep whole: it cannot be replayed.
        public var truncated: Bool
    }

    public struct ReplayReport: Sendable, Equatable, CustomStringConvertible {
        public var considered = 0
        public var replayed = 0
        public var alreadyReplayed = 0
        public var notReplayable = 0

        public init(considered: Int = 0, replayed: Int = 0, alreadyReplayed: Int = 0, notReplayable: Int = 0) {
            self.considered = considered
            self.replayed = replayed
            self.alreadyReplayed = alreadyReplayed
            self.notReplayable = notReplayable
        }

        public var description: String {
            "\(considered) dead letters considered: \(replayed) replayed, \(alreadyReplayed) already replayed before, \(notReplayable) not replayable (value truncated)"
        }
    }

    public let configuration: SamuConfiguration
    public let catalog: TopicCatalog
    public let logger: Logger

    public init(configuration: SamuConfiguration, catalog: TopicCatalog, logger: Logger) {
        self.configuration = configuration
        self.catalog = catalog
        self.logger = logger
    }

    /// Every dead letter on the topic, oldest first per partition.
    public func entries(reason: String? = nil) async throws -> [Entry] {
        let messages = try await KafkaTopicReader.readAll(
            topic: catalog.name(.deadLetters), client: configuration.kafka, logger: logger)
        return messages.compactMap { message -> Entry? in
            guard let value = message.value, let json = try? JSONParser.parse(value),
                let id = json["event_id"]?.stringValue.flatMap(UUID.init(canonical:)),
                let entryReason = json["reason"]?.stringValue
            else { return nil }
            if let reason, reason != entryReason { return nil }
            func bytes(_ text: String?) -> [UInt8]? { text.flatMap { Data(base64Encoded: $0) }.map(Array.init) }
            let original = json["original"]
            var headers: [KafkaHeader] = []
            if case .array(let items)? = original?["headers"] {
                headers = items.compactMap { item in
                    item["name"]?.stringValue.map {
                        KafkaHeader(name: $0, value: bytes(item["value_base64"]?.stringValue))
                    }
                }
            }
            return Entry(
                eventID: id, reason: entryReason, field: json["field"]?.stringValue,
                detail: json["detail"]?.stringValue ?? "", sourceTopic: json["source"]?["topic"]?.stringValue ?? "",
                sourcePartition: json["source"]?["partition"]?.integerValue ?? -1,
                sourceOffset: json["source"]?["offset"]?.integerValue ?? -1,
                rejectedAt: json["rejected_at"]?.stringValue ?? "", key: bytes(original?["key_base64"]?.stringValue),
                value: bytes(original?["value_base64"]?.stringValue), headers: headers,
                truncated: original?["value_truncated"] == .bool(true))
        }
    }

    /// Publishes each dead letter's original record again to its source topic (same key, value
    /// and headers, plus `samu-replay-of`), once: replayed dead letters are recorded in PostgreSQL,
    /// so running the replay again adds nothing. Run it after a fix or a schema upgrade; events
    /// still invalid are dead-lettered again (as new dead letters).
    ///
    /// With `areas`, an event that names a zone is keyed by the zone's dispatch area: the events
    /// refused as `key_zone_mismatch` while producers still keyed by zone after zones were grouped
    /// into an area reach the area's worker.
    public func replay(
        store: SamuStore, reason: String? = nil, sourceTopic: String? = nil, dryRun: Bool = false,
        areas: DispatchAreas? = nil
    ) async throws -> ReplayReport {
        let candidates = try await entries(reason: reason).filter {
            sourceTopic == nil || $0.sourceTopic == sourceTopic
        }
        var report = ReplayReport()
        report.considered = candidates.count
        let done = try await store.replayedDeadLetters(candidates.map(\.eventID))
        report.alreadyReplayed = candidates.filter { done.contains($0.eventID) }.count
        let replayable = candidates.filter { !done.contains($0.eventID) && !$0.truncated && !$0.sourceTopic.isEmpty }
        report.notReplayable =
            candidates.filter { !done.contains($0.eventID) && ($0.truncated || $0.sourceTopic.isEmpty) }.count
        if dryRun || replayable.isEmpty { return report }
        let records = replayable.map { entry in
            let zone = areas == nil ? nil : entry.value.flatMap { try? JSONParser.parse($0) }?["zone"]?.stringValue
            return KafkaRecord(
                topic: entry.sourceTopic, key: zone.flatMap { areas?.key(for: $0) } ?? entry.key, value: entry.value,
                headers: entry.headers + [KafkaHeader(name: "samu-replay-of", string: entry.eventID.lowercased)])
        }
        let results = try await KafkaProducer.withProducer(configuration: configuration.producer, logger: logger) {
            await $0.send(records)
        }
        var delivered: [DeadLetterTool.Entry] = []
        for (entry, result) in zip(replayable, results) {
            if case .success = result { delivered.append(entry) }
        }
        try await store.markReplayed(delivered.map(\.eventID), topics: delivered.map(\.sourceTopic))
        report.replayed = delivered.count
        if delivered.count < replayable.count {
            logger.warning(
                "some dead letters were not delivered; run the replay again",
                metadata: ["dlq.failed": "\(replayable.count - delivered.count)"])
        }
        return report
    }
}
