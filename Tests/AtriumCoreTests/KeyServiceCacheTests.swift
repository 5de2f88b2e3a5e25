import Foundation
import Synchronization
import Testing

@testable import AtriumCore

/// A key store that knows no key: every secret is refused, as for a client guessing.
private struct NoKeys: APIKeyRepository {
    func insert(_ key: APIKey) async throws {}
    func list(organization: OrganizationID) async throws -> [APIKey] { [] }
    func find(id: APIKeyID, organization: OrganizationID) async throws -> APIKey? { nil }
    func find(secretHash: String) async throws -> APIKey? { nil }
    func revoke(id: APIKeyID, organization: OrganizationID, at date: Date) async throws -> Bool { false }
    func revokeAll(createdBy user: UserID, at date: Date) async throws -> [APIKeyID] { [] }
    func find(prefix: String, limit: Int) async throws -> [APIKey] { [] }
    func setLimits(_ limit: RateLimit, monthlyBudget: Micros?, id: APIKeyID, organization: OrganizationID) async throws {}
    func setRestrictions(models: [String]?, networks: [IPNetwork]?, id: APIKeyID, organization: OrganizationID) async throws {}
    func touch(_ keys: [APIKeyID], at date: Date) async throws {}
}

private struct FixedTime: TimeSource {
    func now() -> Date { Date(timeIntervalSince1970: 1_800_000_000) }
}

@Suite struct KeyServiceCacheTests {
    /// Endless well-formed unknown secrets (a scan, or a client with a broken key) keep the cache of
    /// verifications bounded, even when every entry is still fresh.
    @Test func unknownSecretsDoNotGrowTheCacheWithoutEnd() async {
        let service = KeyService(repository: NoKeys(), clock: FixedTime(), cacheTTL: 60)
        for _ in 0..<(KeyService.maxCachedEntries + 500) {
            await #expect(throws: AtriumError.self) { try await service.authenticate(secret: APIKeyFormat.generate()) }
        }
        #expect(service.cachedEntries <= KeyService.maxCachedEntries)
        #expect(service.cachedEntries > 0)
    }
}
