import Foundation
import Synchronization

/// A limit per minute on one dimension (requests, or tokens).
public struct RateLimit: Sendable, Equatable, Codable {
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?

    public init(requestsPerMinute: Int?, tokensPerMinute: Int?) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }

    public static let unlimited = RateLimit(requestsPerMinute: nil, tokensPerMinute: nil)
}

/// Rate limits as a generic cell rate algorithm (GCRA): each bucket is one timestamp, the "theoretical
/// arrival time". A limit of N per minute lets N through at once and then one every 60/N seconds,
/// which is what OpenAI's `x-ratelimit-*` headers describe. Tokens are reserved up front (prompt +
/// `max_tokens`) and reconciled with the real count afterwards (`adjust`).
///
/// All state is in memory, behind one lock: a check is a dictionary lookup and a few additions.
public final class RateLimiter: Sendable {
    public enum Dimension: UInt8, Sendable { case requests, tokens }

    /// Whose bucket: a key's or an organization's, on one dimension.
    public struct BucketID: Hashable, Sendable {
        public var owner: UUID
        public var dimension: Dimension
        public init(owner: UUID, dimension: Dimension) {
            self.owner = owner
            self.dimension = dimension
        }
    }

    /// What a request asks of one bucket.
    public struct Demand: Sendable {
        public var bucket: BucketID
        public var perMinute: Int
        public var cost: Int
        public init(bucket: BucketID, perMinute: Int, cost: Int) {
            self.bucket = bucket
            self.perMinute = perMinute
            self.cost = cost
        }
    }

    /// A bucket's state after a decision, as the response headers tell it.
    public struct Reading: Sendable, Equatable {
        public var dimension: Dimension
        public var limit: Int
        public var remaining: Int
        /// Seconds until the bucket is full again.
        public var resetSeconds: Double
    }

    public enum Decision: Sendable {
        case allowed([Reading])
        /// `demand` is the one that did not fit; `retryAfter` in seconds (infinite when the request asks
        /// for more than the whole limit and can never pass).
        case denied(demand: Demand, reading: Reading, retryAfter: Double)
    }

    private let clock: @Sendable () -> Double
    private let buckets = Mutex<[BucketID: Double]>([:])

    /// - Parameter clock: monotonic seconds (tests pass their own).
    public init(clock: (@Sendable () -> Double)? = nil) {
        if let clock {
            self.clock = clock
        } else {
            let origin = ContinuousClock.now
            self.clock = {
                let elapsed = ContinuousClock.now - origin
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            }
        }
    }

    private static let window = 60.0

    /// Takes every demand or none of them.
    public func acquire(_ demands: [Demand]) -> Decision {
        let now = clock()
        return buckets.withLock { state in
            var readings: [Reading] = []
            readings.reserveCapacity(demands.count)
            var updates: [(BucketID, Double)] = []
            updates.reserveCapacity(demands.count)
            for demand in demands {
                let interval = Self.window / Double(demand.perMinute)
                let tat = max(state[demand.bucket] ?? now, now)
                let next = tat + Double(demand.cost) * interval
                if next - now > Self.window + 1e-9 {
                    let current = Reading(
                        dimension: demand.bucket.dimension, limit: demand.perMinute,
                        remaining: Self.remaining(tat: tat, now: now, interval: interval), resetSeconds: tat - now)
                    let retry = demand.cost > demand.perMinute ? Double.infinity : next - Self.window - now
                    return .denied(demand: demand, reading: current, retryAfter: retry)
                }
                updates.append((demand.bucket, next))
                readings.append(Reading(
                    dimension: demand.bucket.dimension, limit: demand.perMinute,
                    remaining: Self.remaining(tat: next, now: now, interval: interval), resetSeconds: next - now))
            }
            for (bucket, tat) in updates { state[bucket] = tat }
            if state.count > 100_000 { state = state.filter { $0.value > now } }
            return .allowed(readings)
        }
    }

    /// Charges (`delta` > 0) or refunds (`delta` < 0) a bucket after the fact: the token reservation
    /// meets the real count. A refund never makes a bucket fuller than full.
    public func adjust(_ bucket: BucketID, perMinute: Int, delta: Int) {
        guard delta != 0 else { return }
        let now = clock()
        let interval = Self.window / Double(perMinute)
        buckets.withLock { state in
            let tat = max(state[bucket] ?? now, now)
            state[bucket] = min(max(tat + Double(delta) * interval, now), now + Self.furthestAhead)
        }
    }

    /// A bucket's state without taking anything.
    public func reading(_ bucket: BucketID, perMinute: Int) -> Reading {
        let now = clock()
        let interval = Self.window / Double(perMinute)
        let tat = max(buckets.withLock { $0[bucket] } ?? now, now)
        return Reading(dimension: bucket.dimension, limit: perMinute, remaining: Self.remaining(tat: tat, now: now, interval: interval), resetSeconds: tat - now)
    }

    private static func remaining(tat: Double, now: Double, interval: Double) -> Int {
        Self.whole(((window - (tat - now)) / interval + 1e-9).rounded(.down))
    }

    /// How far past now a bucket may be charged: an upstream that over-reports its usage makes a key
    /// wait at most a day, and the arithmetic on the bucket stays far from any limit.
    public static let furthestAhead = 86_400.0

    /// `value` as a count of at least 0, without trapping on a huge, infinite or NaN value.
    static func whole(_ value: Double) -> Int {
        guard value.isFinite, value > 0 else { return 0 }
        return value >= 1e15 ? 1_000_000_000_000_000 : Int(value)
    }
}
