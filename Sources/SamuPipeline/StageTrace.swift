import Foundation
import RdKafka

/// Where a benchmark measures the stages of the worker's hot path. The product installs none: each
/// stage then costs one `nil` check.
///
/// The worker stamps each event's outbox rows when the event was consumed, triaged and dispatched
/// (in memory) and when its batch committed; the relay asks for the headers of each row it hands to
/// the producer, so that a consumer of the outcome topics can tell where a report's time went.
public protocol StageTrace: Sendable {
    /// The trace's clock (its stamps must be comparable with the consumer's).
    func now() -> Int64
    /// These rows passed stages stamped `stamps` (appended to what they carry already).
    func stamp(_ ids: some Sequence<UUID>, _ stamps: [Int64])
    /// Headers for a row handed to the producer now (the trace forgets the row).
    func headers(for id: UUID) -> [KafkaHeader]
    /// These rows were folded into another row of their case (`case.steps`) and will never be
    /// handed to the producer: the trace forgets them.
    func forget(_ ids: [UUID])
}

extension StageTrace {
    /// A trace that keeps nothing per row has nothing to forget.
    public func forget(_ ids: [UUID]) {}
}
