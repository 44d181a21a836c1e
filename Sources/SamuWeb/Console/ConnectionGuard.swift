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
    /// How long a request may stall: from the connection's opening to its first request's whole
    /// headers (a connection that sends nothing, headers begun and never finished), and between
    /// two parts of a request's body as the decoder hands them on (a body that stops coming). It
    /// is kept after the HTTP decoder, so it sees parts, not bytes: a second request's headers
    /// begun on a kept-alive connection wait the keep-alive timeout, and a body that trickles a
    /// part at a time is bounded by the connections its client may hold, not by this timeout.
    public var requestTimeout: Duration
    /// How long a connection may wait for its next request after a response: longer than clients
    /// keep an idle connection for reuse (curl about 2 min, browsers 5), so that the client closes
    /// first and never sends a request on a connection the console is closing.
    public var keepAliveTimeout: Duration

    public init(
        perClient: Int = 256, requestTimeout: Duration = .seconds(30), keepAliveTimeout: Duration = .seconds(600)
    ) {
        self.perClient = perClient
        self.requestTimeout = requestTimeout
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

    /// A guard for one new connection.
    func makeGuard(logger: Logger) -> ConnectionGuard {
        ConnectionGuard(counts: self, logger: logger)
    }
}

/// One console connection's guard, after the HTTP decoder: refuses the connection when its
/// client holds too many, and closes it when a request stalls or when it waits too long for its
/// next request. A request being answered (a live event stream included) is never timed out.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counts: ConnectionCounts
    private let logger: Logger
    /// The client this connection is counted for, once admitted.
    private var client: String?
    /// Requests whose head was read, requests read whole, responses written whole. A response may
    /// end before its request was read whole (a refusal that reads no body).
    private var heads = 0
    private var ends = 0
    private var answered = 0
    /// Refused at the door (too many connections from its client), or let in.
    private var refused = false
    private var admitted = false
    private var timer: Scheduled<Void>?

    init(counts: ConnectionCounts, logger: Logger) {
        self.counts = counts
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
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
    }

    /// Half-closures (allowed by Hummingbird, so the channel stays open):
    /// - the client closed its side with no answer owed: it sends nothing more, so its place is
    ///   freed now rather than when the request handler's task gets to closing the channel (answers
    ///   still queued are not cut: the channel is left to close itself);
    /// - the console closed its side after an answer (`Connection: close`, a request it could not
    ///   parse) with no answer owed: closed now, not after the keep-alive timeout.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed where ends <= answered:
            release()
        case ChannelEvent.outputClosed where ends <= answered:
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
        case .end: ends += 1
        }
        arm(context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answered += 1
            arm(context)
        }
        context.write(data, promise: promise)
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard client == nil, !refused else { return }
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
        arm(context)
    }

    /// (Re)starts the connection's one timer: none while a request read whole waits for its
    /// answer; the request timeout while the client owes a request's next part (or its first
    /// request); the keep-alive timeout between requests.
    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard admitted, ends <= answered else { return }
        let timeout = heads > ends || answered == 0 ? counts.policy.requestTimeout : counts.policy.keepAliveTimeout
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        timer = loop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            timer = nil
            ConnectionCounts.timedOut.increment()
            context.close(promise: nil)
        }
    }

    private func forget() {
        timer?.cancel()
        timer = nil
        release()
    }

    /// No longer counted for its client (once).
    private func release() {
        if let client { counts.release(client) }
        client = nil
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}
