import AtriumCore
import Foundation
import Hummingbird

/// `/api/credits`: an organization's balance and credit ledger, and redeeming codes.
struct CreditController {
    let credits: CreditService
    let accounts: AccountService
    let maxBodyBytes: Int

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.get(use: show)
        group.post("redeem", use: redeem)
        group.put("budget", use: setBudget)
    }

    struct EntryDTO: ResponseCodable {
        var object = "credit.entry"
        var id: String
        var kind: String
        var amountMicros: Int64
        var description: String
        var createdAt: Date

        init(_ entry: CreditEntry) {
            self.id = entry.id.hexString()
            self.kind = entry.kind.rawValue
            self.amountMicros = entry.amountMicros
            self.description = entry.description
            self.createdAt = entry.createdAt
        }
    }

    struct CreditsDTO: ResponseCodable {
        var object = "credits"
        var organizationId: String
        var balanceMicros: Int64
        /// The balance in whole units, exact (`4.996210`).
        var balance: String
        var plan: String
        var monthlyBudgetMicros: Int64?
        var budgetAlertMicros: Int64?
        /// Committed spend of the current calendar month (UTC).
        var spentThisMonthMicros: Int64
        var data: [EntryDTO]
    }

    /// `?organization_id=…&limit=…` (the newest entries, at most 1000).
    @Sendable func show(_ request: Request, context: UserRequestContext) async throws -> CreditsDTO {
        let membership = try await accounts.acting(request.uri.queryParameters.get("organization_id"), user: context.user.id)
        return try await dto(of: membership.organization.id, limit: try request.listLimit())
    }

    private func dto(of organization: OrganizationID, limit: Int) async throws -> CreditsDTO {
        let account = try await credits.account(of: organization)
        return CreditsDTO(
            organizationId: organization.description, balanceMicros: account.balanceMicros, balance: account.balanceMicros.formattedUnits,
            plan: account.plan ?? "default", monthlyBudgetMicros: account.monthlyBudget, budgetAlertMicros: account.budgetAlert,
            spentThisMonthMicros: try await credits.spentThisMonth(by: organization),
            data: try await credits.entries(of: organization, limit: limit).map(EntryDTO.init))
    }

    /// A change of the budget: the fields present are set (null removes a limit), the others kept.
    struct BudgetRequest: Decodable {
        var organizationId: String?
        var monthlyBudgetMicros: Micros??
        var alertMicros: Micros??

        enum CodingKeys: String, CodingKey { case organizationId, monthlyBudgetMicros, alertMicros }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            organizationId = try container.decodeIfPresent(String.self, forKey: .organizationId)
            monthlyBudgetMicros = try container.decodeChange(Micros.self, forKey: .monthlyBudgetMicros)
            alertMicros = try container.decodeChange(Micros.self, forKey: .alertMicros)
        }
    }

    /// Sets the organization's monthly cap and soft limit (null: none); owners and admins.
    @Sendable func setBudget(_ request: Request, context: UserRequestContext) async throws -> CreditsDTO {
        let body = try await JSONRequest.decode(BudgetRequest.self, from: request, limit: maxBodyBytes)
        let membership = try await accounts.acting(body.organizationId, user: context.user.id)
        guard membership.role.canManage else {
            throw AtriumError.permissionDenied("Only owners and admins can change the organization's budget.")
        }
        guard body.monthlyBudgetMicros != nil || body.alertMicros != nil else {
            throw AtriumError.invalidRequest("Give monthly_budget_micros, alert_micros or both (null removes one).", param: "monthly_budget_micros")
        }
        let current = try await credits.account(of: membership.organization.id)
        try await credits.setBudget(
            body.monthlyBudgetMicros ?? current.monthlyBudget, alert: body.alertMicros ?? current.budgetAlert, of: membership.organization.id)
        return try await dto(of: membership.organization.id, limit: 100)
    }

    struct RedeemRequest: Decodable {
        var code: String
        var organizationId: String?
    }

    struct RedeemedDTO: ResponseCodable {
        var object = "credit.redemption"
        var entry: EntryDTO
        var balanceMicros: Int64
    }

    @Sendable func redeem(_ request: Request, context: UserRequestContext) async throws -> RedeemedDTO {
        let body = try await JSONRequest.decode(RedeemRequest.self, from: request, limit: maxBodyBytes)
        let membership = try await accounts.acting(body.organizationId, user: context.user.id)
        guard membership.role.canManage else {
            throw AtriumError.permissionDenied("Only owners and admins can redeem codes for an organization.")
        }
        let (entry, balance) = try await credits.redeem(code: body.code, for: membership.organization.id)
        return RedeemedDTO(entry: EntryDTO(entry), balanceMicros: balance)
    }
}
