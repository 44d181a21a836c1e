import Foundation
import Logging
import Metrics
import SamuModel
import SamuStore

/// Turns finished cases into pseudonymised records for municipal partners and, once a day has
/// ended, counts the protected groups (minors, victims of violence) with small cells suppressed.
///
/// It reads PostgreSQL, not the live stream: a record leaves only after its case is finished and
/// the day of its report is over (docs/reliability.md §5.5). Records, aggregates, the "projected"
/// marks and the outbox rows are written in one transaction with deterministic ids, so a crash or
/// two workers running the feed at once publish each record once (a republish is byte-identical).
public struct PartnerFeed: Sendable {
    public struct Configuration: Sendable {
        public var partners: PartnerDirectory
        public var communes: CommuneDirectory
        public var keyring: PseudonymKeyring
        public var interval: Duration
        /// How long after a day's end its aggregates are counted (late resolutions).
        public var dayGrace: Duration

        public init(
            partners: PartnerDirectory, communes: CommuneDirectory, keyring: PseudonymKeyring,
            interval: Duration = .seconds(10), dayGrace: Duration = .seconds(6 * 3600)
        ) {
            self.partners = partners
            self.communes = communes
            self.keyring = keyring
            self.interval = interval
            self.dayGrace = dayGrace
        }

        /// Fails when a partner has no pseudonym key (its records could never be published).
        public func validate() throws(ReferenceFileError) {
            let missing = keyring.missingPartners(partners.partners.map(\.id))
            if !missing.isEmpty {
                throw ReferenceFileError(
                    file: "SAMU_PARTNER_KEYS",
                    message:
                        "no pseudonym key for partner(s) \(missing.joined(separator: ", ")); add one with `samu partners keys --add`"
                )
            }
        }
    }

    public struct Pass: Sendable, Equatable {
        public var records = 0
        public var aggregates = 0
        public var casesProjected = 0
        public var daysCounted = 0
        /// Individual records held back: unique even at the coarsest generalisation.
        public var suppressed = 0
    }

    /// A day's counts wait for its open cases at most this long after each was opened.
    static let longestWaitForOpenCases: TimeInterval = 2 * 86_400

    let store: SamuStore
    let configuration: Configuration
    /// Each partner's own topic.
    let topic: @Sendable (String) -> String
    let logger: Logger
    private let recordsCounter = Counter(label: "samu_partner_records_total")
    private let aggregatesCounter = Counter(label: "samu_partner_aggregates_total")

    public init(
        store: SamuStore, configuration: Configuration, topic: @escaping @Sendable (String) -> String, logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.topic = topic
        self.logger = logger
    }

    /// Runs passes every `interval` until cancelled, handing new outbox rows to the relay.
    func run(relay: OutboxRelay) async {
        while !Task.isCancelled {
            do {
                let feed = self
                let (_, outbox) = try await withDeadline(.seconds(120)) { try await feed.pass() }
                await relay.enqueue(outbox)
            } catch is CancellationError {
                return
            } catch {
                logger.warning(
                    "partner feed pass failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: configuration.interval)
        }
    }

    /// One pass over what is ready; returns what it wrote and the outbox rows it created.
    ///
    /// A zone's day is published once, after the day has ended (plus ``Configuration/dayGrace``)
    /// and its cases are finished: the individual records of its adults, made k-anonymous per
    /// partner (``KAnonymity``, the partner's minimum cell as k), and the protected groups' counts
    /// with small cells suppressed. Each record's broker timestamp is the start of its time
    /// bucket, so neither the payload, the timestamp nor the publication time tells when a case
    /// closed.
    public func pass(now: Date = Date()) async throws -> (Pass, [OutboxRecord]) {
        var summary = Pass()
        var created: [OutboxRecord] = []
        let zones = configuration.partners.zones.sorted()
        for (zone, day) in try await store.uncountedDays(zones: zones, now: now, grace: configuration.dayGrace) {
            let cases = try await store.casesReported(zone: zone, day: day)
            // Wait while a case of the day is still open, up to two days after it was opened;
            // cases open longer than that count as open.
            if cases.contains(where: {
                $0.outcome == .open && now.timeIntervalSince($0.openedAt) < Self.longestWaitForOpenCases
            }) {
                continue
            }
            var feed = PartnerFeedWrite()
            feed.countedDays.append((zone, day))
            feed.projectedCases = cases.filter { $0.outcome != .open }.map(\.caseID)
            var cells: [String: [ProtectedGroup: [FinishedCase]]] = [:]
            var individuals: [(FinishedCase, Commune?)] = []
            for item in cases {
                let commune = configuration.communes.commune(zone: zone, at: item.location, named: item.communeName)
                if let group = item.protectedGroup {
                    cells[commune?.code ?? "", default: [:]][group, default: []].append(item)
                } else if item.outcome != .open {
                    individuals.append((item, commune))
                }
            }
            for partner in configuration.partners.partners(covering: zone) {
                let records = individuals.compactMap { item, commune in
                    PartnerRecord.make(item, partner: partner, commune: commune, keyring: configuration.keyring)
                }
                let (published, suppressed) = KAnonymity.apply(records, threshold: partner.minimumCell)
                summary.suppressed += suppressed
                for record in published.sorted(by: { $0.eventID.lowercased < $1.eventID.lowercased }) {
                    feed.records.append(record)
                    feed.outbox.append(
                        OutboxRecord(
                            id: record.eventID, topic: topic(partner.id), key: partner.id,
                            payload: record.json.serialized,
                            createdAt: now, recordTime: record.timeBucket))
                }
                for (commune, groups) in cells.sorted(by: { $0.key < $1.key }) {
                    for (group, members) in groups.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                        guard
                            let aggregate = PartnerAggregate.make(
                                partner: partner, zone: zone, commune: commune.isEmpty ? nil : commune, day: day,
                                group: group, cases: members)
                        else { continue }
                        feed.aggregates.append(aggregate)
                        feed.outbox.append(
                            OutboxRecord(
                                id: aggregate.eventID, topic: topic(partner.id), key: partner.id,
                                payload: aggregate.json.serialized, createdAt: now,
                                recordTime: HourBucket.start(of: RFC3339.parse(day + "T00:00:00Z") ?? now, hours: 24)))
                    }
                }
            }
            created += try await store.write(feed)
            summary.records += feed.records.count
            summary.casesProjected += feed.projectedCases.count
            summary.aggregates += feed.aggregates.count
            summary.daysCounted += 1
        }
        recordsCounter.increment(by: Int64(summary.records))
        aggregatesCounter.increment(by: Int64(summary.aggregates))
        if summary != Pass() {
            logger.info(
                "partner feed pass",
                metadata: [
                    "partner.records": "\(summary.records)", "partner.aggregates": "\(summary.aggregates)",
                    "partner.cases": "\(summary.casesProjected)", "partner.days": "\(summary.daysCounted)",
                ])
        }
        return (summary, created)
    }
}
