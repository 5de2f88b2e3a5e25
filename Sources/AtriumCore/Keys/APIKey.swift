import Foundation

/// What an API key may do. Mirrors OpenAI's project-key permissions.
public enum APIKeyScope: String, Codable, Sendable, CaseIterable {
    /// List and read models.
    case modelRead = "model.read"
    /// Call the models: chat completions, completions, embeddings.
    case modelRequest = "model.request"

    public static let all: [APIKeyScope] = allCases
}

/// An API key as stored: never its secret, only the SHA-256 of it.
public struct APIKey: Sendable, Codable, Equatable {
    public var id: APIKeyID
    public var organizationID: OrganizationID
    public var createdBy: UserID
    public var name: String
    /// `atr_` and the first 8 characters of the secret, so an owner can tell keys apart.
    public var displayPrefix: String
    public var secretHash: String
    public var scopes: [APIKeyScope]
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// Overrides of the plan's limits for this key alone (the organization's limits apply as well).
    public var rateLimit: RateLimit
    /// The most this key may spend in a calendar month (UTC), in micro-units; nil: no cap of its own.
    public var monthlyBudget: Micros?
    /// The models this key may call and see; nil: every model.
    public var allowedModels: [String]?
    /// The client addresses this key works from; nil: anywhere.
    public var allowedNetworks: [IPNetwork]?

    public init(
        id: APIKeyID, organizationID: OrganizationID, createdBy: UserID, name: String, displayPrefix: String,
        secretHash: String, scopes: [APIKeyScope], createdAt: Date, lastUsedAt: Date? = nil,
        expiresAt: Date? = nil, revokedAt: Date? = nil, rateLimit: RateLimit = .unlimited, monthlyBudget: Micros? = nil,
        allowedModels: [String]? = nil, allowedNetworks: [IPNetwork]? = nil
    ) {
        self.id = id
        self.organizationID = organizationID
        self.createdBy = createdBy
        self.name = name
        self.displayPrefix = displayPrefix
        self.secretHash = secretHash
        self.scopes = scopes
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.rateLimit = rateLimit
        self.monthlyBudget = monthlyBudget
        self.allowedModels = allowedModels
        self.allowedNetworks = allowedNetworks
    }

    public var principal: KeyPrincipal {
        KeyPrincipal(
            keyID: id, organizationID: organizationID, scopes: scopes, expiresAt: expiresAt, rateLimit: rateLimit, monthlyBudget: monthlyBudget,
            allowedModels: allowedModels.map(Set.init), allowedNetworks: allowedNetworks)
    }

    public func isUsable(at date: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > date } ?? true)
    }
}

/// The identity behind an authenticated `/v1` request.
public struct KeyPrincipal: Sendable, Equatable {
    public var keyID: APIKeyID
    public var organizationID: OrganizationID
    public var scopes: [APIKeyScope]
    public var expiresAt: Date?
    public var rateLimit: RateLimit
    public var monthlyBudget: Micros?
    /// nil: every model.
    public var allowedModels: Set<String>?
    /// nil: any client address.
    public var allowedNetworks: [IPNetwork]?

    public init(
        keyID: APIKeyID, organizationID: OrganizationID, scopes: [APIKeyScope], expiresAt: Date?, rateLimit: RateLimit = .unlimited,
        monthlyBudget: Micros? = nil, allowedModels: Set<String>? = nil, allowedNetworks: [IPNetwork]? = nil
    ) {
        self.keyID = keyID
        self.organizationID = organizationID
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.rateLimit = rateLimit
        self.monthlyBudget = monthlyBudget
        self.allowedModels = allowedModels
        self.allowedNetworks = allowedNetworks
    }

    public func allows(_ scope: APIKeyScope) -> Bool { scopes.contains(scope) }

    /// Whether the key may call and see `model`.
    public func permits(model: String) -> Bool { allowedModels?.contains(model) ?? true }

    /// Whether the key works from the client at `address` (asked for only when the key is restricted:
    /// `address` is evaluated lazily, so an unrestricted key costs nothing here).
    public func permits(address: @autoclosure () -> String?) -> Bool {
        guard let allowedNetworks else { return true }
        guard let address = address() else { return false }
        return allowedNetworks.contains { $0.contains(address) }
    }

    /// `permissionDenied` (OpenAI's 403) naming what the key may not do.
    public func requirePermits(model: String) throws {
        guard permits(model: model) else {
            throw AtriumError.permissionDenied("This API key may not use the model `\(model.prefix(200))`.", code: "model_not_allowed")
        }
    }

    public func requirePermits(address: String?) throws {
        guard permits(address: address) else {
            throw AtriumError.permissionDenied(
                "This API key may not be used from \(address ?? "an unknown address"): it is limited to some IP ranges.", code: "ip_not_allowed")
        }
    }
}
