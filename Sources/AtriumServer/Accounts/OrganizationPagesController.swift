import AtriumCore
import Foundation
import Hummingbird

/// `/organizations`: the reader's organizations (switch the one the pages act in, create one), and one
/// organization's members: invite by email or by link, change roles, remove, leave. `/invitations/<token>`
/// accepts an invitation. The rules are `OrganizationMembers`'s and `AccountService`'s, as for `/api`.
struct OrganizationPagesController {
    static let cookieName = "atrium_org"

    let accounts: AccountService
    let members: OrganizationMembers
    let renderer: PageRenderer
    let publicURL: String
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("organizations", use: list)
        router.post("organizations", use: create)
        router.post("organizations/switch", use: switchTo)
        router.get("organizations/:organization", use: show)
        router.post("organizations/:organization/invitations", use: invite)
        router.post("organizations/:organization/invitations/:invitation/revoke", use: revokeInvitation)
        router.post("organizations/:organization/members/:user/role", use: setRole)
        router.post("organizations/:organization/members/:user/remove", use: remove)
        router.post("organizations/:organization/leave", use: leave)
        router.get("invitations/:token", use: invitation)
        router.post("invitations/:token/accept", use: accept)
    }

    // MARK: The list

    @Sendable func list(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try await listPage(context)
    }

    @Sendable func create(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let name = context.form.trimmed("name")
        guard !name.isEmpty else { return try await listPage(context, name: "", error: text("form_errors.required", context)) }
        do {
            let organization = try await accounts.createOrganization(name: name, owner: context.user.id)
            return choosing(organization.id, redirectTo: "/organizations/\(organization.id)")
        } catch let error as AtriumError {
            return try await listPage(context, name: String(name.prefix(AccountRules.maxNameLength)), error: renderer.catalog.formError(error, context.language))
        }
    }

    @Sendable func switchTo(_ request: Request, context: SignedInPageContext) async throws -> Response {
        guard let id = OrganizationID(context.form.trimmed("organization")) else { throw HTTPError(.notFound) }
        _ = try await accounts.organization(id, seenBy: context.user.id)
        return choosing(id, redirectTo: SafeRedirect.local(context.form["next"], otherwise: "/dashboard"))
    }

    // MARK: One organization

    @Sendable func show(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let done = request.uri.queryParameters["done"].map(String.init).flatMap { Self.doneMessages.contains($0) ? $0 : nil }
        return try await organizationPage(try Self.organizationID(context), context, done: done)
    }

    @Sendable func invite(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let id = try Self.organizationID(context)
        let email = context.form.trimmed("email")
        let role = OrganizationRole(rawValue: context.form.trimmed("role")) ?? .member
        do {
            let (invitation, token) = try await members.invite(
                email: email.isEmpty ? nil : email, role: role, to: id, by: context.user, language: context.language.rawValue)
            if invitation.email != nil { return Self.redirect("/organizations/\(id)?done=invited") }
            // A link invitation: its link is on this answer only.
            var response = try await organizationPage(id, context, newLink: "\(publicURL)/invitations/\(token)", status: .created)
            response.headers[.cacheControl] = "no-store"
            return response
        } catch let error as AtriumError where Self.isFormMistake(error) {
            return try await organizationPage(id, context, inviteEmail: String(email.prefix(AccountRules.maxEmailLength)), inviteError: renderer.catalog.formError(error, context.language))
        }
    }

    @Sendable func revokeInvitation(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let id = try Self.organizationID(context)
        guard let invitation = context.parameters.get("invitation").flatMap(InvitationID.init) else { throw HTTPError(.notFound) }
        try await members.revokeInvitation(invitation, of: id, by: context.user.id)
        return Self.redirect("/organizations/\(id)?done=revoked")
    }

    @Sendable func setRole(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let id = try Self.organizationID(context)
        guard let user = context.parameters.get("user").flatMap(UserID.init), let role = OrganizationRole(rawValue: context.form.trimmed("role")) else {
            throw HTTPError(.notFound)
        }
        do {
            try await members.setRole(role, of: user, in: id, by: context.user.id)
        } catch let error as AtriumError where Self.isFormMistake(error) {
            return try await organizationPage(id, context, memberError: renderer.catalog.formError(error, context.language))
        }
        return Self.redirect("/organizations/\(id)?done=role")
    }

    @Sendable func remove(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let id = try Self.organizationID(context)
        guard let user = context.parameters.get("user").flatMap(UserID.init) else { throw HTTPError(.notFound) }
        do {
            try await accounts.removeMember(user, from: id, by: context.user.id)
        } catch let error as AtriumError where Self.isFormMistake(error) {
            return try await organizationPage(id, context, memberError: renderer.catalog.formError(error, context.language))
        }
        return Self.redirect("/organizations/\(id)?done=removed")
    }

    @Sendable func leave(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let id = try Self.organizationID(context)
        do {
            try await members.leave(id, user: context.user.id)
        } catch let error as AtriumError where Self.isFormMistake(error) {
            return try await organizationPage(id, context, memberError: renderer.catalog.formError(error, context.language))
        }
        var response = Self.redirect("/organizations")
        if context.page.chosenOrganization == id { response.setCookie(cookie(nil)) }
        return response
    }

    // MARK: Invitations

    struct InvitationPage {
        var token: String
        var organization: String
        var role: String
        var forEmail: String?
        var problem: String?
    }

    @Sendable func invitation(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let token = String((context.parameters.get("token") ?? "").prefix(128))
        do {
            let (invitation, organization) = try await members.invitation(token: token)
            let page = InvitationPage(
                token: token, organization: organization.name, role: text("organizations.roles.\(invitation.role.rawValue)", context),
                forEmail: invitation.email)
            var response = renderer.render(
                "organizations/invitation", titleKey: "organizations.invitation.title", titleValues: ["name": organization.name], model: page, state: context.page)
            response.headers[.cacheControl] = "no-store"
            return response
        } catch AtriumError.notFound {
            return renderer.notice("invalid_invitation", links: [("/organizations", "organizations.title")], state: context.page, status: .notFound)
        }
    }

    @Sendable func accept(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let token = String((context.parameters.get("token") ?? "").prefix(128))
        do {
            let organization = try await members.accept(token: token, by: context.user)
            return choosing(organization.id, redirectTo: "/organizations/\(organization.id)?done=joined")
        } catch AtriumError.notFound {
            return renderer.notice("invalid_invitation", links: [("/organizations", "organizations.title")], state: context.page, status: .notFound)
        } catch AtriumError.permissionDenied(_, "email_not_verified") {
            return renderer.notice(
                "email_not_verified", ["email": context.user.email], links: [("/account", "accounts.links.to_account")], state: context.page,
                status: .forbidden)
        } catch AtriumError.permissionDenied(_, "invitation_for_another_address") {
            let (invitation, organization) = try await members.invitation(token: token)
            let page = InvitationPage(
                token: token, organization: organization.name, role: text("organizations.roles.\(invitation.role.rawValue)", context),
                forEmail: invitation.email,
                problem: text("organizations.invitation.other_address", context, ["email": invitation.email ?? "", "me": context.user.email]))
            return renderer.render(
                "organizations/invitation", titleKey: "organizations.invitation.title", titleValues: ["name": organization.name], model: page,
                state: context.page, status: .forbidden)
        }
    }

    // MARK: Helpers

    static let doneMessages: Set<String> = ["invited", "revoked", "role", "removed", "joined"]

    /// Mistakes a person can fix on the form (as opposed to a page they may not see at all).
    static func isFormMistake(_ error: AtriumError) -> Bool {
        switch error {
        case .invalidRequest, .conflict, .rateLimited, .permissionDenied: true
        default: false
        }
    }

    func choosing(_ organization: OrganizationID, redirectTo location: String) -> Response {
        var response = Self.redirect(location)
        response.setCookie(cookie(organization))
        return response
    }

    private func cookie(_ organization: OrganizationID?) -> Cookie {
        Cookie(
            name: Self.cookieName, value: organization?.description ?? "", maxAge: organization == nil ? 0 : 365 * 86400, path: "/",
            secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    static func organizationID(_ context: SignedInPageContext) throws -> OrganizationID {
        guard let id = context.parameters.get("organization").flatMap(OrganizationID.init) else { throw HTTPError(.notFound) }
        return id
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
