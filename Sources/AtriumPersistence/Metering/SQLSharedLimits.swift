import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// `SharedLimits` in the database: GCRA buckets updated with one conditional upsert each, credit
/// holds checked under a lock of the organization's account row. The database's clock is the one
/// clock, so instances with skewed clocks still agree.
public struct SQLSharedLimits: SharedLimits {
    private let database: AtriumDatabase
    /// How long a hold may outlive its request's start before it no longer counts (a dead instance's
    /// holds lapse after this).
    private let holdLifetime: Double

    public init(database: AtriumDatabase, holdLifetime: Double = 900) {
        self.database = database
        self.holdLifetime = holdLifetime
    }

    private struct Refusal: Error { var admission: SharedAdmission }

    public func admit(_ demands: [RateLimiter.Demand], hold: CreditHold) async throws -> SharedAdmission {
        do {
            return try await database.writeTransaction { sql in
                let now = try await Self.now(sql)
                var readings: [RateLimiter.Reading] = []
                for demand in demands {
                    let step = Double(demand.cost) * 60.0 / Double(demand.perMinute)
                    let id = Self.key(demand.bucket)
                    // More than the whole limit never passes (the upsert below only checks existing buckets).
                    if demand.cost > demand.perMinute {
                        let tat = try await sql.raw("SELECT tat FROM rate_buckets WHERE id = \(bind: id)").first()?.decode(column: "tat", as: Double.self) ?? now
                        let reading = RateLimiter.reading(demand, tat: tat, now: now)
                        throw Refusal(admission: .limited(demand: demand, reading: reading, retryAfter: .infinity, readings: readings + [reading]))
                    }
                    let taken = try await sql.raw("""
                        INSERT INTO rate_buckets (id, tat) VALUES (\(bind: id), \(bind: now + step))
                        ON CONFLICT (id) DO UPDATE SET tat = GREATEST(rate_buckets.tat, \(bind: now)) + \(bind: step)
                        WHERE GREATEST(rate_buckets.tat, \(bind: now)) + \(bind: step) - \(bind: now) <= \(bind: 60.0 + 1e-9)
                        RETURNING tat
                        """).first()
                    if let taken {
                        readings.append(RateLimiter.reading(demand, tat: try taken.decode(column: "tat", as: Double.self), now: now))
                        continue
                    }
                    let tat = try await sql.raw("SELECT tat FROM rate_buckets WHERE id = \(bind: id)").first()?.decode(column: "tat", as: Double.self) ?? now
                    let reading = RateLimiter.reading(demand, tat: tat, now: now)
                    let retry = demand.cost > demand.perMinute ? Double.infinity : max(tat, now) + step - 60.0 - now
                    throw Refusal(admission: .limited(demand: demand, reading: reading, retryAfter: retry, readings: readings + [reading]))
                }
                let organization = hold.organizationID.raw
                guard let account = try await sql.raw(
                    "SELECT balance_micros FROM billing_accounts WHERE id = \(bind: organization) FOR UPDATE"
                ).first() else {
                    throw AtriumError.notFound("No billing account for organization \(hold.organizationID).")
                }
                let balance = try account.decode(column: "balance_micros", as: Int64.self)
                let held = try await sql.raw("""
                    SELECT CAST(COALESCE(SUM(amount_micros), 0) AS BIGINT) AS held FROM credit_holds
                    WHERE organization_id = \(bind: organization) AND expires_at > \(bind: now)
                    """).first()?.decode(column: "held", as: Int64.self) ?? 0
                guard balance.clampedSubtracting(held).clampedSubtracting(hold.amount) >= -hold.overdraft else {
                    throw Refusal(admission: .insufficient(readings: readings))
                }
                try await sql.raw("""
                    INSERT INTO credit_holds (id, organization_id, amount_micros, expires_at)
                    VALUES (\(bind: hold.id), \(bind: organization), \(bind: hold.amount), \(bind: now + holdLifetime))
                    """).run()
                return .admitted(readings)
            }
        } catch let refusal as Refusal {
            return refusal.admission
        }
    }

    public func adjust(_ bucket: RateLimiter.BucketID, perMinute: Int, delta: Int) async throws {
        guard delta != 0 else { return }
        let step = Double(delta) * 60.0 / Double(perMinute)
        try await sql.raw("""
            UPDATE rate_buckets SET tat = LEAST(GREATEST(tat + \(bind: step), EXTRACT(EPOCH FROM clock_timestamp())),
                EXTRACT(EPOCH FROM clock_timestamp()) + \(bind: RateLimiter.furthestAhead)) WHERE id = \(bind: Self.key(bucket))
            """).run()
    }

    public func settle(hold id: UUID, cost: Micros) async throws {
        try await sql.raw("UPDATE credit_holds SET amount_micros = \(bind: cost) WHERE id = \(bind: id)").run()
    }

    public func purgeExpiredHolds() async throws {
        try await sql.raw("DELETE FROM credit_holds WHERE expires_at < EXTRACT(EPOCH FROM clock_timestamp())").run()
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }

    private static func key(_ bucket: RateLimiter.BucketID) -> String {
        (bucket.dimension == .requests ? "requests/" : "tokens/") + bucket.owner.hexString()
    }

    private static func now(_ sql: any SQLDatabase) async throws -> Double {
        let row = try await sql.raw("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION) AS now").first()
        return try row!.decode(column: "now", as: Double.self)
    }
}
