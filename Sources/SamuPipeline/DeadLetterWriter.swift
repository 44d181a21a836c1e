import Foundation
import Logging
import Metrics
import RdKafka
import SamuModel

/// Writes refused events to the dead-letter topic, with their original bytes, headers, position
/// and reason; returns only when every one is persisted by the broker.
struct DeadLetterWriter: Sendable {
    let producer: KafkaProducer
    let topic: String
    let logger: Logger

    func write(_ letters: [DeadLetter]) async throws {
        var pending = letters
        var backoff = Duration.milliseconds(100)
        while !pending.isEmpty {
            let records = pending.map(record)
            let results = await producer.send(records)
            var retry: [DeadLetter] = []
            for (letter, result) in zip(pending, results) {
                switch result {
                case .success:
                    Counter(
                        label: "samu_dead_letters_total", dimensions: [("reason", letter.rejection.reason.rawValue)]
                    )
                    .increment()
                    logger.info(
                        "event dead-lettered",
                        metadata: [
                            "dlq.reason": "\(letter.rejection.reason.rawValue)",
                            "dlq.detail": "\(letter.rejection.detail)",
                            "kafka.topic": "\(letter.sourceTopic)", "kafka.partition": "\(letter.sourcePartition)",
                            "kafka.offset": "\(letter.sourceOffset)",
                        ])
                case .failure(let error):
                    if error.isFatal { throw error }
                    retry.append(letter)
                    logger.warning("dead letter not delivered; retrying", metadata: ["kafka.error": "\(error)"])
                }
            }
            pending = retry
            if !pending.isEmpty {
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    func record(_ letter: DeadLetter) -> KafkaRecord {
        var headers = letter.headers.map { KafkaHeader(name: $0.name, value: $0.value) }
        headers.append(KafkaHeader(name: "samu-dlq-reason", string: letter.rejection.reason.rawValue))
        headers.append(
            KafkaHeader(
                name: "samu-dlq-source",
                string: "\(letter.sourceTopic)/\(letter.sourcePartition)/\(letter.sourceOffset)"))
        return KafkaRecord(topic: topic, key: letter.key, value: Array(letter.json.serialized.utf8), headers: headers)
    }
}
