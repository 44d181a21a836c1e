import Metrics
import RdKafka
import SamuDispatchCore
import SamuModel
import SamuStore
import Synchronization

/// The worker's operational metrics beyond counters: decisions by priority and kind, decision
/// latency (a histogram), and, every tick, queue depth per zone, free beds by zone and type, and
/// consumer lag per partition.
final class WorkerGauges: Sendable {
    /// Label sets already reported, so that a zone or partition that went away is set to 0
    /// rather than left at its last value.
    private let reported = Mutex<(queues: Set<String>, beds: Set<[String]>, lag: Set<KafkaTopicPartition>)>(
        ([], [], []))

    /// Counted per batch: one metric lookup per (priority, kind) present, not one per decision.
    func recordDecisions(_ decisions: [DispatchWrite.Decision], latencyNanoseconds: Int64) {
        var counts: [Priority: [String: Int]] = [:]
        for decision in decisions { counts[decision.priority, default: [:]][decision.kind, default: 0] += 1 }
        for (priority, kinds) in counts {
            var total = 0
            for (kind, count) in kinds {
                Counter(label: "samu_decisions_total", dimensions: [("priority", priority.code), ("kind", kind)])
                    .increment(by: Int64(count))
                total += count
            }
            // From the batch's consumption to the commit of its decisions: one sample per decision.
            let timer = Metrics.Timer(label: "samu_decision_latency_seconds", dimensions: [("priority", priority.code)])
            for _ in 0..<total { timer.recordNanoseconds(latencyNanoseconds) }
        }
    }

    func update(zones: [String: ZoneDispatcher], lag: [KafkaPartitionLag]) {
        var queues: Set<String> = []
        var beds: Set<[String]> = []
        for (zoneID, zone) in zones {
            queues.insert(zoneID)
            Gauge(label: "samu_queue_depth", dimensions: [("zone", zoneID)]).record(zone.waitingCaseIDs.count)
            var free: [BedType: Int] = [:]
            for shelterID in zone.shelterIDs {
                for bed in BedType.allCases {
                    guard let count = zone.beds(at: shelterID, bed) else { continue }
                    free[bed, default: 0] += max(0, count.capacity - count.occupied - count.held)
                }
            }
            for (bed, count) in free {
                beds.insert([zoneID, bed.rawValue])
                Gauge(label: "samu_free_beds", dimensions: [("zone", zoneID), ("bed_type", bed.rawValue)]).record(count)
            }
        }
        var partitions: Set<KafkaTopicPartition> = []
        // An unknown lag is not reported as 0 (that would hide a partition never fetched).
        for entry in lag {
            guard let behind = entry.lag else { continue }
            partitions.insert(entry.partition)
            Gauge(
                label: "samu_consumer_lag",
                dimensions: [("topic", entry.partition.topic), ("partition", "\(entry.partition.partition)")]
            ).record(behind)
        }
        let gone = reported.withLock { reported in
            defer { reported = (queues, beds, partitions) }
            return (
                reported.queues.subtracting(queues), reported.beds.subtracting(beds),
                reported.lag.subtracting(partitions)
            )
        }
        for zoneID in gone.0 { Gauge(label: "samu_queue_depth", dimensions: [("zone", zoneID)]).record(0) }
        for key in gone.1 {
            Gauge(label: "samu_free_beds", dimensions: [("zone", key[0]), ("bed_type", key[1])]).record(0)
        }
        for partition in gone.2 {
            Gauge(
                label: "samu_consumer_lag",
                dimensions: [("topic", partition.topic), ("partition", "\(partition.partition)")]
            ).record(0)
        }
    }
}
