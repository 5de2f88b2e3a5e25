import Foundation
import Synchronization
import Testing

@testable import AtriumCore

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds = Mutex(1000.0)
    var now: Double { seconds.withLock { $0 } }
    func advance(_ by: Double) { seconds.withLock { $0 += by } }
}

@Suite struct RateLimiterTests {
    let clock = ManualClock()
    var limiter: RateLimiter { RateLimiter(clock: { [clock] in clock.now }) }
    let key = RateLimiter.BucketID(owner: UUID(), dimension: .requests)

    @Test func aFullMinuteOfRequestsPassesAtOnceThenOneEveryInterval() {
        let limiter = self.limiter
        let demand = RateLimiter.Demand(bucket: key, perMinute: 60, cost: 1)
        for expected in (0..<60).reversed() {
            guard case .allowed(let readings) = limiter.acquire([demand]) else { Issue.record("refused early"); return }
            #expect(readings[0].remaining == expected)
        }
        guard case .denied(_, _, let retryAfter) = limiter.acquire([demand]) else { Issue.record("not refused"); return }
        #expect(abs(retryAfter - 1) < 1e-6)
        clock.advance(1)
        guard case .allowed = limiter.acquire([demand]) else { Issue.record("refused after the interval"); return }
    }

    /// An upstream that over-reports its usage by far, again and again, makes a key wait at most a day
    /// and never traps the readings (it once pushed the reset past what an Int holds).
    @Test func overReportedUsageIsCappedAtADay() {
        let limiter = self.limiter
        let tokens = RateLimiter.BucketID(owner: UUID(), dimension: .tokens)
        for _ in 0..<100 { limiter.adjust(tokens, perMinute: 1, delta: 1 << 40) }
        let reading = limiter.reading(tokens, perMinute: 1)
        #expect(reading.remaining == 0 && reading.resetSeconds <= RateLimiter.furthestAhead)
        #expect(RateLimiter.reading(.init(bucket: tokens, perMinute: 1, cost: 1), tat: 1e300, now: 0).remaining == 0)
        #expect(RateLimiter.reading(.init(bucket: tokens, perMinute: 1_000_000_000, cost: 1), tat: -1e300, now: 0).remaining > 0)
    }

    @Test func allOrNothingAcrossBuckets() {
        let limiter = self.limiter
        let tokens = RateLimiter.BucketID(owner: key.owner, dimension: .tokens)
        let requests = RateLimiter.Demand(bucket: key, perMinute: 10, cost: 1)
        guard case .allowed = limiter.acquire([requests, .init(bucket: tokens, perMinute: 100, cost: 90)]) else { Issue.record(); return }
        // The token bucket refuses, so the request bucket must not be charged either.
        guard case .denied(let demand, _, _) = limiter.acquire([requests, .init(bucket: tokens, perMinute: 100, cost: 20)]) else { Issue.record(); return }
        #expect(demand.bucket == tokens)
        #expect(limiter.reading(key, perMinute: 10).remaining == 9)
    }

    @Test func aReservationIsReconciledWithTheRealCount() {
        let limiter = self.limiter
        let tokens = RateLimiter.BucketID(owner: UUID(), dimension: .tokens)
        guard case .allowed = limiter.acquire([.init(bucket: tokens, perMinute: 1000, cost: 800)]) else { Issue.record(); return }
        limiter.adjust(tokens, perMinute: 1000, delta: -790)  // only 10 were used
        #expect(limiter.reading(tokens, perMinute: 1000).remaining == 990)
        limiter.adjust(tokens, perMinute: 1000, delta: -5000)  // a refund never overfills
        #expect(limiter.reading(tokens, perMinute: 1000).remaining == 1000)
    }

    @Test func aRequestLargerThanTheLimitCanNeverPass() {
        guard case .denied(_, _, let retryAfter) = limiter.acquire([.init(bucket: key, perMinute: 100, cost: 101)]) else { Issue.record(); return }
        #expect(retryAfter.isInfinite)
    }
}

@Suite struct PricingTests {
    @Test func costsRoundUpToAWholeMicroUnit() {
        let price = ModelPrice(model: "m", inputMicrosPerMillion: 150_000, outputMicrosPerMillion: 600_000, createdAt: Date())
        #expect(price.cost(promptTokens: 1_000_000, completionTokens: 0) == 150_000)
        #expect(price.cost(promptTokens: 1, completionTokens: 0) == 1)  // 0.15 micro-units
        #expect(price.cost(promptTokens: 0, completionTokens: 0) == 0)
        #expect(price.cost(promptTokens: 10, completionTokens: 5) == 5)  // 1.5 + 3 = 4.5
        let top = ModelPrice(model: "m", inputMicrosPerMillion: ModelPrice.maxMicrosPerMillion, outputMicrosPerMillion: 0, createdAt: Date())
        #expect(top.cost(promptTokens: 1_000_000, completionTokens: 0) == ModelPrice.maxMicrosPerMillion)
    }

    @Test func absurdCostsSaturateInsteadOfOverflowing() {
        let top = ModelPrice(model: "m", inputMicrosPerMillion: ModelPrice.maxMicrosPerMillion, outputMicrosPerMillion: ModelPrice.maxMicrosPerMillion, createdAt: Date())
        #expect(top.cost(promptTokens: Int.max, completionTokens: Int.max) == Micros.max / 1_000_000)
        #expect(top.cost(promptTokens: -5, completionTokens: 0) == 0)
    }

    @Test func unitsAreFormattedExactly() {
        #expect(Micros(4_996_210).formattedUnits == "4.996210")
        #expect(Micros(-17).formattedUnits == "-0.000017")
        #expect(Micros(0).formattedUnits == "0.000000")
    }
}

@Suite struct ChunkTests {
    @Test func chunksCoverEverythingInOrder() {
        #expect(Array(0..<7).chunks(of: 3).map(Array.init) == [[0, 1, 2], [3, 4, 5], [6]])
        #expect([Int]().chunks(of: 3).isEmpty)
    }
}

@Suite struct UsageRecordDayTests {
    @Test func daysAreUTCCivilDates() {
        #expect(UsageRecord.day(of: Date(timeIntervalSince1970: 0)) == "1970-01-01")
        #expect(UsageRecord.day(of: Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29")
        #expect(UsageRecord.day(of: Date(timeIntervalSince1970: 1_795_478_399)) == "2026-11-23")
        #expect(UsageRecord.day(of: Date(timeIntervalSince1970: 1_795_478_400)) == "2026-11-24")
        #expect(UsageRecord.day(of: Date(timeIntervalSince1970: -1)) == "1969-12-31")
    }

    @Test func dayNamesNameEachDayAsDayOfDoes() {
        var names = UsageRecord.DayNames()
        for seconds in [1_795_478_398, 1_795_478_399, 1_795_478_400, 1_795_478_399, -1, 0, 0, 951_782_400] {
            let date = Date(timeIntervalSince1970: Double(seconds))
            #expect(names.name(of: date) == UsageRecord.day(of: date))
        }
    }

    @Test func aDayStartsWhereDayOfSaysItDoes() {
        for seconds in stride(from: -86_400 * 800, through: 86_400 * 40_000, by: 86_400 * 37 + 12_345) {
            let date = Date(timeIntervalSince1970: Double(seconds))
            let start = UsageRecord.start(ofDay: UsageRecord.day(of: date))
            #expect(start == Date(timeIntervalSince1970: Double(seconds - ((seconds % 86_400) + 86_400) % 86_400)))
        }
        #expect(UsageRecord.start(ofDay: "2000-02-29") == Date(timeIntervalSince1970: 951_782_400))
        for odd in ["", "2026-13-01", "2026-1-01", "yesterday", "2026-02-3x", "2026-02-29", "2026-04-31"] { #expect(UsageRecord.start(ofDay: odd) == nil) }
    }

    @Test func timeOrderedIDsSortByTimeAndNeverRepeat() {
        let early = TimeOrderedID.make(at: Date(timeIntervalSince1970: 1_000))
        let late = TimeOrderedID.make(at: Date(timeIntervalSince1970: 2_000))
        #expect(early.uuidString < late.uuidString)
        #expect(Set((0..<10_000).map { _ in TimeOrderedID.make() }).count == 10_000)
        #expect(late.uuidString.dropFirst(14).first == "7")
    }
}
