import Foundation

/// Rate limits and credit that hold across several server instances on one database: every
/// admission asks the database, atomically. (A single instance keeps this state in memory instead:
/// `RateLimiter` and `CreditGate`.)
public protocol SharedLimits: Sendable {
    /// Takes every rate-limit demand and holds `hold.amount` of the organization's credit, or nothing.
    func admit(_ demands: [RateLimiter.Demand], hold: CreditHold) async throws -> SharedAdmission
    /// Charges or refunds a token bucket after the fact (reservation met by the real count).
    func adjust(_ bucket: RateLimiter.BucketID, perMinute: Int, delta: Int) async throws
    /// The request finished and costs `cost`: its hold shrinks (or grows) to that until the usage
    /// record is committed, which releases it in the same transaction as the debit.
    func settle(hold id: UUID, cost: Micros) async throws
    /// Deletes holds that lapsed (their instance died before committing the request's record).
    func purgeExpiredHolds() async throws
}

/// Credit set aside for an admitted request, keyed by its usage record's id.
public struct CreditHold: Sendable {
    public var id: UUID
    public var organizationID: OrganizationID
    public var amount: Micros
    public var overdraft: Micros

    public init(id: UUID, organizationID: OrganizationID, amount: Micros, overdraft: Micros) {
        self.id = id
        self.organizationID = organizationID
        self.amount = amount
        self.overdraft = overdraft
    }
}

public enum SharedAdmission: Sendable {
    case admitted([RateLimiter.Reading])
    case limited(demand: RateLimiter.Demand, reading: RateLimiter.Reading, retryAfter: Double, readings: [RateLimiter.Reading])
    case insufficient(readings: [RateLimiter.Reading])
}

extension RateLimiter {
    /// One bucket's reading from its theoretical arrival time `tat`, at `now` (seconds).
    public static func reading(_ demand: Demand, tat: Double, now: Double) -> Reading {
        let interval = 60.0 / Double(demand.perMinute)
        let ahead = max(0, tat - now)
        return Reading(
            dimension: demand.bucket.dimension, limit: demand.perMinute,
            remaining: whole(((60.0 - ahead) / interval + 1e-9).rounded(.down)), resetSeconds: ahead)
    }
}
