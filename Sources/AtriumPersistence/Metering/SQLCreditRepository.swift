import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// Billing accounts, the credit ledger and redemption codes. Every balance change happens in the same
/// transaction as its ledger entry, so the balance always equals the ledger's sum.
public struct SQLCreditRepository: CreditRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    public func openAccount(_ organization: OrganizationID, freeGrant: Micros, at date: Date) async throws -> BillingAccount {
        if let account = try await accounts([organization]).first { return account }
        do {
            try await database.writeTransaction { sql in
                try await sql.insert(into: "billing_accounts").columns("id", "balance_micros", "plan", "created_at")
                    .values(organization.raw, freeGrant, String?.none, date).run()
                if freeGrant != 0 {
                    try await Self.insert(
                        CreditEntry(organizationID: organization, kind: .grant, amountMicros: freeGrant, description: "Free credit for a new organization", createdAt: date),
                        on: sql)
                }
            }
        } catch {
            // Two requests opened the account at once: the other one's insert won, which is just as good.
            if let account = try await accounts([organization]).first { return account }
            if let error = error as? any DatabaseError, error.isConstraintFailure {
                throw AtriumError.notFound("No organization with id \(organization).")
            }
            throw error
        }
        return BillingAccount(organizationID: organization, balanceMicros: freeGrant, plan: nil)
    }

    public func accounts(_ organizations: [OrganizationID]) async throws -> [BillingAccount] {
        guard !organizations.isEmpty else { return [] }
        let rows = try await sql.select().columns("id", "balance_micros", "plan", "monthly_budget_micros", "budget_alert_micros")
            .from("billing_accounts").where("id", .in, SQLBind.group(organizations.map(\.raw))).all()
        return try rows.map { row in
            BillingAccount(
                organizationID: OrganizationID(raw: try row.decode(column: "id", as: UUID.self)),
                balanceMicros: try row.decode(column: "balance_micros", as: Int64.self),
                plan: try row.decode(column: "plan", as: String?.self),
                monthlyBudget: try row.decode(column: "monthly_budget_micros", as: Int64?.self),
                budgetAlert: try row.decode(column: "budget_alert_micros", as: Int64?.self))
        }
    }

    public func append(_ entry: CreditEntry) async throws -> Micros {
        try await database.writeTransaction { sql in
            try await Self.insert(entry, on: sql)
            return try await Self.move(entry.organizationID, by: entry.amountMicros, on: sql)
        }
    }

    public func entries(of organization: OrganizationID, limit: Int) async throws -> [CreditEntry] {
        try await sql.select().columns("id", "kind", "amount_micros", "description", "created_at", "created_by").from("credit_entries")
            .where("organization_id", .equal, organization.raw)
            .orderBy("created_at", .descending).orderBy("id", .descending).limit(limit).all()
            .map { row in
                CreditEntry(
                    id: try row.decode(column: "id", as: UUID.self), organizationID: organization,
                    kind: CreditKind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .adjustment,
                    amountMicros: try row.decode(column: "amount_micros", as: Int64.self),
                    description: try row.decode(column: "description", as: String.self),
                    createdAt: try row.decode(column: "created_at", as: Date.self),
                    createdBy: try row.decode(column: "created_by", as: UUID?.self).map(UserID.init(raw:)))
            }
    }

    public func ledgerSum(of organization: OrganizationID) async throws -> Micros {
        let row = try await sql.raw(
            "SELECT CAST(COALESCE(SUM(amount_micros), 0) AS BIGINT) AS total FROM credit_entries WHERE organization_id = \(bind: organization.raw)"
        ).first()
        return try row?.decode(column: "total", as: Int64.self) ?? 0
    }

    public func setPlan(_ plan: String?, of organization: OrganizationID) async throws {
        try await sql.update("billing_accounts").set("plan", to: plan).where("id", .equal, organization.raw).run()
    }

    public func setBudget(_ monthlyBudget: Micros?, alert: Micros?, of organization: OrganizationID) async throws {
        try await sql.update("billing_accounts").set("monthly_budget_micros", to: monthlyBudget).set("budget_alert_micros", to: alert)
            .where("id", .equal, organization.raw).run()
    }

    public func monthlySpend(_ owners: [UUID], month: String) async throws -> [UUID: Micros] {
        guard !owners.isEmpty else { return [:] }
        let ids = owners.map { Self.spendKey($0, month: month) }
        var spent: [UUID: Micros] = [:]
        for row in try await sql.select().columns("id", "spent_micros").from("monthly_spend").where("id", .in, SQLBind.group(ids)).all() {
            let id = try row.decode(column: "id", as: String.self)
            if let owner = UUID(uuidString: String(id.prefix(36))) { spent[owner] = try row.decode(column: "spent_micros", as: Int64.self) }
        }
        return spent
    }

    public func notifications(of organization: OrganizationID, limit: Int) async throws -> [PlatformNotice] {
        try await sql.select().columns("id", "kind", "message", "created_at").from("notifications")
            .where("organization_id", .equal, organization.raw).orderBy("created_at", .descending).limit(limit).all()
            .map { row in
                PlatformNotice(
                    id: try row.decode(column: "id", as: UUID.self), organizationID: organization, kind: try row.decode(column: "kind", as: String.self),
                    message: try row.decode(column: "message", as: String.self), createdAt: try row.decode(column: "created_at", as: Date.self))
            }
    }

    /// `monthly_spend`'s key: the owner (an organization or a key) and the month.
    static func spendKey(_ owner: UUID, month: String) -> String {
        "\(owner.hexString())/\(month)"
    }

    public func insert(_ code: RedemptionCode) async throws {
        try await sql.insert(into: "redemption_codes")
            .columns("id", "code_hash", "amount_micros", "max_redemptions", "redemptions", "expires_at", "created_at", "created_by")
            .values(code.id, code.codeHash, code.amountMicros, Int64(code.maxRedemptions), Int64(code.redemptions), code.expiresAt, code.createdAt, code.createdBy?.raw)
            .run()
    }

    public func redeem(codeHash: String, organization: OrganizationID, at date: Date) async throws -> RedemptionOutcome {
        do {
            return try await redeemOnce(codeHash: codeHash, organization: organization, at: date)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            // The same organization redeemed the same code at the same moment: the other one won.
            return .alreadyRedeemed
        }
    }

    private func redeemOnce(codeHash: String, organization: OrganizationID, at date: Date) async throws -> RedemptionOutcome {
        try await database.writeTransaction { sql in
            guard let row = try await sql.select().columns("id", "amount_micros", "max_redemptions", "expires_at").from("redemption_codes")
                .where("code_hash", .equal, codeHash).first()
            else { return .unknown }
            let id = try row.decode(column: "id", as: UUID.self)
            if let expiresAt = try row.decode(column: "expires_at", as: Date?.self), expiresAt <= date { return .expired }
            let already = try await sql.select().column("id").from("code_redemptions")
                .where("code_id", .equal, id).where("organization_id", .equal, organization.raw).first()
            if already != nil { return .alreadyRedeemed }
            // The count moves only while it is under the maximum: concurrent redemptions cannot overshoot.
            let claimed = try await sql.raw("""
                UPDATE redemption_codes SET redemptions = redemptions + 1 \
                WHERE id = \(bind: id) AND redemptions < max_redemptions RETURNING redemptions
                """).first()
            guard claimed != nil else { return .exhausted }
            try await sql.insert(into: "code_redemptions").columns("id", "code_id", "organization_id", "created_at")
                .values(UUID(), id, organization.raw, date).run()
            let entry = CreditEntry(
                organizationID: organization, kind: .redemption, amountMicros: try row.decode(column: "amount_micros", as: Int64.self),
                description: "Redeemed a code", createdAt: date)
            try await Self.insert(entry, on: sql)
            return .redeemed(entry, balance: try await Self.move(organization, by: entry.amountMicros, on: sql))
        }
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }

    static func insert(_ entry: CreditEntry, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "credit_entries")
            .columns("id", "organization_id", "kind", "amount_micros", "description", "created_at", "created_by")
            .values(entry.id, entry.organizationID.raw, entry.kind.rawValue, entry.amountMicros, entry.description, entry.createdAt, entry.createdBy?.raw)
            .run()
    }

    /// Moves a balance and returns the new one.
    static func move(_ organization: OrganizationID, by amount: Micros, on sql: any SQLDatabase) async throws -> Micros {
        let row = try await sql.raw("""
            UPDATE billing_accounts SET balance_micros = balance_micros + \(bind: amount) \
            WHERE id = \(bind: organization.raw) RETURNING balance_micros
            """).first()
        guard let row else { throw AtriumError.notFound("No billing account for organization \(organization).") }
        return try row.decode(column: "balance_micros", as: Int64.self)
    }
}
