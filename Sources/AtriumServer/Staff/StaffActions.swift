import AtriumCore
import Foundation

/// What staff may do to an organization's billing, for the API (`/api/admin`) and the console alike:
/// the checks, the change, and its line in the audit log, in one place.
struct StaffActions: Sendable {
    let credits: CreditService
    let audit: AuditLog
    let accounts: AccountService
    let keys: KeyService
    /// The plans the configuration names (besides the default).
    let plans: Set<String>

    /// Administrators act; support and moderators may only look.
    static func requireAdmin(_ user: User) throws {
        guard user.staffRole == .admin else { throw AtriumError.permissionDenied("Only platform administrators can do this.") }
    }

    static func requireStaff(_ user: User) throws {
        guard user.staffRole != nil else { throw AtriumError.permissionDenied("Only platform staff can see this.") }
    }

    /// Adds credit (or takes it, for an adjustment) and writes who did it; the new balance.
    func grant(_ kind: CreditKind, amount: Micros, to organization: OrganizationID, description: String, by actor: User, address: String?) async throws -> Micros {
        try Self.requireAdmin(actor)
        let balance = try await credits.add(kind, amount: amount, to: organization, description: description, by: actor.id)
        try await audit.record(
            "credit.\(kind.rawValue)", by: actor, target: "organization:\(organization)",
            details: "\(amount > 0 ? "+" : "")\(amount.formattedUnits) (\(description)); balance \(balance.formattedUnits)", address: address)
        return balance
    }

    /// Disables an account (it cannot log in; its sessions stop working) or enables it again.
    func setDisabled(_ disabled: Bool, user: UserID, by actor: User, address: String?) async throws {
        try Self.requireAdmin(actor)
        guard user != actor.id else { throw AtriumError.invalidRequest("You cannot disable your own account.", param: "user", code: "own_account") }
        let target = try await accounts.setDisabled(disabled, user: user)
        try await audit.record(disabled ? "user.disable" : "user.enable", by: actor, target: "user:\(user)", details: target.email, address: address)
    }

    /// Revokes any organization's key (a leaked one, say).
    func revokeKey(_ key: APIKey, by actor: User, address: String?) async throws {
        try Self.requireAdmin(actor)
        try await keys.revoke(id: key.id, organization: key.organizationID)
        try await audit.record(
            "key.revoke", by: actor, target: "key:\(key.id)", details: "\(key.displayPrefix)… \"\(key.name)\" of organization \(key.organizationID)",
            address: address)
    }

    /// Moves the organization to `plan` (nil or "default": the default plan).
    func setPlan(_ plan: String?, of organization: OrganizationID, by actor: User, address: String?) async throws {
        try Self.requireAdmin(actor)
        let plan = plan == "default" ? nil : plan
        if let plan, !plans.contains(plan) {
            throw AtriumError.invalidRequest(
                "Unknown plan '\(plan.prefix(50))'. Plans: \((["default"] + plans.sorted()).joined(separator: ", ")).", param: "plan")
        }
        let before = try await credits.account(of: organization).plan ?? "default"
        try await credits.setPlan(plan, of: organization)
        try await audit.record("plan.change", by: actor, target: "organization:\(organization)", details: "\(before) → \(plan ?? "default")", address: address)
    }

    func createCode(amount: Micros, maxRedemptions: Int, expiresAt: Date?, by actor: User, address: String?) async throws -> CreditService.CreatedCode {
        try Self.requireAdmin(actor)
        let created = try await credits.createCode(amount: amount, maxRedemptions: maxRedemptions, expiresAt: expiresAt, by: actor.id)
        try await audit.record(
            "redemption_code.create", by: actor, target: "redemption_code:\(created.code.id.hexString())",
            details: "\(amount.formattedUnits) × \(maxRedemptions)", address: address)
        return created
    }
}
