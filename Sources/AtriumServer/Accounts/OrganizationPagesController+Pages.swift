import AtriumCore
import Foundation
import Hummingbird

/// The view models of the organization pages.
extension OrganizationPagesController {
    struct ListPage {
        struct Row {
            var id: String
            var href: String
            var name: String
            var role: String
            var personal: Bool
            var current: Bool
            var switchLabel: String
        }

        var rows: [Row]
        var name: String
        var nameError: String?
    }

    struct MemberPage {
        struct MemberRow {
            var id: String
            var name: String
            var email: String
            var role: String
            var roleName: String
            var joined: String
            var isMe: Bool
            var roles: [RoleChoice]
            var roleLabel: String
            var removeLabel: String
        }

        struct RoleChoice {
            var value: String
            var label: String
            var selected: Bool
        }

        struct InvitationRow {
            var id: String
            var to: String
            var role: String
            var expires: String
            var revokeLabel: String
        }

        var id: String
        var name: String
        var personal: Bool
        var myRole: String
        var canManage: Bool
        var members: [MemberRow]
        var invitations: [InvitationRow]
        var hasInvitations: Bool
        var inviteRoles: [RoleChoice]
        var inviteEmail: String
        var inviteError: String?
        var memberError: String?
        var newLink: String?
        var done: String?
        var current: Bool
    }

    func listPage(_ context: SignedInPageContext, name: String = "", error: String? = nil) async throws -> Response {
        let acting = try await context.actingOrganization(accounts)
        let rows = try await accounts.organizations(of: context.user.id).map { membership in
            ListPage.Row(
                id: membership.organization.id.description, href: "/organizations/\(membership.organization.id)",
                name: membership.organization.name, role: text("organizations.roles.\(membership.role.rawValue)", context),
                personal: membership.organization.isPersonal, current: membership.organization.id == acting.organization.id,
                switchLabel: text("organizations.switch_to", context, ["name": membership.organization.name]))
        }
        let page = ListPage(rows: rows, name: name, nameError: error)
        return renderer.render("organizations/list", titleKey: "organizations.title", model: page, state: context.page, status: error == nil ? .ok : .badRequest)
    }

    func organizationPage(
        _ id: OrganizationID, _ context: SignedInPageContext, done: String? = nil, newLink: String? = nil, inviteEmail: String = "",
        inviteError: String? = nil, memberError: String? = nil, status: HTTPResponse.Status? = nil
    ) async throws -> Response {
        let membership = try await accounts.organization(id, seenBy: context.user.id)
        let canManage = membership.role.canManage && !membership.organization.isPersonal
        let assignable: [OrganizationRole] = membership.role == .owner ? [.member, .admin, .owner] : [.member, .admin]
        func choices(_ selected: OrganizationRole) -> [MemberPage.RoleChoice] {
            assignable.map { MemberPage.RoleChoice(value: $0.rawValue, label: text("organizations.roles.\($0.rawValue)", context), selected: $0 == selected) }
        }
        let rows = try await accounts.members(of: id, seenBy: context.user.id).map { member in
            MemberPage.MemberRow(
                id: member.user.id.description, name: member.user.name, email: member.user.email, role: member.role.rawValue,
                roleName: text("organizations.roles.\(member.role.rawValue)", context), joined: PageFormat.date(member.joinedAt),
                isMe: member.user.id == context.user.id, roles: choices(member.role),
                roleLabel: text("organizations.role_of", context, ["name": member.user.name]),
                removeLabel: text("organizations.remove_named", context, ["name": member.user.name]))
        }
        let invitations = canManage ? try await members.pendingInvitations(of: id, seenBy: context.user.id) : []
        let chosen = try await context.actingOrganization(accounts).organization.id
        let page = MemberPage(
            id: id.description, name: membership.organization.name, personal: membership.organization.isPersonal,
            myRole: text("organizations.roles.\(membership.role.rawValue)", context), canManage: canManage, members: rows,
            invitations: invitations.map { invitation in
                MemberPage.InvitationRow(
                    id: invitation.id.description, to: invitation.email ?? text("organizations.by_link", context),
                    role: text("organizations.roles.\(invitation.role.rawValue)", context), expires: PageFormat.date(invitation.expiresAt),
                    revokeLabel: text("organizations.revoke_invitation", context, ["to": invitation.email ?? text("organizations.by_link", context)]))
            },
            hasInvitations: !invitations.isEmpty, inviteRoles: choices(.member), inviteEmail: inviteEmail, inviteError: inviteError,
            memberError: memberError, newLink: newLink, done: done.map { text("organizations.done.\($0)", context) }, current: chosen == id)
        let failed = inviteError != nil || memberError != nil
        return renderer.render(
            "organizations/show", titleKey: "organizations.show_title", titleValues: ["name": membership.organization.name], model: page,
            state: context.page, status: status ?? (failed ? .badRequest : .ok))
    }
}
