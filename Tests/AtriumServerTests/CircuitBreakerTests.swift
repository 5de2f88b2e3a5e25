import Testing

@testable import AtriumServer

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresAndLetsOneTrialThroughAfterTheCooldown() {
        let breaker = CircuitBreaker(failureThreshold: 2, cooldown: .seconds(10))
        let start = ContinuousClock.now
        #expect(breaker.acquire(now: start))
        breaker.recordFailure(now: start)
        #expect(breaker.acquire(now: start))
        breaker.recordFailure(now: start)
        #expect(!breaker.acquire(now: start + .seconds(5)))
        #expect(breaker.acquire(now: start + .seconds(11)))
        #expect(!breaker.acquire(now: start + .seconds(11)))
        breaker.recordSuccess()
        #expect(breaker.acquire(now: start + .seconds(12)))
        #expect(breaker.current == .closed(consecutiveFailures: 0))
    }

    @Test func aFailedTrialDoublesTheCooldown() {
        let breaker = CircuitBreaker(failureThreshold: 1, cooldown: .seconds(10), maxCooldown: .seconds(15))
        let start = ContinuousClock.now
        breaker.recordFailure(now: start)
        #expect(breaker.acquire(now: start + .seconds(10)))
        breaker.recordFailure(now: start + .seconds(10))
        #expect(!breaker.acquire(now: start + .seconds(24)))
        #expect(breaker.acquire(now: start + .seconds(25)))
    }

    @Test func aSuccessResetsTheFailureCount() {
        let breaker = CircuitBreaker(failureThreshold: 2)
        breaker.recordFailure()
        breaker.recordSuccess()
        breaker.recordFailure()
        #expect(breaker.acquire())
    }
}
