import AtriumCore
import Foundation
import Hummingbird

/// `/api/keys`: create (the secret is shown once), list, limit, restrict and revoke API keys of an
/// organization.
struct KeyController {
    let keys: KeyService
    let accounts: AccountService
    let maxBodyBytes: Int

    struct CreateRequest: Decodable {
        var name: String
        var scopes: [String]?
        var expiresAt: Date?
        var organizationId: String?
    }

    struct KeyDTO: ResponseCodable {
        var object = "api_key"
        var id: String
        var organizationId: String
        var name: String
        var prefix: String
        var scopes: [String]
        var createdAt: Date
        var lastUsedAt: Date?
        var expiresAt: Date?
        var rateLimits: RateLimitDTO
        var monthlyBudgetMicros: Int64?
        var allowedModels: [String]?
        var allowedNetworks: [String]?
        /// Only in the answer to a creation.
        var secret: String?

        init(_ key: APIKey, secret: String? = nil) {
            self.id = key.id.description
            self.organizationId = key.organizationID.description
            self.name = key.name
            self.prefix = key.displayPrefix
            self.scopes = key.scopes.map(\.rawValue)
            self.createdAt = key.createdAt
            self.lastUsedAt = key.lastUsedAt
            self.expiresAt = key.expiresAt
            self.rateLimits = RateLimitDTO(requestsPerMinute: key.rateLimit.requestsPerMinute, tokensPerMinute: key.rateLimit.tokensPerMinute)
            self.monthlyBudgetMicros = key.monthlyBudget
            self.allowedModels = key.allowedModels
            self.allowedNetworks = key.allowedNetworks?.map(\.description)
            self.secret = secret
        }
    }

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.post(use: create)
        group.get(use: list)
        group.delete(":key", use: revoke)
        group.patch(":key", use: update)
    }

    /// A change of a key's limits: the fields present are set (null removes a limit), the others kept.
    struct UpdateRequest: Decodable {
        var organizationId: String?
        var rateLimits: RateLimit?
        var monthlyBudgetMicros: Micros??
        var allowedModels: [String]??
        var allowedNetworks: [String]??

        enum CodingKeys: String, CodingKey { case organizationId, rateLimits, monthlyBudgetMicros, allowedModels, allowedNetworks }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            organizationId = try container.decodeIfPresent(String.self, forKey: .organizationId)
            rateLimits = try container.decodeIfPresent(RateLimit.self, forKey: .rateLimits)
            monthlyBudgetMicros = try container.decodeChange(Micros.self, forKey: .monthlyBudgetMicros)
            allowedModels = try container.decodeChange([String].self, forKey: .allowedModels)
            allowedNetworks = try container.decodeChange([String].self, forKey: .allowedNetworks)
        }
    }

    /// CIDR ranges as written, or `invalidRequest` naming the first that is not one.
    static func networks(_ texts: [String]) throws -> [IPNetwork] {
        try texts.map { text in
            guard let network = IPNetwork(text) else {
                throw AtriumError.invalidRequest(
                    "'\(text.prefix(64))' is not an IP address or CIDR range (such as 203.0.113.0/24 or 2001:db8::/32).", param: "allowed_networks")
            }
            return network
        }
    }

    /// Sets a key's own limits: `{"rate_limits": {"requests_per_minute": 60, "tokens_per_minute": null},
    /// "monthly_budget_micros": 5000000}`; owners and admins of the organization only.
    @Sendable func update(_ request: Request, context: UserRequestContext) async throws -> KeyDTO {
        guard let id = context.parameters.get("key").flatMap(APIKeyID.init) else {
            throw AtriumError.notFound("No API key with that id.")
        }
        let body = try await JSONRequest.decode(UpdateRequest.self, from: request, limit: maxBodyBytes)
        let membership = try await accounts.acting(body.organizationId, user: context.user.id)
        guard membership.role.canManage else {
            throw AtriumError.permissionDenied("Only owners and admins can change a key's limits.")
        }
        guard body.rateLimits != nil || body.monthlyBudgetMicros != nil || body.allowedModels != nil || body.allowedNetworks != nil else {
            throw AtriumError.invalidRequest(
                "Give at least one of rate_limits, monthly_budget_micros, allowed_models and allowed_networks.", param: "rate_limits")
        }
        let networks = try body.allowedNetworks.map { try $0.map(Self.networks) }
        guard var key = try await keys.key(id: id, organization: membership.organization.id) else {
            throw AtriumError.notFound("No API key with id \(id).")
        }
        if body.rateLimits != nil || body.monthlyBudgetMicros != nil {
            key = try await keys.setLimits(
                body.rateLimits ?? key.rateLimit, monthlyBudget: body.monthlyBudgetMicros ?? key.monthlyBudget,
                id: id, organization: membership.organization.id)
        }
        if body.allowedModels != nil || networks != nil {
            key = try await keys.setRestrictions(
                models: body.allowedModels ?? key.allowedModels, networks: networks ?? key.allowedNetworks, id: id,
                organization: membership.organization.id)
        }
        return KeyDTO(key)
    }

    @Sendable func create(_ request: Request, context: UserRequestContext) async throws -> Response {
        let body = try await JSONRequest.decode(CreateRequest.self, from: request, limit: maxBodyBytes)
        try accounts.requireVerifiedEmail(context.user)
        let organization = try await accounts.acting(body.organizationId, user: context.user.id)
        let scopes = try body.scopes.map { names in
            try names.map { name in
                guard let scope = APIKeyScope(rawValue: name) else {
                    throw AtriumError.invalidRequest(
                        "Unknown scope '\(name.prefix(50))'. Known scopes: \(APIKeyScope.allCases.map(\.rawValue).joined(separator: ", ")).",
                        param: "scopes")
                }
                return scope
            }
        }
        let created = try await keys.create(
            organization: organization.organization.id, createdBy: context.user.id, name: body.name, scopes: scopes,
            expiresAt: body.expiresAt)
        return try APICoding.response(KeyDTO(created.key, secret: created.secret), status: .created)
    }

    @Sendable func list(_ request: Request, context: UserRequestContext) async throws -> ListDTO<KeyDTO> {
        let organization = try await accounts.acting(request.uri.queryParameters.get("organization_id"), user: context.user.id)
        return ListDTO(data: try await keys.list(organization: organization.organization.id).map { KeyDTO($0) })
    }

    /// Revokes a key of any organization the user manages, or one they created themselves.
    @Sendable func revoke(_ request: Request, context: UserRequestContext) async throws -> Response {
        guard let id = context.parameters.get("key").flatMap(APIKeyID.init) else {
            throw AtriumError.notFound("No API key with that id.")
        }
        try await keys.revoke(id: id, by: context.user.id, memberships: try await accounts.organizations(of: context.user.id))
        return Response(status: .noContent)
    }
}

/// A key's own limits; null fields are no limit beyond the organization's. (Nulls are written out.)
struct RateLimitDTO: Codable, Sendable {
    var requestsPerMinute: Int?
    var tokensPerMinute: Int?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(requestsPerMinute, forKey: .requestsPerMinute)
        try container.encode(tokensPerMinute, forKey: .tokensPerMinute)
    }
}
