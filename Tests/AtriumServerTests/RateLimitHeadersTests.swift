@testable import AtriumCore
import Testing

@testable import AtriumServer

@Suite struct RateLimitHeadersTests {
    @Test func durationsAreWrittenAsOpenAIWritesThem() {
        #expect(RateLimitHeaders.duration(0) == "0ms")
        #expect(RateLimitHeaders.duration(0.0201) == "21ms")
        #expect(RateLimitHeaders.duration(1) == "1s")
        #expect(RateLimitHeaders.duration(1.45) == "1.5s")
        #expect(RateLimitHeaders.duration(59.99) == "1m0s")
        #expect(RateLimitHeaders.duration(360) == "6m0s")
        #expect(RateLimitHeaders.duration(-3) == "0ms")
    }

    @Test func theTightestBucketOfEachDimensionIsReported() {
        let fields = RateLimitHeaders.fields([
            .init(dimension: .requests, limit: 100, remaining: 50, resetSeconds: 30),
            .init(dimension: .requests, limit: 10, remaining: 2, resetSeconds: 48),
            .init(dimension: .tokens, limit: 1000, remaining: 900, resetSeconds: 6),
        ])
        let headers = Dictionary(uniqueKeysWithValues: fields)
        #expect(headers["x-ratelimit-limit-requests"] == "10")
        #expect(headers["x-ratelimit-remaining-requests"] == "2")
        #expect(headers["x-ratelimit-reset-requests"] == "48s")
        #expect(headers["x-ratelimit-remaining-tokens"] == "900")
        #expect(headers["x-ratelimit-reset-tokens"] == "6s")
    }
}
