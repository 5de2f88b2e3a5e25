import Foundation

/// Storage of API keys. Every read of an owned key is scoped to its organization here, not in a controller.
public protocol APIKeyRepository: Sendable {
    func insert(_ key: APIKey) async throws
    func list(organization: OrganizationID) async throws -> [APIKey]
    func find(id: APIKeyID, organization: OrganizationID) async throws -> APIKey?
    /// The key with this secret hash, whatever its state; nil when none.
    func find(secretHash: String) async throws -> APIKey?
    /// Marks the key revoked; false when no such key belongs to the organization.
    func revoke(id: APIKeyID, organization: OrganizationID, at date: Date) async throws -> Bool
    /// Keys whose display prefix starts with `prefix` (staff finding a leaked key), newest first.
    func find(prefix: String, limit: Int) async throws -> [APIKey]
    /// Revokes every live key `user` created, in any organization; returns their ids.
    func revokeAll(createdBy user: UserID, at date: Date) async throws -> [APIKeyID]
    func setLimits(_ limit: RateLimit, monthlyBudget: Micros?, id: APIKeyID, organization: OrganizationID) async throws
    func setRestrictions(models: [String]?, networks: [IPNetwork]?, id: APIKeyID, organization: OrganizationID) async throws
    /// Records that these keys were used (batched, best effort).
    func touch(_ keys: [APIKeyID], at date: Date) async throws
}
