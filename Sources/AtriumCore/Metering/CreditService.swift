import Foundation

/// Grants, redemption codes and the ledger of organizations' credit. Every change is one ledger entry
/// written together with the balance; the gate in memory is told at once.
public final class CreditService: Sendable {
    public struct CreatedCode: Sendable {
        public var code: RedemptionCode
        /// Shown once: only its hash is stored.
        public var secret: String
    }

    public static let maxDescriptionLength = 500
    /// One grant or code is at most a billion units.
    public static let maxAmount: Micros = 1_000_000_000 * 1_000_000

    private let repository: any CreditRepository
    public let gate: CreditGate
    private let clock: any TimeSource

    public init(repository: any CreditRepository, gate: CreditGate, clock: any TimeSource = SystemTimeSource()) {
        self.repository = repository
        self.gate = gate
        self.clock = clock
    }

    /// The account, opened with the free grant on first sight.
    public func account(of organization: OrganizationID) async throws -> BillingAccount {
        try await repository.openAccount(organization, freeGrant: gate.freeGrant, at: clock.now())
    }

    public func entries(of organization: OrganizationID, limit: Int = 100) async throws -> [CreditEntry] {
        _ = try await account(of: organization)
        return try await repository.entries(of: organization, limit: limit)
    }

    public func ledgerSum(of organization: OrganizationID) async throws -> Micros {
        try await repository.ledgerSum(of: organization)
    }

    /// Adds (or, for an adjustment, takes) credit: staff grants, top-ups, community rewards.
    @discardableResult
    public func add(
        _ kind: CreditKind, amount: Micros, to organization: OrganizationID, description: String, by user: UserID?
    ) async throws -> Micros {
        guard kind != .usage, kind != .redemption else {
            throw AtriumError.invalidRequest("Usage and redemptions are recorded by the platform itself.", param: "kind")
        }
        guard amount != 0, amount.magnitude <= Self.maxAmount.magnitude, kind == .adjustment || amount > 0 else {
            throw AtriumError.invalidRequest(
                kind == .adjustment ? "An adjustment is a non-zero amount." : "The amount must be positive.", param: "amount_micros")
        }
        let description = try Self.checkedDescription(description)
        let current = try await account(of: organization)
        guard (-Self.maxBalance...Self.maxBalance).contains(current.balanceMicros.clampedAdding(amount)) else {
            throw AtriumError.invalidRequest(
                "This would take the balance past ±\(Self.maxBalance) micro-units, the most an account may hold or owe.", param: "amount_micros")
        }
        let entry = CreditEntry(organizationID: organization, kind: kind, amountMicros: amount, description: description, createdAt: clock.now(), createdBy: user)
        let balance = try await repository.append(entry)
        gate.credited(organization, amount: amount)
        return balance
    }

    /// The most an account may hold or owe: a hundred thousand times the largest single grant.
    public static let maxBalance: Micros = 100_000_000_000_000_000

    public func createCode(amount: Micros, maxRedemptions: Int, expiresAt: Date?, by user: UserID?) async throws -> CreatedCode {
        guard amount > 0, amount <= Self.maxAmount else {
            throw AtriumError.invalidRequest("The amount must be positive.", param: "amount_micros")
        }
        guard (1...1_000_000).contains(maxRedemptions) else {
            throw AtriumError.invalidRequest("max_redemptions must be between 1 and 1000000.", param: "max_redemptions")
        }
        let now = clock.now()
        if let expiresAt, expiresAt <= now {
            throw AtriumError.invalidRequest("expires_at must be in the future.", param: "expires_at")
        }
        let secret = "ATR-" + Secrets.randomBase62(count: 20)
        let code = RedemptionCode(
            codeHash: Secrets.sha256Hex(secret), amountMicros: amount, maxRedemptions: maxRedemptions, expiresAt: expiresAt,
            createdAt: now, createdBy: user)
        try await repository.insert(code)
        return CreatedCode(code: code, secret: secret)
    }

    /// Redeems a code for an organization; returns the new balance.
    public func redeem(code: String, for organization: OrganizationID) async throws -> (CreditEntry, Micros) {
        let trimmed = code.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= 100 else { throw Self.unknownCode }
        _ = try await account(of: organization)
        switch try await repository.redeem(codeHash: Secrets.sha256Hex(trimmed), organization: organization, at: clock.now()) {
        case .redeemed(let entry, let balance):
            gate.credited(organization, amount: entry.amountMicros)
            return (entry, balance)
        case .unknown: throw Self.unknownCode
        case .expired: throw AtriumError.invalidRequest("This code has expired.", param: "code", code: "code_expired")
        case .exhausted: throw AtriumError.invalidRequest("This code has been used up.", param: "code", code: "code_exhausted")
        case .alreadyRedeemed:
            throw AtriumError.conflict("This organization has already redeemed this code.", param: "code")
        }
    }

    /// An organization's monthly cap and the spend at which it is notified (owners and admins set it).
    public func setBudget(_ monthlyBudget: Micros?, alert: Micros?, of organization: OrganizationID) async throws {
        for (value, param) in [(monthlyBudget, "monthly_budget_micros"), (alert, "alert_micros")] {
            if let value, !(0...Self.maxAmount).contains(value) {
                throw AtriumError.invalidRequest("\(param) must be between 0 and \(Self.maxAmount), or null.", param: param)
            }
        }
        if let monthlyBudget, let alert, alert > monthlyBudget {
            throw AtriumError.invalidRequest("alert_micros is the soft limit: at most monthly_budget_micros.", param: "alert_micros")
        }
        _ = try await account(of: organization)
        try await repository.setBudget(monthlyBudget, alert: alert, of: organization)
        gate.budgetChanged(organization, to: monthlyBudget)
    }

    /// What the organization has spent this calendar month (UTC), as committed.
    public func spentThisMonth(by organization: OrganizationID) async throws -> Micros {
        let month = String(UsageRecord.day(of: clock.now()).prefix(7))
        return try await repository.monthlySpend([organization.raw], month: month)[organization.raw] ?? 0
    }

    public func notifications(of organization: OrganizationID, limit: Int = 100) async throws -> [PlatformNotice] {
        try await repository.notifications(of: organization, limit: limit)
    }

    public func setPlan(_ plan: String?, of organization: OrganizationID) async throws {
        _ = try await account(of: organization)
        try await repository.setPlan(plan, of: organization)
        gate.planChanged(organization, to: plan)
    }

    private static let unknownCode = AtriumError.invalidRequest("This code is not valid.", param: "code", code: "invalid_code")

    private static func checkedDescription(_ text: String) throws -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= maxDescriptionLength else {
            throw AtriumError.invalidRequest("A description is at most \(maxDescriptionLength) characters.", param: "description")
        }
        return trimmed
    }
}
