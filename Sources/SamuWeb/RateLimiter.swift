import Synchronization

/// Token buckets, one per client: `burst` requests at once, refilled at `ratePerMinute`. In
/// memory, per console process: with several console instances behind a load balancer each
/// enforces the rate on its share of the traffic.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    /// The time buckets refill by: the monotonic clock, or a test's own.
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Above this many buckets, full ones (refilled: nothing to remember) are forgotten.
    let capacity: Int

    public init(capacity: Int = 10_000, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.capacity = capacity
        self.now = now
    }

    public var count: Int { buckets.withLock { $0.count } }

    /// The whole seconds to wait before `client` has a token, or `nil` when it has one now; takes
    /// nothing (check before an expensive step, ``take`` after it failed).
    public func wait(client: String, ratePerMinute: Int, burst: Int) -> Int? {
        let now = self.now()
        let perSecond = Double(ratePerMinute) / 60
        return buckets.withLock { buckets in
            guard let bucket = buckets[client] else { return nil }
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let tokens = min(Double(burst), bucket.tokens + seconds * perSecond)
            return tokens >= Self.whole ? nil : Self.seconds(until: tokens, perSecond: perSecond)
        }
    }

    /// Takes one token from `client`'s bucket. Returns `nil` when the request may go ahead, or the
    /// whole seconds to wait before a token is back.
    public func take(client: String, ratePerMinute: Int, burst: Int) -> Int? {
        let now = self.now()
        let perSecond = Double(ratePerMinute) / 60
        return buckets.withLock { buckets in
            if buckets.count >= capacity {
                // A bucket idle long enough to have refilled is the same as no bucket.
                let refill = Duration.seconds(Double(burst) / perSecond)
                buckets = buckets.filter { now - $0.value.updated < refill }
                // Still full (a flood of fresh keys): new keys wait rather than grow the table,
                // and the keys already known keep their limits.
                if buckets.count >= capacity && buckets[client] == nil { return 1 }
            }
            var bucket = buckets[client] ?? Bucket(tokens: Double(burst), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(Double(burst), bucket.tokens + seconds * perSecond)
            bucket.updated = now
            defer { buckets[client] = bucket }
            if bucket.tokens >= Self.whole {
                bucket.tokens = max(0, bucket.tokens - 1)
                return nil
            }
            return Self.seconds(until: bucket.tokens, perSecond: perSecond)
        }
    }

    /// A token, give or take floating-point error: a client told to come back in n seconds finds
    /// its token when it does.
    static let whole = 1 - 1e-9

    /// The whole seconds until `tokens` reach one (at least 1).
    static func seconds(until tokens: Double, perSecond: Double) -> Int {
        max(1, Int(((1 - tokens) / perSecond - 1e-9).rounded(.up)))
    }
}
