import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import SamuWeb

/// The console connection's guard on an embedded channel, its clock moved by hand: what it closes,
/// when, and what it never closes.
@Suite("A console connection's guard: connections per client and timeouts")
struct ConnectionGuardTests {
    static let policy = ConnectionPolicy(perClient: 2, requestTimeout: .seconds(30), keepAliveTimeout: .seconds(600))

    /// A connection from `address`, through a guard counted in `counts`.
    func open(_ counts: ConnectionCounts, from address: String = "192.0.2.7") throws -> EmbeddedChannel {
        try guarded(counts, from: address).channel
    }

    /// A connection and its guard (whose ``ConnectionGuard/bytesArrived()`` stands for bytes the
    /// decoder has not made a part of yet).
    func guarded(
        _ counts: ConnectionCounts, from address: String = "192.0.2.7"
    ) throws -> (
        channel: EmbeddedChannel, guard: ConnectionGuard
    ) {
        let channel = EmbeddedChannel()
        let connectionGuard = counts.makeGuard(logger: Logger(label: "test"), rawBytes: false)
        try channel.pipeline.syncOperations.addHandler(connectionGuard)
        let remote = try SocketAddress(ipAddress: address, port: 40_000)
        channel.remoteAddress = remote
        try channel.connect(to: remote).wait()
        return (channel, connectionGuard)
    }

    static let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: "x", path: "/v1/reports"))

    /// A request read whole: its head and its end.
    func readWhole(_ channel: EmbeddedChannel) throws {
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
    }

    /// A fresh connection whose first request was read whole.
    func firstRequestRead() throws -> (channel: EmbeddedChannel, guard: ConnectionGuard) {
        let connection = try guarded(ConnectionCounts(policy: Self.policy))
        try readWhole(connection.channel)
        return connection
    }

    /// The connection is still open a second before `seconds` from now, and closed a second after.
    func expectClosed(_ channel: EmbeddedChannel, in seconds: Int64) {
        channel.embeddedEventLoop.advanceTime(by: .seconds(seconds - 1))
        #expect(channel.isActive, "\(seconds - 1) s on")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "\(seconds + 1) s on")
    }

    func answer(_ channel: EmbeddedChannel) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    @Test("a connection that sends nothing is closed at the request timeout, not before")
    func silentConnection() throws {
        let counts = ConnectionCounts(policy: Self.policy)
        let channel = try open(counts)
        #expect(counts.count(of: "192.0.2.7") == 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(counts.count(of: "192.0.2.7") == 0)
    }

    @Test("a body that stops coming is closed 30 s after its last part, also after an early answer")
    func stalledBody() throws {
        let counts = ConnectionCounts(policy: Self.policy)
        let channel = try open(counts)
        try channel.writeInbound(Self.head)
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{\"event")))
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive, "a part came 29 s ago")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)

        // Answered before its body (a 401): the body still owed is waited for 30 s, no longer.
        let early = try open(counts)
        try early.writeInbound(Self.head)
        try answer(early)
        early.embeddedEventLoop.advanceTime(by: .seconds(31))
        #expect(!early.isActive)
    }

    @Test("a request read whole is never timed out while it is answered (a live stream); then kept alive 10 minutes")
    func answeringAndKeptAlive() throws {
        let counts = ConnectionCounts(policy: Self.policy)
        let channel = try open(counts)
        try readWhole(channel)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        for _ in 0..<4 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(3_600))
            try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: ": keep-alive\n\n")))
        }
        #expect(channel.isActive, "a live stream of four hours")
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        // Answered: kept for its next request well past the request timeout, closed at 10 minutes.
        channel.embeddedEventLoop.advanceTime(by: .seconds(599))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test(
        "a second request begun on a kept-alive connection (headers not finished) is closed 30 s after its last byte, not after the keep-alive timeout"
    )
    func secondRequestStalls() throws {
        let (channel, connectionGuard) = try firstRequestRead()
        try answer(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(300))
        #expect(channel.isActive, "kept alive")
        connectionGuard.bytesArrived()  // "POST /v1/reports HTTP/1.1\r\nHost: x\r\n" and no more
        expectClosed(channel, in: 30)
    }

    @Test(
        "a second request begun while the first is still answered is timed from its first bytes once the answer ends, not kept alive 10 minutes"
    )
    func secondRequestBegunWhileAnswering() throws {
        let (channel, connectionGuard) = try firstRequestRead()
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        connectionGuard.bytesArrived()  // the next request's first bytes, headers not finished
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        expectClosed(channel, in: 10)  // 30 s after its last byte

        // A request read whole while the first is answered is not timed while it waits its turn.
        let pipelined = try firstRequestRead().channel
        try pipelined.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try readWhole(pipelined)
        pipelined.embeddedEventLoop.advanceTime(by: .seconds(60))
        try pipelined.writeOutbound(HTTPResponsePart.end(nil))
        pipelined.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(pipelined.isActive, "the second request, read whole, is owed its answer")
    }

    @Test("a request that trickles (a part every 20 s) is closed at its 2-minute deadline from its first byte")
    func trickle() throws {
        let counts = ConnectionCounts(policy: Self.policy)
        let channel = try open(counts)
        try channel.writeInbound(Self.head)
        for _ in 0..<5 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(20))
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "x")))
        }
        #expect(channel.isActive, "100 s in, a byte every 20 s")
        channel.embeddedEventLoop.advanceTime(by: .seconds(19))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "x")))
        #expect(channel.isActive, "119 s")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "121 s: past the deadline, however steady the trickle")
    }

    @Test(
        "one client holds its limit; the next of its connections is closed at once, another client's is not; a closed one frees its place"
    )
    func perClient() throws {
        let counts = ConnectionCounts(policy: Self.policy)
        let first = try open(counts)
        let second = try open(counts)
        let third = try open(counts)
        #expect(first.isActive && second.isActive)
        #expect(!third.isActive, "over the limit of 2")
        #expect(counts.count(of: "192.0.2.7") == 2)
        let other = try open(counts, from: "192.0.2.8")
        #expect(other.isActive)
        // An IPv6 client counts by its /64.
        let v6 = try open(counts, from: "2001:db8:1:2::1")
        let v6Again = try open(counts, from: "2001:db8:1:2::2")
        let v6Over = try open(counts, from: "2001:db8:1:2:ffff::9")
        #expect(v6.isActive && v6Again.isActive && !v6Over.isActive)
        _ = try first.finish()
        #expect(counts.count(of: "192.0.2.7") == 1)
        #expect(try open(counts).isActive)
        // No limit: 0.
        let open = ConnectionCounts(policy: ConnectionPolicy(perClient: 0))
        for _ in 0..<5 { #expect(try self.open(open).isActive) }
    }

    @Test(
        "half-closures: the client's side closed with nothing owed frees its place at once; the console's side closed after its answer closes the connection"
    )
    func halfClosures() throws {
        let counts = ConnectionCounts(policy: Self.policy)
        let channel = try open(counts)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(counts.count(of: "192.0.2.7") == 0)
        _ = try channel.finish()
        #expect(counts.count(of: "192.0.2.7") == 0, "released once")

        // A request read whole and not yet answered: the client's half-close keeps it counted.
        let asking = try open(counts)
        try readWhole(asking)
        asking.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(counts.count(of: "192.0.2.7") == 1)
        try answer(asking)
        asking.pipeline.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
        #expect(!asking.isActive)
        #expect(counts.count(of: "192.0.2.7") == 0)

        // `Connection: close` with a second request behind it in the same packet: the console
        // answers the first and closes its side; the second, never to be answered, does not keep
        // the connection (untimed: a request read whole is waiting for its answer).
        let pipelined = try open(counts)
        for _ in 0..<2 {
            try readWhole(pipelined)
        }
        try answer(pipelined)
        pipelined.pipeline.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
        #expect(!pipelined.isActive)
        #expect(counts.count(of: "192.0.2.7") == 0)
    }
}
