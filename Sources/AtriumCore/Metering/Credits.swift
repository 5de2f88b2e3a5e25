import Foundation

/// Why an organization's credit changed. The credit ledger is append-only; the balance is the sum of it.
public enum CreditKind: String, Sendable, Codable, CaseIterable {
    /// Given by the platform: the free grant of a new organization, or a grant by staff.
    case grant
    /// Bought.
    case topup
    /// A redemption code was redeemed.
    case redemption
    /// Requests were charged (one entry per organization per committed batch of usage records).
    case usage
    /// Earned in the community.
    case reward
    /// A correction by staff, either sign.
    case adjustment
}

public struct CreditEntry: Sendable, Equatable, Codable {
    public var id: UUID
    public var organizationID: OrganizationID
    public var kind: CreditKind
    /// Positive adds credit, negative takes it.
    public var amountMicros: Micros
    public var description: String
    public var createdAt: Date
    public var createdBy: UserID?

    public init(id: UUID = UUID(), organizationID: OrganizationID, kind: CreditKind, amountMicros: Micros, description: String, createdAt: Date, createdBy: UserID? = nil) {
        self.id = id
        self.organizationID = organizationID
        self.kind = kind
        self.amountMicros = amountMicros
        self.description = description
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}

/// An organization's billing account: its balance (kept equal to the sum of its credit ledger, in the
/// same transaction as each entry) and its plan.
public struct BillingAccount: Sendable, Equatable {
    public var organizationID: OrganizationID
    public var balanceMicros: Micros
    /// nil: the default plan.
    public var plan: String?
    /// The most the organization may spend in a calendar month (UTC); nil: no cap.
    public var monthlyBudget: Micros?
    /// Spend at which the organization is notified (the soft limit); nil: no notification.
    public var budgetAlert: Micros?

    public init(organizationID: OrganizationID, balanceMicros: Micros, plan: String?, monthlyBudget: Micros? = nil, budgetAlert: Micros? = nil) {
        self.organizationID = organizationID
        self.balanceMicros = balanceMicros
        self.plan = plan
        self.monthlyBudget = monthlyBudget
        self.budgetAlert = budgetAlert
    }
}

/// Something the platform tells an organization (a budget's soft limit crossed, a cap reached).
public struct PlatformNotice: Sendable, Equatable {
    public var id: UUID
    public var organizationID: OrganizationID
    public var kind: String
    public var message: String
    public var createdAt: Date

    public init(id: UUID = UUID(), organizationID: OrganizationID, kind: String, message: String, createdAt: Date) {
        self.id = id
        self.organizationID = organizationID
        self.kind = kind
        self.message = message
        self.createdAt = createdAt
    }
}

/// A code worth credit, redeemable until it expires or has been used `maxRedemptions` times, at most
/// once per organization. Only the SHA-256 of the code is stored.
public struct RedemptionCode: Sendable, Equatable {
    public var id: UUID
    public var codeHash: String
    public var amountMicros: Micros
    public var maxRedemptions: Int
    public var redemptions: Int
    public var expiresAt: Date?
    public var createdAt: Date
    public var createdBy: UserID?

    public init(id: UUID = UUID(), codeHash: String, amountMicros: Micros, maxRedemptions: Int, redemptions: Int = 0, expiresAt: Date?, createdAt: Date, createdBy: UserID?) {
        self.id = id
        self.codeHash = codeHash
        self.amountMicros = amountMicros
        self.maxRedemptions = maxRedemptions
        self.redemptions = redemptions
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}

public enum RedemptionOutcome: Sendable, Equatable {
    case redeemed(CreditEntry, balance: Micros)
    case unknown
    case expired
    case exhausted
    case alreadyRedeemed
}

public protocol CreditRepository: Sendable {
    /// The organization's account, created with the free grant (one `grant` entry) if it has none yet.
    func openAccount(_ organization: OrganizationID, freeGrant: Micros, at date: Date) async throws -> BillingAccount
    /// Accounts of these organizations (those that have one).
    func accounts(_ organizations: [OrganizationID]) async throws -> [BillingAccount]
    /// Appends an entry and moves the balance with it, in one transaction; returns the new balance.
    func append(_ entry: CreditEntry) async throws -> Micros
    /// The ledger, newest first.
    func entries(of organization: OrganizationID, limit: Int) async throws -> [CreditEntry]
    /// The sum of every entry of the organization (for audits: it must equal the balance).
    func ledgerSum(of organization: OrganizationID) async throws -> Micros
    func setPlan(_ plan: String?, of organization: OrganizationID) async throws
    func setBudget(_ monthlyBudget: Micros?, alert: Micros?, of organization: OrganizationID) async throws
    /// What each owner (organization or key) has spent in `month` (`2026-11`), as committed.
    func monthlySpend(_ owners: [UUID], month: String) async throws -> [UUID: Micros]
    func notifications(of organization: OrganizationID, limit: Int) async throws -> [PlatformNotice]
    func insert(_ code: RedemptionCode) async throws
    /// Redeems in one transaction: the code's count, the redemption, the entry and the balance.
    func redeem(codeHash: String, organization: OrganizationID, at date: Date) async throws -> RedemptionOutcome
}

extension Micros {
    /// `self + other`, held at the ends of `Int64` instead of trapping: balances and reservations stay
    /// far inside it by the rules on amounts, and this keeps a rule that slips from stopping the process.
    public func clampedAdding(_ other: Micros) -> Micros {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    public func clampedSubtracting(_ other: Micros) -> Micros {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }

    public mutating func clampedAdd(_ other: Micros) { self = clampedAdding(other) }

    public mutating func clampedSubtract(_ other: Micros) { self = clampedSubtracting(other) }
}
