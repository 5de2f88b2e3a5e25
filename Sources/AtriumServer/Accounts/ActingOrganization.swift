import AtriumCore

extension AccountService {
    /// The organization a management request acts in, from its `organization_id` (a query parameter or
    /// body field): the one named, if the user is a member, else the user's personal organization.
    func acting(_ organizationID: String?, user: UserID) async throws -> OrganizationMembership {
        guard let organizationID else { return try await actingOrganization(nil, user: user) }
        guard let id = OrganizationID(organizationID) else {
            throw AtriumError.notFound("No organization with id \(organizationID.prefix(64)).")
        }
        return try await actingOrganization(id, user: user)
    }
}

extension AccountService {
    /// The organization a page acts in: the one the reader chose, while they are still its member;
    /// else their personal organization.
    func acting(chosen: OrganizationID?, user: UserID) async throws -> OrganizationMembership {
        if let chosen, let membership = try? await organization(chosen, seenBy: user) { return membership }
        return try await actingOrganization(nil, user: user)
    }
}

extension SignedInPageContext {
    func actingOrganization(_ accounts: AccountService) async throws -> OrganizationMembership {
        try await accounts.acting(chosen: page.chosenOrganization, user: user.id)
    }
}
