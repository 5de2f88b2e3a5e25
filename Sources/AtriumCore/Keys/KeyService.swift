import Foundation
import Synchronization

/// Creates, lists and revokes API keys, and authenticates `/v1` requests by key.
///
/// Authentication is on the hot path of every model call, so verified keys are cached by secret hash for
/// `cacheTTL`. A revocation clears this instance's cache at once; other instances notice when their
/// entry expires (seconds). `last_used_at` is collected in memory and written in batches.
public final class KeyService: Sendable {
    /// What a caller gets back once, at creation: the only time the secret is visible.
    public struct CreatedKey: Sendable {
        public var key: APIKey
        public var secret: String
    }

    public static let maxNameLength = 200

    private struct CacheEntry {
        var key: APIKey?
        var fetchedAt: Date
    }

    private let repository: any APIKeyRepository
    private let clock: any TimeSource
    private let cacheTTL: TimeInterval
    private let cache = Mutex<[String: CacheEntry]>([:])
    private let pendingTouches = Mutex<Set<APIKeyID>>([])

    public init(repository: any APIKeyRepository, clock: any TimeSource = SystemTimeSource(), cacheTTL: TimeInterval = 5) {
        self.repository = repository
        self.clock = clock
        self.cacheTTL = cacheTTL
    }

    public func create(
        organization: OrganizationID, createdBy: UserID, name: String, scopes: [APIKeyScope]?, expiresAt: Date?
    ) async throws -> CreatedKey {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw AtriumError.invalidRequest("A key needs a name.", param: "name") }
        guard trimmed.count <= Self.maxNameLength else {
            throw AtriumError.invalidRequest("A key name is at most \(Self.maxNameLength) characters.", param: "name")
        }
        let now = clock.now()
        if let expiresAt, expiresAt <= now {
            throw AtriumError.invalidRequest("expires_at must be in the future.", param: "expires_at")
        }
        let scopes = scopes ?? APIKeyScope.all
        guard !scopes.isEmpty else {
            throw AtriumError.invalidRequest("A key needs at least one scope.", param: "scopes")
        }
        let secret = APIKeyFormat.generate()
        let key = APIKey(
            id: .generate(), organizationID: organization, createdBy: createdBy, name: trimmed,
            displayPrefix: APIKeyFormat.displayPrefix(of: secret), secretHash: Secrets.sha256Hex(secret),
            scopes: Array(Set(scopes)).sorted { $0.rawValue < $1.rawValue }, createdAt: now, expiresAt: expiresAt
        )
        try await repository.insert(key)
        return CreatedKey(key: key, secret: secret)
    }

    public func list(organization: OrganizationID) async throws -> [APIKey] {
        try await repository.list(organization: organization)
    }

    /// One key of the organization, nil when it has no such key.
    public func key(id: APIKeyID, organization: OrganizationID) async throws -> APIKey? {
        try await repository.find(id: id, organization: organization)
    }

    public func revoke(id: APIKeyID, organization: OrganizationID) async throws {
        guard try await repository.revoke(id: id, organization: organization, at: clock.now()) else {
            throw AtriumError.notFound("No API key with id \(id).")
        }
        cache.withLock { entries in entries = entries.filter { $0.value.key?.id != id } }
    }

    /// Keys by the start of their secret as shown (`atr_Ab12…`), for staff (the caller checks the role);
    /// at least the 4 characters after `atr_`, so a search cannot list every key.
    public func keys(prefix raw: String) async throws -> [APIKey] {
        let prefix = raw.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "…", with: "")
        guard prefix.hasPrefix(APIKeyFormat.prefix), prefix.count >= APIKeyFormat.prefix.count + 4 else { return [] }
        return try await repository.find(prefix: String(prefix.prefix(APIKeyFormat.prefix.count + 8)), limit: 50)
    }

    /// Revokes every key `user` created (their account is being deleted).
    public func revokeAll(createdBy user: UserID) async throws {
        let revoked = Set(try await repository.revokeAll(createdBy: user, at: clock.now()))
        cache.withLock { entries in entries = entries.filter { entry in entry.value.key.map { !revoked.contains($0.id) } ?? true } }
    }

    /// Revokes a key of any organization among `memberships` (the actor's): owners and admins may revoke
    /// any key of theirs, members only the keys they created. `notFound` when none of them has it.
    public func revoke(id: APIKeyID, by actor: UserID, memberships: [OrganizationMembership]) async throws {
        for membership in memberships {
            guard let key = try await repository.find(id: id, organization: membership.organization.id), key.revokedAt == nil else { continue }
            guard membership.role.canManage || key.createdBy == actor else {
                throw AtriumError.permissionDenied("Only owners and admins can revoke keys that others created.")
            }
            try await revoke(id: id, organization: membership.organization.id)
            return
        }
        throw AtriumError.notFound("No API key with id \(id).")
    }

    /// Sets a key's own limits: rate limits and a monthly budget (nil fields: none beyond the
    /// organization's).
    public func setLimits(_ limit: RateLimit, monthlyBudget: Micros?, id: APIKeyID, organization: OrganizationID) async throws -> APIKey {
        for (value, param) in [(limit.requestsPerMinute, "requests_per_minute"), (limit.tokensPerMinute, "tokens_per_minute")] {
            if let value, !(1...1_000_000_000).contains(value) {
                throw AtriumError.invalidRequest("\(param) must be between 1 and 1000000000, or null.", param: param)
            }
        }
        if let monthlyBudget, !(0...CreditService.maxAmount).contains(monthlyBudget) {
            throw AtriumError.invalidRequest("monthly_budget_micros must be between 0 and \(CreditService.maxAmount), or null.", param: "monthly_budget_micros")
        }
        guard var key = try await repository.find(id: id, organization: organization), key.revokedAt == nil else {
            throw AtriumError.notFound("No API key with id \(id).")
        }
        try await repository.setLimits(limit, monthlyBudget: monthlyBudget, id: id, organization: organization)
        key.rateLimit = limit
        key.monthlyBudget = monthlyBudget
        cache.withLock { entries in
            for (hash, entry) in entries where entry.key?.id == id {
                entries[hash]?.key?.rateLimit = limit
                entries[hash]?.key?.monthlyBudget = monthlyBudget
            }
        }
        return key
    }

    public static let maxRestrictions = 100

    /// Limits a key to some models and some client networks (nil: no restriction of that kind).
    public func setRestrictions(models: [String]?, networks: [IPNetwork]?, id: APIKeyID, organization: OrganizationID) async throws -> APIKey {
        let models = models.map { Array(Set($0.map { $0.trimmingCharacters(in: .whitespaces) })).sorted() }
        if let models {
            guard !models.isEmpty, models.count <= Self.maxRestrictions, models.allSatisfy({ !$0.isEmpty && $0.count <= 200 && !$0.contains(where: \.isNewline) }) else {
                throw AtriumError.invalidRequest(
                    "allowed_models holds 1 to \(Self.maxRestrictions) model names (or null for every model).", param: "allowed_models")
            }
        }
        let networks = networks.map { Array(Set($0)).sorted { $0.description < $1.description } }
        if let networks {
            guard !networks.isEmpty, networks.count <= Self.maxRestrictions else {
                throw AtriumError.invalidRequest(
                    "allowed_networks holds 1 to \(Self.maxRestrictions) CIDR ranges (or null for anywhere).", param: "allowed_networks")
            }
        }
        guard var key = try await repository.find(id: id, organization: organization), key.revokedAt == nil else {
            throw AtriumError.notFound("No API key with id \(id).")
        }
        try await repository.setRestrictions(models: models, networks: networks, id: id, organization: organization)
        key.allowedModels = models
        key.allowedNetworks = networks
        cache.withLock { entries in
            for (hash, entry) in entries where entry.key?.id == id {
                entries[hash]?.key?.allowedModels = models
                entries[hash]?.key?.allowedNetworks = networks
            }
        }
        return key
    }

    /// The principal for a bearer secret, or `AtriumError.unauthenticated`.
    public func authenticate(secret: String) async throws -> KeyPrincipal {
        guard APIKeyFormat.isWellFormed(secret) else { throw Self.invalidKey(secret) }
        let hash = Secrets.sha256Hex(secret)
        let now = clock.now()
        let cached = cache.withLock { entries -> CacheEntry? in
            guard let entry = entries[hash], now.timeIntervalSince(entry.fetchedAt) < cacheTTL else { return nil }
            return entry
        }
        let key: APIKey?
        if let cached {
            key = cached.key
        } else {
            key = try await repository.find(secretHash: hash)
            cache.withLock { entries in remember(CacheEntry(key: key, fetchedAt: now), for: hash, in: &entries) }
        }
        guard let key, key.revokedAt == nil else { throw Self.invalidKey(secret) }
        if let expiresAt = key.expiresAt, expiresAt <= now {
            throw AtriumError.unauthenticated("The API key \(APIKeyFormat.masked(secret)) has expired.", code: "expired_api_key")
        }
        pendingTouches.withLock { _ = $0.insert(key.id) }
        return key.principal
    }

    /// The principal for a secret whose verification is still cached and valid, without waiting: nil
    /// whenever the answer needs the database or is a refusal (callers then take the full path).
    public func cachedPrincipal(secret: String) -> KeyPrincipal? {
        Self.digest(of: secret).flatMap(cachedPrincipal(digest:))
    }

    /// What the store and the cache know a well-formed secret by (its SHA-256); nil for a malformed one.
    public static func digest(of secret: String) -> String? {
        APIKeyFormat.isWellFormed(secret) ? Secrets.sha256Hex(secret) : nil
    }

    /// `cachedPrincipal(secret:)` for a secret's `digest(of:)`, which a caller that sees the same secret
    /// again and again (a connection's requests) keeps instead of checking and hashing it each time.
    public func cachedPrincipal(digest hash: String) -> KeyPrincipal? {
        let now = clock.now()
        let key = cache.withLock { entries -> APIKey? in
            guard let entry = entries[hash], now.timeIntervalSince(entry.fetchedAt) < cacheTTL else { return nil }
            return entry.key
        }
        guard let key, key.isUsable(at: now) else { return nil }
        pendingTouches.withLock { _ = $0.insert(key.id) }
        return key.principal
    }

    /// Caches one verification, keeping the cache bounded: a client that sends endless well-formed but
    /// unknown secrets must not grow it without end. Past `maxCachedEntries`, expired entries go first,
    /// then the refusals, then all of it (the next requests verify afresh).
    private func remember(_ entry: CacheEntry, for hash: String, in entries: inout [String: CacheEntry]) {
        if entries.count >= Self.maxCachedEntries, entries[hash] == nil {
            entries = entries.filter { entry.fetchedAt.timeIntervalSince($0.value.fetchedAt) < cacheTTL }
            if entries.count >= Self.maxCachedEntries { entries = entries.filter { $0.value.key != nil } }
            if entries.count >= Self.maxCachedEntries { entries.removeAll(keepingCapacity: true) }
        }
        entries[hash] = entry
    }

    static let maxCachedEntries = 10_000

    /// How many verifications are cached now (for tests).
    var cachedEntries: Int { cache.withLock { $0.count } }

    /// Writes the `last_used_at` of keys used since the last flush.
    public func flushUsage() async throws {
        let keys = pendingTouches.withLock { pending -> [APIKeyID] in
            defer { pending.removeAll() }
            return Array(pending)
        }
        guard !keys.isEmpty else { return }
        try await repository.touch(keys, at: clock.now())
    }

    private static func invalidKey(_ secret: String) -> AtriumError {
        .unauthenticated("Incorrect API key provided: \(APIKeyFormat.masked(secret)).", code: "invalid_api_key")
    }
}
