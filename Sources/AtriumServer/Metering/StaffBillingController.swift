import AtriumCore
import Foundation
import Hummingbird

/// `/api/admin/…`: what platform administrators do with credit — grants, redemption codes, plans.
struct StaffBillingController {
    let actions: StaffActions
    let maxBodyBytes: Int

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.post("credits", use: grant)
        group.post("redemption-codes", use: createCode)
        group.put("organizations/:organization/plan", use: setPlan)
    }

    struct GrantRequest: Decodable {
        var organizationId: String
        var amountMicros: Int64
        var kind: String?
        var description: String?
    }

    struct GrantedDTO: ResponseCodable {
        var object = "credit.grant"
        var organizationId: String
        var kind: String
        var amountMicros: Int64
        var balanceMicros: Int64
    }

    @Sendable func grant(_ request: Request, context: UserRequestContext) async throws -> GrantedDTO {
        try StaffActions.requireAdmin(context.user)
        let body = try await JSONRequest.decode(GrantRequest.self, from: request, limit: maxBodyBytes)
        let organization = try Self.organization(body.organizationId)
        let kindName = body.kind ?? CreditKind.grant.rawValue
        guard let kind = CreditKind(rawValue: kindName) else {
            throw AtriumError.invalidRequest("kind must be grant, topup, reward or adjustment.", param: "kind")
        }
        let balance = try await actions.grant(
            kind, amount: body.amountMicros, to: organization, description: body.description ?? "Granted by staff", by: context.user,
            address: context.clientAddress)
        return GrantedDTO(organizationId: organization.description, kind: kind.rawValue, amountMicros: body.amountMicros, balanceMicros: balance)
    }

    struct CodeRequest: Decodable {
        var amountMicros: Int64
        var maxRedemptions: Int?
        var expiresAt: Date?
    }

    struct CodeDTO: ResponseCodable {
        var object = "credit.redemption_code"
        var id: String
        /// Shown once.
        var code: String
        var amountMicros: Int64
        var maxRedemptions: Int
        var expiresAt: Date?
    }

    @Sendable func createCode(_ request: Request, context: UserRequestContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        let body = try await JSONRequest.decode(CodeRequest.self, from: request, limit: maxBodyBytes)
        let created = try await actions.createCode(
            amount: body.amountMicros, maxRedemptions: body.maxRedemptions ?? 1, expiresAt: body.expiresAt, by: context.user,
            address: context.clientAddress)
        return try APICoding.response(
            CodeDTO(
                id: created.code.id.hexString(), code: created.secret, amountMicros: created.code.amountMicros,
                maxRedemptions: created.code.maxRedemptions, expiresAt: created.code.expiresAt),
            status: .created)
    }

    struct PlanRequest: Decodable {
        /// null or "default": the default plan.
        var plan: String?
    }

    @Sendable func setPlan(_ request: Request, context: UserRequestContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        let organization = try Self.organization(context.parameters.get("organization") ?? "")
        let body = try await JSONRequest.decode(PlanRequest.self, from: request, limit: maxBodyBytes)
        try await actions.setPlan(body.plan, of: organization, by: context.user, address: context.clientAddress)
        return Response(status: .noContent)
    }

    private static func organization(_ raw: String) throws -> OrganizationID {
        guard let id = OrganizationID(raw) else { throw AtriumError.notFound("No organization with id \(raw.prefix(64)).") }
        return id
    }
}
