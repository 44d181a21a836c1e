import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What a console connection may hold: how many one client keeps open, how long a request may
/// stall, how long a kept-alive connection may wait for its next request.
public struct ConnectionPolicy: Sendable {
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold open at once; 0: no limit
    /// (behind a reverse proxy every client has the proxy's address: limit there).
    public var perClient: Int
    /// How long a request may send nothing: a connection that opens and sends nothing, headers
    /// begun and never finished, a body that stops coming (on any request of a kept-alive
    /// connection).
    public var requestTimeout: Duration
    /// How long a request may take to arrive whole, from its first byte: a request that trickles
    /// a byte at a time is closed then, however steady the trickle.
    public var requestDeadline: Duration
    /// How long a connection may wait for its next request after a response: longer than clients
    /// keep an idle connection for reuse (curl about 2 min, browsers 5), so that the client closes
    /// first and never sends a request on a connection the console is closing.
    public var keepAliveTimeout: Duration

    public init(
        perClient: Int = 256, requestTimeout: Duration = .seconds(30), requestDeadline: Duration = .seconds(120),
        keepAliveTimeout: Duration = .seconds(600)
    ) {
        self.perClient = perClient
        self.requestTimeout = requestTimeout
        self.requestDeadline = requestDeadline
        self.keepAliveTimeout = keepAliveTimeout
    }
}

/// The console's connections by client, shared by every connection's ``ConnectionGuard``.
public final class ConnectionCounts: Sendable {
    let policy: ConnectionPolicy
    private let open = Mutex<[String: Int]>([:])
    static let refused = Metrics.Counter(label: "samu_console_connections_refused_total")
    static let timedOut = Metrics.Counter(label: "samu_console_connections_timed_out_total")

    public init(policy: ConnectionPolicy) {
        self.policy = policy
    }

    /// Counts a new connection of `client`; false (and nothing counted) when the client already
    /// holds its limit.
    func admit(_ client: String) -> Bool {
        open.withLock { open in
            let count = open[client, default: 0]
            if policy.perClient > 0 && count >= policy.perClient { return false }
            open[client] = count + 1
            return true
        }
    }

    func release(_ client: String) {
        open.withLock { open in
            let count = open[client, default: 0]
            if count <= 1 { open[client] = nil } else { open[client] = count - 1 }
        }
    }

    /// Open connections of `client` (for tests and diagnosis).
    public func count(of client: String) -> Int {
        open.withLock { $0[client, default: 0] }
    }

    /// A guard for one new connection (it puts a ``ByteWatch`` first in the pipeline). `rawBytes`:
    /// what reaches the pipeline's head is the socket's bytes (false in tests that feed HTTP parts).
    func makeGuard(logger: Logger, rawBytes: Bool = true) -> ConnectionGuard {
        ConnectionGuard(counts: self, logger: logger, rawBytes: rawBytes)
    }
}

/// One console connection's guard, after the HTTP decoder (and a ``ByteWatch`` before it, which
/// tells it when bytes arrive): refuses the connection when its client holds too many, and closes
/// it when a request stalls or trickles, or when it waits too long for its next request. A request
/// read whole and being answered (a live event stream included) is never timed out.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counts: ConnectionCounts
    private let logger: Logger
    private var policy: ConnectionPolicy { counts.policy }
    /// The client this connection is counted for, once admitted (nil again once released).
    private var client: String?
    /// Requests whose head was read, requests read whole, responses written whole. A response may
    /// end before its request was read whole (a refusal that reads no body).
    private var heads = 0
    private var ends = 0
    private var answered = 0
    /// Refused at the door (too many connections from its client), or let in.
    private var refused = false
    private var admitted = false
    /// When the connection opened or last finished an answer; when the request being received
    /// began (its first byte), and when its last byte came.
    private var idleSince = NIODeadline.uptimeNanoseconds(0)
    private var receivingSince: NIODeadline?
    private var lastByte = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// The event loop's clock (a test's embedded loop keeps its own).
    private var now: NIODeadline { context?.eventLoop.now ?? .now() }

    private let rawBytes: Bool

    init(counts: ConnectionCounts, logger: Logger, rawBytes: Bool = true) {
        self.counts = counts
        self.logger = logger
        self.rawBytes = rawBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Bytes are seen where they arrive, before the HTTP decoder.
        try? context.pipeline.syncOperations.addHandler(ByteWatch(self, rawBytes: rawBytes), position: .first)
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        forget()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        forget()
        self.context = nil
    }

    /// Half-closures (allowed by Hummingbird, so the channel stays open):
    /// - the client closed its side with no answer owed: it sends nothing more, so its place is
    ///   freed now rather than when the request handler's task gets to closing the channel (answers
    ///   still queued are not cut: the channel is left to close itself);
    /// - the console closed its side after an answer (`Connection: close`, a request it could not
    ///   parse): closed now, not after the keep-alive timeout.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed where ends <= answered:
            release()
        case ChannelEvent.outputClosed:
            // Nothing more can be answered (NIO sends what was queued before it reports this),
            // even to a request read after the last answer: a pipelined request behind a
            // `Connection: close` must not keep the connection, untimed, for ever.
            context.close(promise: nil)
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: heads += 1
        case .body: break
        case .end:
            ends += 1
            // Read whole: the next request's time starts at its own first byte (or now, if its
            // head came in the same read).
            receivingSince = heads > ends ? now : nil
            if ends > answered { cancelTimer() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answered += 1
            idleSince = now
            arm()
        }
        context.write(data, promise: promise)
    }

    /// Bytes came (``ByteWatch``): a request is being received from now, if none was.
    func bytesArrived() {
        // Counted at latest here: a connection whose channelActive this guard did not see is
        // still counted and timed.
        if !admitted, !refused, let context { admit(context) }
        lastByte = now
        guard receivingSince == nil else { return }
        // The next request began: while one read whole is still answered, its time runs from
        // here once the answer ends (a pipelined request's first bytes).
        receivingSince = lastByte
        guard ends <= answered else { return }
        // From the keep-alive timeout to the request's, which may be sooner.
        cancelTimer()
        arm()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard client == nil, !refused, !admitted else { return }
        let key = ConsoleRequestContext.limitKey(context.channel.remoteAddress)
        guard counts.admit(key) else {
            refused = true
            ConnectionCounts.refused.increment()
            logger.debug("connection refused: too many from one client", metadata: ["client": "\(key)"])
            context.close(promise: nil)
            return
        }
        client = key
        admitted = true
        idleSince = now
        arm()
    }

    /// When the connection is to be closed: never while a request read whole is answered; a
    /// request being received by its last byte and its first; a fresh connection by its opening;
    /// a kept-alive one by its last answer.
    private func due() -> NIODeadline? {
        guard admitted, ends <= answered else { return nil }
        if let since = receivingSince ?? (heads > ends ? lastByte : nil) {
            return min(lastByte + TimeAmount(policy.requestTimeout), since + TimeAmount(policy.requestDeadline))
        }
        return idleSince + TimeAmount(answered == 0 ? policy.requestTimeout : policy.keepAliveTimeout)
    }

    /// Arms the connection's one timer for ``due()``, unless it is armed; when it fires, the
    /// deadline is looked at again (bytes may have come meanwhile).
    private func arm() {
        guard timer == nil, let context, let deadline = due() else { return }
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        timer = loop.scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard let due = due() else { return }
            if due > now {
                arm()
            } else {
                ConnectionCounts.timedOut.increment()
                self.context?.close(promise: nil)
            }
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func forget() {
        cancelTimer()
        release()
    }

    /// No longer counted for its client (once).
    private func release() {
        if let client { counts.release(client) }
        client = nil
    }
}

/// First in a console connection's pipeline: tells its ``ConnectionGuard`` when bytes arrive. It
/// passes what it reads on untouched (it never unwraps it).
final class ByteWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connectionGuard: ConnectionGuard
    /// Reads are the socket's bytes (else parts a test feeds, passed on unlooked at).
    private let rawBytes: Bool

    init(_ connectionGuard: ConnectionGuard, rawBytes: Bool) {
        self.connectionGuard = connectionGuard
        self.rawBytes = rawBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Empty lines are not a request begun: a client may send a CRLF after a body (RFC 9112
        // §2.2), which the decoder skips; counted, it would close the kept-alive connection after
        // the request timeout instead of the keep-alive one.
        if !rawBytes || !unwrapInboundIn(data).readableBytesView.allSatisfy({ $0 == 13 || $0 == 10 }) {
            connectionGuard.bytesArrived()
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ByteWatch: Sendable {}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}
