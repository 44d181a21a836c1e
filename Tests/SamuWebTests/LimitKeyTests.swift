import NIOCore
import Testing

@testable import SamuWeb

@Suite("The key the login and credential limits count a client by")
struct LimitKeyTests {
    func key(_ ip: String) throws -> String {
        ConsoleRequestContext.limitKey(try SocketAddress(ipAddress: ip, port: 443))
    }

    @Test("an IPv4 address is itself; an IPv6 address counts by its /64; a mapped IPv4 address is the IPv4 one")
    func keys() throws {
        #expect(try key("192.0.2.7") == "192.0.2.7")
        #expect(try key("192.0.2.7") != key("192.0.2.8"))
        // One subscriber's /64: every address of it is one client.
        let first = try key("2001:db8:1:2:aaaa:bbbb:cccc:dddd")
        #expect(first == "2001:db8:1:2::/64")
        #expect(try key("2001:db8:1:2::1") == first)
        #expect(try key("2001:0db8:0001:0002:ffff:ffff:ffff:ffff") == first)
        #expect(try key("2001:db8:1:3::1") != first)
        #expect(try key("::1") == "0:0:0:0::/64")
        #expect(try key("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(ConsoleRequestContext.limitKey(nil) == "unknown")
    }

    @Test("fresh addresses of one /64 fill one bucket, not the limiter's table")
    func oneBucketPerPrefix() throws {
        let limiter = RateLimiter(capacity: 100)
        var refused = 0
        for index in 0..<1_000 {
            let address = try key("2001:db8:1:2::\(String(index, radix: 16))")
            if limiter.take(client: address, ratePerMinute: 30, burst: 10) != nil { refused += 1 }
        }
        #expect(limiter.count == 1)
        #expect(refused == 990)
        // Another client still gets in.
        #expect(limiter.take(client: try key("198.51.100.1"), ratePerMinute: 30, burst: 10) == nil)
    }
}
