import AtriumCore
import Hummingbird

/// `/api/organizations`: the organizations a user belongs to and their members.
struct OrganizationController {
    let accounts: AccountService
    let maxBodyBytes: Int

    struct CreateRequest: Decodable { var name: String }
    struct AddMemberRequest: Decodable {
        var email: String
        var role: OrganizationRole?
    }

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.get(use: list)
        group.post(use: create)
        group.get(":organization", use: show)
        group.get(":organization/members", use: members)
        group.post(":organization/members", use: addMember)
        group.delete(":organization/members/:user", use: removeMember)
    }

    @Sendable func list(_ request: Request, context: UserRequestContext) async throws -> ListDTO<OrganizationDTO> {
        ListDTO(data: try await accounts.organizations(of: context.user.id).map(OrganizationDTO.init))
    }

    @Sendable func create(_ request: Request, context: UserRequestContext) async throws -> Response {
        let body = try await JSONRequest.decode(CreateRequest.self, from: request, limit: maxBodyBytes)
        let organization = try await accounts.createOrganization(name: body.name, owner: context.user.id)
        return try APICoding.response(OrganizationDTO(OrganizationMembership(organization: organization, role: .owner)), status: .created)
    }

    @Sendable func show(_ request: Request, context: UserRequestContext) async throws -> OrganizationDTO {
        OrganizationDTO(try await accounts.organization(try context.organizationID(), seenBy: context.user.id))
    }

    @Sendable func members(_ request: Request, context: UserRequestContext) async throws -> ListDTO<MemberDTO> {
        ListDTO(data: try await accounts.members(of: try context.organizationID(), seenBy: context.user.id).map(MemberDTO.init))
    }

    @Sendable func addMember(_ request: Request, context: UserRequestContext) async throws -> Response {
        let organization = try context.organizationID()
        let body = try await JSONRequest.decode(AddMemberRequest.self, from: request, limit: maxBodyBytes)
        let member = try await accounts.addMember(email: body.email, role: body.role ?? .member, to: organization, by: context.user.id)
        return try APICoding.response(MemberDTO(member), status: .created)
    }

    @Sendable func removeMember(_ request: Request, context: UserRequestContext) async throws -> Response {
        let organization = try context.organizationID()
        guard let user = context.parameters.get("user").flatMap(UserID.init) else {
            throw AtriumError.notFound("No member with that id.")
        }
        try await accounts.removeMember(user, from: organization, by: context.user.id)
        return Response(status: .noContent)
    }
}

extension UserRequestContext {
    /// The `:organization` path parameter; a malformed id is simply not found.
    func organizationID() throws -> OrganizationID {
        guard let id = parameters.get("organization").flatMap(OrganizationID.init) else {
            throw AtriumError.notFound("No organization with that id.")
        }
        return id
    }
}
