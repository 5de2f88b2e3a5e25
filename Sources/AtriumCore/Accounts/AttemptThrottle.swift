import Foundation
import Synchronization

/// Slows down guessing and flooding: after `maxFailures` recorded attempts for one subject (an email,
/// a client address) within `window`, further attempts are refused until the window has passed.
/// Logins record their failures; sign-ups, password resets and invitations record every attempt.
/// In memory, so per instance: with several instances an attacker gets `maxFailures` per instance.
public final class AttemptThrottle: Sendable {
    private struct Record {
        var failures: [Date]
    }

    private let maxFailures: Int
    private let window: TimeInterval
    private let message: String
    private let records = Mutex<[String: Record]>([:])

    public init(maxFailures: Int = 5, window: TimeInterval = 15 * 60, message: String = "Too many failed login attempts. Try again later.") {
        self.maxFailures = maxFailures
        self.window = window
        self.message = message
    }

    /// Throws `rateLimited` when any of `subjects` has too many recent failures.
    public func check(_ subjects: [String], now: Date) throws {
        let retryAfter = records.withLock { records -> TimeInterval? in
            var longest: TimeInterval?
            for subject in subjects {
                guard var record = records[subject] else { continue }
                record.failures.removeAll { now.timeIntervalSince($0) >= window }
                records[subject] = record.failures.isEmpty ? nil : record
                if record.failures.count >= maxFailures, let oldest = record.failures.first {
                    longest = max(longest ?? 0, window - now.timeIntervalSince(oldest))
                }
            }
            return longest
        }
        if let retryAfter {
            throw AtriumError.rateLimited(message, retryAfterSeconds: max(1, Int(retryAfter.rounded(.up))))
        }
    }

    public func recordFailure(_ subjects: [String], now: Date) {
        records.withLock { records in
            for subject in subjects {
                records[subject, default: Record(failures: [])].failures.append(now)
            }
            if records.count > 100_000 {  // bound memory under a spray of random emails
                records = records.filter { now.timeIntervalSince($0.value.failures.last ?? now) < window }
            }
        }
    }

    /// Checks, then counts this attempt: for actions limited by how often they happen, not by failures.
    public func admit(_ subjects: [String], now: Date) throws {
        try check(subjects, now: now)
        recordFailure(subjects, now: now)
    }

    public func recordSuccess(_ subjects: [String]) {
        records.withLock { records in subjects.forEach { records[$0] = nil } }
    }
}
