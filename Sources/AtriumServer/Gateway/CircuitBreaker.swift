import Foundation
import Synchronization

/// Takes a failing provider out of rotation and lets it back in after it answers again.
///
/// Closed: requests flow; `failureThreshold` consecutive failures open it. Open: no requests for
/// `cooldown`; then half-open: one trial request (or a successful probe) decides. A failed trial
/// reopens it with the cooldown doubled, up to `maxCooldown`.
public final class CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant, cooldown: Duration)
        case halfOpen(trialInFlight: Bool, cooldown: Duration)
    }

    private let failureThreshold: Int
    private let baseCooldown: Duration
    private let maxCooldown: Duration
    private let state: Mutex<State>

    public init(failureThreshold: Int = 3, cooldown: Duration = .seconds(5), maxCooldown: Duration = .seconds(60)) {
        self.failureThreshold = max(1, failureThreshold)
        self.baseCooldown = cooldown
        self.maxCooldown = maxCooldown
        self.state = Mutex(.closed(consecutiveFailures: 0))
    }

    public var current: State { state.withLock { $0 } }

    /// True when the circuit lets no request through right now (open, or half-open with its trial taken).
    public var isOpen: Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            switch state {
            case .closed: false
            case .open(let until, _): now < until
            case .halfOpen(let trialInFlight, _): trialInFlight
            }
        }
    }

    /// Asks to send a request; false when the circuit refuses it.
    public func acquire(now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            switch state {
            case .closed:
                return true
            case .open(let until, let cooldown):
                guard now >= until else { return false }
                state = .halfOpen(trialInFlight: true, cooldown: cooldown)
                return true
            case .halfOpen(let trialInFlight, let cooldown):
                if trialInFlight { return false }
                state = .halfOpen(trialInFlight: true, cooldown: cooldown)
                return true
            }
        }
    }

    public func recordSuccess() {
        state.withLock { $0 = .closed(consecutiveFailures: 0) }
    }

    public func recordFailure(now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            switch state {
            case .closed(let failures):
                if failures + 1 >= failureThreshold {
                    state = .open(until: now + baseCooldown, cooldown: baseCooldown)
                } else {
                    state = .closed(consecutiveFailures: failures + 1)
                }
            case .open:
                break
            case .halfOpen(_, let cooldown):
                let next = min(cooldown * 2, maxCooldown)
                state = .open(until: now + next, cooldown: next)
            }
        }
    }

    /// A trial that neither failed nor succeeded (the client left): let the next request try.
    public func releaseTrial() {
        state.withLock { state in
            if case .halfOpen(true, let cooldown) = state { state = .halfOpen(trialInFlight: false, cooldown: cooldown) }
        }
    }

    /// True when the provider is out of rotation and its cooldown has passed, so a probe may run.
    public func wantsProbe(now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            if case .open(let until, _) = state { return now >= until }
            return false
        }
    }
}
