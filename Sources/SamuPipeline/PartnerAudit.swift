import Foundation
import Logging
import RdKafka
import SamuModel

/// Checks partner events against the privacy rules: the closed schema, the forbidden-field and
/// value scanner, and one record per event id. `samu partners scan` runs it on the live topic;
/// the tests run it on every partner event they produce.
public struct PartnerAudit: Sendable {
    public struct Report: Sendable, CustomStringConvertible {
        public var events = 0
        public var individualRecords = 0
        public var aggregates = 0
        /// Same event id with different bytes (byte-identical redeliveries are fine).
        public var conflictingDuplicates = 0
        public var violations: [String] = []

        public var description: String {
            "\(events) events (\(individualRecords) case records, \(aggregates) aggregates), "
                + "\(conflictingDuplicates) conflicting duplicates, \(violations.count) violations"
        }
    }

    let schema: JSONSchema

    public init(catalog: TopicCatalog) {
        let definition = catalog.definition(.partnerOutcomes)
        self.schema = definition.schemas[definition.latestSchemaVersion]!
    }

    /// The only headers a partner record may carry: neither says anything about the case.
    public static let allowedHeaders: Set<String> = ["samu-event-id", "content-type"]

    /// Audits whole broker messages: their payloads, and also their timestamps (the start of an
    /// hour at least: a finer one tells when a case was published) and their headers.
    public func audit(messages: [KafkaMessage]) -> Report {
        var report = audit(messages.compactMap(\.value))
        for (index, message) in messages.enumerated() {
            if let timestamp = message.timestampMilliseconds, timestamp % 3_600_000 != 0 {
                report.violations.append("event \(index): record timestamp \(timestamp) ms is finer than the hour")
            }
            for header in message.headers where !Self.allowedHeaders.contains(header.name) {
                report.violations.append("event \(index): header '\(header.name)' is not on the allow-list")
            }
            if let value = message.headers.first(where: { $0.name == "samu-event-id" })?.value,
                String(decoding: value, as: UTF8.self)
                    != message.value.flatMap({ try? JSONParser.parse($0) })?["event_id"]?.stringValue
            {
                report.violations.append("event \(index): samu-event-id header differs from the event id")
            }
        }
        return report
    }

    public func audit(_ values: [[UInt8]]) -> Report {
        var report = Report()
        var seen: [String: [UInt8]] = [:]
        for (index, bytes) in values.enumerated() {
            report.events += 1
            let event: JSONValue
            do { event = try JSONParser.parse(bytes) } catch {
                report.violations.append("event \(index): not JSON: \(error)")
                continue
            }
            do { try schema.validate(event) } catch {
                report.violations.append("event \(index): schema: \(error)")
            }
            for finding in PartnerPrivacyScanner.scan(event) {
                report.violations.append("event \(index): \(finding)")
            }
            switch event["record"]?.stringValue {
            case "case_outcome": report.individualRecords += 1
            case "daily_aggregate": report.aggregates += 1
            default: break
            }
            if let id = event["event_id"]?.stringValue {
                if let earlier = seen[id], earlier != bytes { report.conflictingDuplicates += 1 }
                seen[id] = bytes
            }
        }
        return report
    }

    /// Reads a partner's whole topic and audits it: every record must also be that partner's.
    public static func scanTopic(
        partner: String, configuration: SamuConfiguration, catalog: TopicCatalog, logger: Logger
    )
        async throws -> Report
    {
        let messages = try await KafkaTopicReader.readAll(
            topic: catalog.partnerTopic(partner), client: configuration.kafka, logger: logger)
        var report = PartnerAudit(catalog: catalog).audit(messages: messages)
        for (index, message) in messages.enumerated() {
            let owner = message.value.flatMap { try? JSONParser.parse($0) }?["partner"]?.stringValue
            if owner != partner {
                report.violations.append("event \(index): a record for \(owner ?? "nobody") on \(partner)'s topic")
            }
        }
        return report
    }
}
