import CRdKafka
import Logging
import Synchronization

/// What a group consumer hands to the application, in the order librdkafka produced it.
public enum KafkaConsumerEvent: Sendable, Equatable {
    /// Messages from the assigned partitions, in offset order per partition.
    case messages([KafkaMessage])
    /// The group gave this consumer these partitions (in addition to those it had, under the
    /// cooperative protocol).
    case assigned([KafkaTopicPartition])
    /// These partitions are being taken away in an orderly rebalance: finish and store their work.
    case revoked([KafkaTopicPartition])
    /// These partitions were lost (session timeout, fenced): another member may already own them,
    /// so store nothing for them.
    case lost([KafkaTopicPartition])
}

/// A consumer-group member whose offsets are stored only when the application says a message is
/// done, and whose rebalances the application sees and finishes before they take effect.
///
/// - Important: Rebalances are acknowledged on the *next* call to ``next(maxMessages:)``: when
///   `.assigned` is returned, the partitions are assigned (and fetching starts) only when the
///   application asks for the next event, so it can rebuild state first; when `.revoked` is returned,
///   the stored offsets are committed and the partitions given up only then, so the application can
///   finish and store its in-flight work first. Call `next` and ``close()`` from one task.
public final class KafkaConsumer: Sendable {
    private enum PendingAck: Sendable {
        case assign([KafkaTopicPartition])
        case revoke([KafkaTopicPartition], lost: Bool)
    }

    private struct State {
        var pendingAck: PendingAck?
        var parked: KafkaConsumerEvent?
        var assignment: Set<KafkaTopicPartition> = []
        var lifecycle = Lifecycle.consuming
    }

    /// Where the consumer is in its life: it only moves forward.
    private enum Lifecycle: Comparable {
        /// ``next(maxMessages:timeout:)`` returns messages and rebalances.
        case consuming
        /// Asked to stop (graceful shutdown): ``next(maxMessages:timeout:)`` returns `nil`.
        case stopping
        /// ``close()`` began: the group is being left.
        case closed
    }

    let client: RdKafkaClient
    private let state = Mutex(State())
    private let logger: Logger
    public let groupID: String

    /// Joins the group and subscribes to `topics`; partitions arrive through ``next(maxMessages:)``.
    public init(configuration: KafkaConsumerConfiguration, topics: [String], logger: Logger) throws(KafkaError) {
        self.logger = logger
        self.groupID = configuration.groupID
        self.client = try RdKafkaClient(
            role: .consumer, properties: configuration.librdkafkaProperties(),
            events: RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_REBALANCE | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_ERROR
                | RD_KAFKA_EVENT_OFFSET_COMMIT,
            logger: logger)
        let list = RdKafkaTopicPartitionList(subscribingTo: topics)
        let code = unsafe rd_kafka_subscribe(client.handle, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw .rdKafka(code, context: "subscribe to \(topics.joined(separator: ", "))")
        }
    }

    /// The partitions currently assigned to this member.
    public var assignment: Set<KafkaTopicPartition> { state.withLock { $0.assignment } }

    /// The next event: a batch of up to `maxMessages` messages, or a rebalance. Waits while there is
    /// nothing (at most `timeout`, then returns an empty batch, so that a caller can run timers);
    /// returns `nil` once the consumer is closed or the task is cancelled.
    ///
    /// Throws only when librdkafka reports a fatal error (the consumer must then be recreated).
    public func next(maxMessages: Int = 512, timeout: Duration? = nil) async throws(KafkaError) -> KafkaConsumerEvent? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        try await acknowledgePendingRebalance()
        if let parked = state.withLock({ state -> KafkaConsumerEvent? in
            defer { state.parked = nil }
            return state.parked
        }) {
            return noteRebalance(parked)
        }
        var batch: [KafkaMessage] = []
        while true {
            if state.withLock({ $0.lifecycle != .consuming }) || Task.isCancelled {
                return batch.isEmpty ? nil : .messages(batch)
            }
            while batch.count < maxMessages, let event = unsafe client.pollEvent() {
                defer { unsafe rd_kafka_event_destroy(event) }
                switch unsafe rd_kafka_event_type(event) {
                case RD_KAFKA_EVENT_FETCH:
                    unsafe collectMessages(event, into: &batch)
                case RD_KAFKA_EVENT_REBALANCE:
                    let rebalance = unsafe rebalanceEvent(event)
                    if batch.isEmpty { return noteRebalance(rebalance) }
                    state.withLock { $0.parked = rebalance }
                    return .messages(batch)
                default:
                    if let fatal = unsafe client.handleCommonEvent(event) { throw fatal }
                }
            }
            if !batch.isEmpty { return .messages(batch) }
            if let deadline, ContinuousClock.now >= deadline { return .messages([]) }
            await client.waker.wait(
                atMost: deadline.map { min(.milliseconds(100), $0 - ContinuousClock.now) } ?? .milliseconds(100))
        }
    }

    /// Makes ``next(maxMessages:)`` return `nil` (at once if it is waiting), so that a consume loop
    /// can end at a batch boundary on graceful shutdown; then call ``close()``.
    public func stopConsuming() {
        state.withLock { $0.lifecycle = max($0.lifecycle, .stopping) }
        client.waker.signal()
    }

    /// Stores, for each partition, the offset after the highest of these messages: the application
    /// has durably finished them. The background auto-commit (and ``commit()``, and close) commits
    /// stored offsets to the group.
    public func storeOffsets(after messages: [KafkaMessage]) throws(KafkaError) {
        var highest: [KafkaTopicPartition: Int64] = [:]
        for message in messages {
            highest[message.topicPartition] = max(highest[message.topicPartition] ?? -1, message.offset)
        }
        if highest.isEmpty { return }
        let list = RdKafkaTopicPartitionList(capacity: highest.count)
        for (topicPartition, offset) in highest {
            list.add(topic: topicPartition.topic, partition: topicPartition.partition, offset: offset + 1)
        }
        let code = unsafe rd_kafka_offsets_store(client.handle, list.pointer)
        if code == RD_KAFKA_RESP_ERR_NO_ERROR { return }
        // A partial failure names the partitions that are no longer assigned; their messages will
        // be redelivered to the new owner, which the inbox makes harmless.
        for element in list.elements where element.error != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.info(
                "offset not stored: partition no longer assigned",
                metadata: [
                    "kafka.topic": "\(element.partition.topic)", "kafka.partition": "\(element.partition.partition)",
                    "kafka.error": "\(unsafe String(cString: rd_kafka_err2name(element.error)))",
                ])
        }
        if code != RD_KAFKA_RESP_ERR__STATE && code != RD_KAFKA_RESP_ERR__INVALID_ARG {
            throw .rdKafka(code, context: "store offsets")
        }
    }

    /// Commits the stored offsets now and waits for the group coordinator's answer, at most
    /// `timeout`: a coordinator that is gone (a broker restarted empty) must not hold a rebalance
    /// or a shutdown forever. The stored offsets stay stored; the background auto-commit retries.
    public func commit(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let client = self.client
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let code = await runBlocking { () -> rd_kafka_resp_err_t in
            guard let queue = unsafe rd_kafka_queue_new(client.handle) else { return RD_KAFKA_RESP_ERR__FAIL }
            defer { unsafe rd_kafka_queue_destroy(queue) }
            let started = unsafe rd_kafka_commit_queue(client.handle, nil, queue, nil, nil)
            if started != RD_KAFKA_RESP_ERR_NO_ERROR { return started }
            guard let event = unsafe rd_kafka_queue_poll(queue, milliseconds) else {
                return RD_KAFKA_RESP_ERR__TIMED_OUT
            }
            defer { unsafe rd_kafka_event_destroy(event) }
            return unsafe rd_kafka_event_error(event)
        }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR__NO_OFFSET {
            throw .rdKafka(code, context: "commit offsets")
        }
    }

    /// Leaves the group cleanly: commits the stored offsets, gives the partitions back, and waits
    /// until librdkafka has finished. Messages fetched but not yet returned are not stored and will
    /// be delivered again to the next owner.
    ///
    /// A group that does not answer within `timeout` (the brokers are down or paused) is left
    /// without its answer: offsets not committed are delivered again to the next owner, and the
    /// group frees the partitions after its session timeout. Closing never waits much longer.
    public func close(timeout: Duration = .seconds(15)) async throws(KafkaError) {
        if state.withLock({ state -> Bool in
            defer { state.lifecycle = .closed }
            return state.lifecycle == .closed
        }) {
            return
        }
        let deadline = ContinuousClock.now + timeout
        // A revoke still to acknowledge commits first, within the same allowance as the final
        // commit, which then has what is left of it.
        try? await acknowledgePendingRebalance(commitTimeout: timeout / 3)
        do throws(KafkaError) {
            try await commit(timeout: max(.zero, min(timeout / 3, deadline - .now - timeout / 3)))
        } catch {
            logger.info(
                "final commit failed; the last stored offsets are committed on close",
                metadata: ["kafka.error": "\(error)"])
        }
        if let error = unsafe rd_kafka_consumer_close_queue(client.handle, client.queue) {
            throw unsafe KafkaError.consuming(error, context: "close consumer")
        }
        while unsafe rd_kafka_consumer_closed(client.handle) == 0 {
            if ContinuousClock.now >= deadline {
                client.skipConsumerClose.store(true, ordering: .releasing)
                logger.warning(
                    "the group did not answer the consumer's close in time; leaving without its answer (uncommitted offsets are delivered again to the next owner)",
                    metadata: ["kafka.group": "\(groupID)", "timeout": "\(timeout)"])
                return
            }
            while let event = unsafe client.pollEvent() {
                defer { unsafe rd_kafka_event_destroy(event) }
                switch unsafe rd_kafka_event_type(event) {
                case RD_KAFKA_EVENT_REBALANCE:
                    let rebalance = unsafe rebalanceEvent(event)
                    _ = noteRebalance(rebalance)
                    try? await acknowledgePendingRebalance(commitFirst: false)
                case RD_KAFKA_EVENT_FETCH:
                    break  // not handed out, so not stored: redelivered to the next owner
                default:
                    _ = unsafe client.handleCommonEvent(event)
                }
            }
            await client.waker.wait(atMost: .milliseconds(50))
        }
    }

    // MARK: - Rebalances

    private func rebalanceEvent(_ event: OpaquePointer) -> KafkaConsumerEvent {
        let code = unsafe rd_kafka_event_error(event)
        let partitions = unsafe Self.partitions(rd_kafka_event_topic_partition_list(event))
        if code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS { return .assigned(partitions) }
        if unsafe rd_kafka_assignment_lost(client.handle) != 0 { return .lost(partitions) }
        return .revoked(partitions)
    }

    /// Remembers that the rebalance must be acknowledged at the next call, then returns it.
    private func noteRebalance(_ event: KafkaConsumerEvent) -> KafkaConsumerEvent {
        let ack: PendingAck? =
            switch event {
            case .assigned(let partitions): .assign(partitions)
            case .revoked(let partitions): .revoke(partitions, lost: false)
            case .lost(let partitions): .revoke(partitions, lost: true)
            case .messages: nil
            }
        state.withLock { $0.pendingAck = ack }
        if let ack {
            logger.info("rebalance", metadata: ["kafka.group": "\(groupID)", "kafka.rebalance": "\(ack)"])
        }
        return event
    }

    private func acknowledgePendingRebalance(
        commitFirst: Bool = true, commitTimeout: Duration = .seconds(10)
    ) async throws(KafkaError) {
        guard
            let ack = state.withLock({ state -> PendingAck? in
                defer { state.pendingAck = nil }
                return state.pendingAck
            })
        else { return }
        let cooperative = unsafe String(cString: rd_kafka_rebalance_protocol(client.handle)) == "COOPERATIVE"
        switch ack {
        case .assign(let partitions):
            if cooperative {
                try unsafe withPartitionList(partitions) { list throws(KafkaError) in
                    if let error = unsafe rd_kafka_incremental_assign(client.handle, list) {
                        throw unsafe KafkaError.consuming(error, context: "incremental assign")
                    }
                }
            } else {
                try unsafe withPartitionList(partitions) { list throws(KafkaError) in
                    let code = unsafe rd_kafka_assign(client.handle, list)
                    if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "assign") }
                }
            }
            state.withLock { $0.assignment.formUnion(partitions) }
        case .revoke(let partitions, let lost):
            if !lost && commitFirst {
                do throws(KafkaError) {
                    try await commit(timeout: commitTimeout)
                } catch {
                    logger.info("commit before revoke failed", metadata: ["kafka.error": "\(error)"])
                }
            }
            if cooperative {
                try unsafe withPartitionList(partitions) { list throws(KafkaError) in
                    if let error = unsafe rd_kafka_incremental_unassign(client.handle, list) {
                        throw unsafe KafkaError.consuming(error, context: "incremental unassign")
                    }
                }
            } else {
                let code = unsafe rd_kafka_assign(client.handle, nil)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw .rdKafka(code, context: "unassign") }
            }
            state.withLock { state in
                if cooperative { state.assignment.subtract(partitions) } else { state.assignment.removeAll() }
            }
        }
    }

    private func collectMessages(_ event: OpaquePointer, into batch: inout [KafkaMessage]) {
        while let message = unsafe rd_kafka_event_message_next(event) {
            let err = unsafe message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                batch.append(unsafe KafkaMessage(copying: message))
            } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                // Consume errors (unknown topic, offset out of range with no reset) are reported
                // per partition; librdkafka keeps trying, and the application keeps running.
                let text = unsafe String(cString: rd_kafka_err2str(err))
                logger.warning(
                    "consume error",
                    metadata: ["kafka.error": "\(text)", "kafka.partition": "\(unsafe message.pointee.partition)"])
            }
        }
    }

    private func withPartitionList(
        _ partitions: [KafkaTopicPartition],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(KafkaError) -> Void
    ) throws(KafkaError) {
        let list = RdKafkaTopicPartitionList(partitions)
        try withExtendedLifetime(list) { () throws(KafkaError) in try unsafe body(list.pointer) }
    }

    static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        unsafe RdKafkaTopicPartitionList.elements(of: list).map(\.partition).sorted()
    }
}
