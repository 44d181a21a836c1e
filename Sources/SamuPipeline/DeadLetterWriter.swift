import Foundation
import Logging
import Metrics
import RdKafka
import SamuModel
import SamuStore
import ServiceLifecycle

/// Writes refused events to the dead-letter topic, with their original bytes (capped: see
/// ``DeadLetter/maximumRecordBytes``), headers, position and reason; returns only when each one is
/// persisted by the broker or, when the broker refuses that record for good (too large, or the
/// topic refuses the worker), parked in PostgreSQL with an alert. Either way its offset can be
/// stored and the partition moves on.
///
/// - Important: While the broker is unreachable the writer retries; a stopping worker
///   (graceful shutdown or cancellation) ends the retries with ``StoppedWhileRetrying``: nothing
///   was stored, so the batch is delivered again after the restart.
struct DeadLetterWriter: Sendable {
    let producer: KafkaProducer
    let topic: String
    let store: SamuStore
    let statistics: WorkerStatistics
    let logger: Logger

    func write(_ letters: [DeadLetter]) async throws {
        var pending = letters
        var backoff = Duration.milliseconds(100)
        var attempts = 0
        defer { if attempts > 0 { statistics.update { $0.stuck = nil } } }
        while !pending.isEmpty {
            let records = pending.map(record)
            let results = await producer.send(records)
            var retry: [DeadLetter] = []
            for (letter, result) in zip(pending, results) {
                switch result {
                case .success:
                    counted(letter)
                case .failure(let error) where error.refusesRecord:
                    try await park(letter, error: error)
                    counted(letter)
                case .failure(let error):
                    if error.isFatal { throw error }
                    retry.append(letter)
                    logger.warning("dead letter not delivered; retrying", metadata: ["kafka.error": "\(error)"])
                }
            }
            pending = retry
            if !pending.isEmpty {
                attempts += 1
                statistics.update { $0.stuck = $0.stuck ?? .init(since: .now, reason: "dead-letter topic unreachable") }
                if Task.isShuttingDownGracefully || Task.isCancelled { throw StoppedWhileRetrying() }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func counted(_ letter: DeadLetter) {
        Counter(label: "samu_dead_letters_total", dimensions: [("reason", letter.rejection.reason.rawValue)])
            .increment()
        logger.info(
            "event dead-lettered",
            metadata: [
                "dlq.reason": "\(letter.rejection.reason.rawValue)",
                "dlq.detail": "\(letter.rejection.detail)",
                "kafka.topic": "\(letter.sourceTopic)", "kafka.partition": "\(letter.sourcePartition)",
                "kafka.offset": "\(letter.sourceOffset)",
            ])
    }

    /// Keeps a dead letter the broker will never take in PostgreSQL (retrying while the database
    /// is unavailable), counted by `samu_dead_letters_parked_total`: an operator's alert.
    private func park(_ letter: DeadLetter, error: KafkaError) async throws {
        var backoff = Duration.milliseconds(100)
        while true {
            do {
                try await store.park(
                    deadLetter: letter.eventID, sourceTopic: letter.sourceTopic,
                    sourcePartition: letter.sourcePartition, sourceOffset: letter.sourceOffset,
                    reason: letter.rejection.reason.rawValue, document: letter.json.serialized,
                    error: error.description)
                break
            } catch {
                logger.warning("a dead letter could not be parked; retrying", metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { throw StoppedWhileRetrying() }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        Counter(label: "samu_dead_letters_parked_total").increment()
        statistics.update { $0.deadLettersParked += 1 }
        logger.error(
            "the broker refused a dead letter; parked in PostgreSQL (parked_dead_letters)",
            metadata: [
                "kafka.error": "\(error)", "dlq.reason": "\(letter.rejection.reason.rawValue)",
                "kafka.topic": "\(letter.sourceTopic)", "kafka.partition": "\(letter.sourcePartition)",
                "kafka.offset": "\(letter.sourceOffset)",
            ])
    }

    func record(_ letter: DeadLetter) -> KafkaRecord {
        var headers = letter.keptHeaders.map { KafkaHeader(name: $0.name, value: $0.value) }
        headers.append(KafkaHeader(name: "samu-dlq-reason", string: letter.rejection.reason.rawValue))
        headers.append(
            KafkaHeader(
                name: "samu-dlq-source",
                string: "\(letter.sourceTopic)/\(letter.sourcePartition)/\(letter.sourceOffset)"))
        return KafkaRecord(
            topic: topic, key: letter.keptKey, value: Array(letter.json.serialized.utf8), headers: headers)
    }
}
