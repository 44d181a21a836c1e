import ArgumentParser
import Foundation
import RdKafka
import SamuPipeline
import SamuStore
import ServiceLifecycle
import Synchronization

/// `samu worker` with the stage trace installed: each outcome carries a `samu-stages` header with
/// when its event was consumed, triaged, dispatched and committed, and when the relay handed it to
/// the producer (wall-clock microseconds). The pipeline benchmark runs this worker.
struct TracedWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "The samu worker with stage stamps on its outcomes (for the pipeline benchmark).")

    func run() async throws {
        try SamuContext.requireLibrdKafka()
        let context = try SamuContext.load(label: "samu.worker")
        let store = try SamuStore(configuration: context.configuration.database, logger: context.logger)
        let worker = try context.dispatchWorker(store: store, trace: HeaderTrace())
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: StoreService(store: store)), .init(service: worker)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: context.logger))
        try await group.run()
    }
}

/// Wall-clock microseconds: the worker's stamps and the reader's are comparable on one machine.
enum WallClock {
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}

/// Keeps each outbox row's stamps until the relay hands the row to the producer, then puts them in
/// a `samu-stages` header with the hand-over's stamp last.
final class HeaderTrace: StageTrace {
    /// A row's stamps, held inline (four today: consumed, triaged and dispatched when its batch is
    /// decided, committed; room for eight), so that stamping a row allocates nothing: the trace is
    /// the benchmark's, not the product's, and its own cost is counted in the worker's CPU.
    struct Stamps {
        var values: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0

        mutating func append(contentsOf values: [Int64]) {
            for value in values { append(value) }
        }

        mutating func append(_ value: Int64) {
            assert(count < 8, "a row stamped more than eight times")
            guard count < 8 else { return }
            unsafe withUnsafeMutableBytes(of: &values) {
                unsafe $0.storeBytes(of: value, toByteOffset: count * 8, as: Int64.self)
            }
            count += 1
        }

        var all: [Int64] {
            unsafe withUnsafeBytes(of: values) { bytes in
                (0..<count).map { unsafe bytes.load(fromByteOffset: $0 * 8, as: Int64.self) }
            }
        }
    }

    private let stamps = Mutex<[UUID: Stamps]>([:])

    func now() -> Int64 { WallClock.now() }

    func stamp(_ ids: some Sequence<UUID>, _ stamps: [Int64]) {
        self.stamps.withLock { table in
            for id in ids {
                table[id, default: Stamps()].append(contentsOf: stamps)
            }
        }
    }

    func forget(_ ids: [UUID]) {
        stamps.withLock { table in
            for id in ids { table.removeValue(forKey: id) }
        }
    }

    func headers(for id: UUID) -> [KafkaHeader] {
        let submitted = now()
        guard let stamps = stamps.withLock({ $0.removeValue(forKey: id) }) else { return [] }
        return [
            KafkaHeader(name: "samu-stages", string: (stamps.all + [submitted]).map(String.init).joined(separator: ","))
        ]
    }
}
