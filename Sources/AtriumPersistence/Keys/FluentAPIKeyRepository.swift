import AtriumCore
import FluentKit
import SQLKit
import Foundation

final class APIKeyModel: Model, @unchecked Sendable {  // see AccountModels.swift for why unchecked is safe
    static let schema = "api_keys"

    @ID(key: .id) var id: UUID?
    @Field(key: "organization_id") var organizationID: UUID
    @Field(key: "created_by") var createdBy: UUID
    @Field(key: "name") var name: String
    @Field(key: "display_prefix") var displayPrefix: String
    @Field(key: "secret_hash") var secretHash: String
    @Field(key: "scopes") var scopes: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    @OptionalField(key: "expires_at") var expiresAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?
    @OptionalField(key: "requests_per_minute") var requestsPerMinute: Int64?
    @OptionalField(key: "tokens_per_minute") var tokensPerMinute: Int64?
    @OptionalField(key: "monthly_budget_micros") var monthlyBudget: Int64?
    /// One model name a line; nil: every model.
    @OptionalField(key: "allowed_models") var allowedModels: String?
    /// One CIDR range a line; nil: anywhere.
    @OptionalField(key: "allowed_networks") var allowedNetworks: String?

    init() {}

    /// Fluent finds these by reflection on every row it reads or writes (`Fields.properties`), which
    /// was a fifth of a page listing a few hundred rows; `ModelPropertiesTests` checks they are all here.
    var properties: [any AnyProperty] { [$id, $organizationID, $createdBy, $name, $displayPrefix, $secretHash, $scopes, $createdAt, $lastUsedAt, $expiresAt, $revokedAt, $requestsPerMinute, $tokensPerMinute, $monthlyBudget, $allowedModels, $allowedNetworks] }

    init(_ key: APIKey) {
        self.id = key.id.raw
        self.organizationID = key.organizationID.raw
        self.createdBy = key.createdBy.raw
        self.name = key.name
        self.displayPrefix = key.displayPrefix
        self.secretHash = key.secretHash
        self.scopes = key.scopes.map(\.rawValue).joined(separator: " ")
        self.createdAt = key.createdAt
        self.lastUsedAt = key.lastUsedAt
        self.expiresAt = key.expiresAt
        self.revokedAt = key.revokedAt
        self.requestsPerMinute = key.rateLimit.requestsPerMinute.map(Int64.init)
        self.tokensPerMinute = key.rateLimit.tokensPerMinute.map(Int64.init)
        self.monthlyBudget = key.monthlyBudget
        self.allowedModels = key.allowedModels?.joined(separator: "\n")
        self.allowedNetworks = key.allowedNetworks?.map(\.description).joined(separator: "\n")
    }

    var domain: APIKey {
        APIKey(
            id: APIKeyID(raw: id!), organizationID: OrganizationID(raw: organizationID), createdBy: UserID(raw: createdBy),
            name: name, displayPrefix: displayPrefix, secretHash: secretHash,
            scopes: scopes.split(separator: " ").compactMap { APIKeyScope(rawValue: String($0)) },
            createdAt: createdAt, lastUsedAt: lastUsedAt, expiresAt: expiresAt, revokedAt: revokedAt,
            rateLimit: RateLimit(requestsPerMinute: requestsPerMinute.map(Int.init), tokensPerMinute: tokensPerMinute.map(Int.init)),
            monthlyBudget: monthlyBudget, allowedModels: allowedModels.map { $0.split(separator: "\n").map(String.init) },
            allowedNetworks: allowedNetworks.map { $0.split(separator: "\n").compactMap { IPNetwork(String($0)) } })
    }
}

public struct FluentAPIKeyRepository: APIKeyRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    public func insert(_ key: APIKey) async throws {
        try await APIKeyModel(key).create(on: database.database)
    }

    public func list(organization: OrganizationID) async throws -> [APIKey] {
        try await APIKeyModel.query(on: database.database)
            .filter(\.$organizationID == organization.raw)
            .filter(\.$revokedAt == nil)
            .sort(\.$createdAt, .descending)
            .all().map(\.domain)
    }

    public func find(id: APIKeyID, organization: OrganizationID) async throws -> APIKey? {
        try await APIKeyModel.query(on: database.database)
            .filter(\.$id == id.raw).filter(\.$organizationID == organization.raw).first()?.domain
    }

    public func find(secretHash: String) async throws -> APIKey? {
        try await APIKeyModel.query(on: database.database).filter(\.$secretHash == secretHash).first()?.domain
    }

    public func revoke(id: APIKeyID, organization: OrganizationID, at date: Date) async throws -> Bool {
        let db = database.database
        guard let model = try await APIKeyModel.query(on: db)
            .filter(\.$id == id.raw).filter(\.$organizationID == organization.raw).filter(\.$revokedAt == nil).first()
        else { return false }
        model.revokedAt = date
        try await model.update(on: db)
        return true
    }

    public func setRestrictions(models: [String]?, networks: [IPNetwork]?, id: APIKeyID, organization: OrganizationID) async throws {
        try await APIKeyModel.query(on: database.database)
            .filter(\.$id == id.raw).filter(\.$organizationID == organization.raw)
            .set(\.$allowedModels, to: models?.joined(separator: "\n"))
            .set(\.$allowedNetworks, to: networks?.map(\.description).joined(separator: "\n"))
            .update()
    }

    public func find(prefix: String, limit: Int) async throws -> [APIKey] {
        // `atr_` holds LIKE's `_`: escaped (with `\`, which SQLite and PostgreSQL both take when told).
        let escaped = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        let sql = database.database as! any SQLDatabase
        let ids = try await sql.raw("""
            SELECT id FROM api_keys WHERE display_prefix LIKE \(bind: escaped + "%") ESCAPE '\\' ORDER BY created_at DESC LIMIT \(literal: limit)
            """).all().map { try $0.decode(column: "id", as: UUID.self) }
        guard !ids.isEmpty else { return [] }
        return try await APIKeyModel.query(on: database.database).filter(\.$id ~~ ids).sort(\.$createdAt, .descending).all().map(\.domain)
    }

    public func revokeAll(createdBy user: UserID, at date: Date) async throws -> [APIKeyID] {
        let db = database.database
        let live = try await APIKeyModel.query(on: db).filter(\.$createdBy == user.raw).filter(\.$revokedAt == nil).all()
        guard !live.isEmpty else { return [] }
        let ids = live.compactMap(\.id)
        try await APIKeyModel.query(on: db).filter(\.$id ~~ ids).set(\.$revokedAt, to: date).update()
        return ids.map(APIKeyID.init(raw:))
    }

    public func setLimits(_ limit: RateLimit, monthlyBudget: Micros?, id: APIKeyID, organization: OrganizationID) async throws {
        try await APIKeyModel.query(on: database.database)
            .filter(\.$id == id.raw).filter(\.$organizationID == organization.raw)
            .set(\.$requestsPerMinute, to: limit.requestsPerMinute.map(Int64.init))
            .set(\.$tokensPerMinute, to: limit.tokensPerMinute.map(Int64.init))
            .set(\.$monthlyBudget, to: monthlyBudget)
            .update()
    }

    public func touch(_ keys: [APIKeyID], at date: Date) async throws {
        guard !keys.isEmpty else { return }
        try await APIKeyModel.query(on: database.database)
            .filter(\.$id ~~ keys.map(\.raw))
            .set(\.$lastUsedAt, to: date)
            .update()
    }
}
