import Foundation

/// Who belongs to an organization and how they got there: invitations by email or by link, roles,
/// removal and leaving. Owners and admins manage members; only owners make or unmake owners; an
/// organization always keeps an owner; a personal organization has no one else.
public struct OrganizationMembers: Sendable {
    private let accounts: AccountService
    private let repository: any AccountRepository
    private let invitations: any InvitationRepository
    private let mailer: any AccountMailer
    private let clock: any TimeSource
    /// Invitations made, per person: an organization cannot be used to flood mailboxes.
    private let throttle: AttemptThrottle

    public init(
        accounts: AccountService, repository: any AccountRepository, invitations: any InvitationRepository, mailer: any AccountMailer,
        clock: any TimeSource = SystemTimeSource(),
        throttle: AttemptThrottle = AttemptThrottle(maxFailures: 30, window: 3600, message: "Too many invitations made. Try again later.")
    ) {
        self.accounts = accounts
        self.repository = repository
        self.invitations = invitations
        self.mailer = mailer
        self.clock = clock
        self.throttle = throttle
    }

    /// A new invitation and its link's token (shown or mailed once). With an email, the invitation is
    /// mailed there and only that address may accept it.
    public func invite(email rawEmail: String?, role: OrganizationRole, to organization: OrganizationID, by actor: User, language: String)
        async throws -> (invitation: Invitation, token: String)
    {
        let acting = try await accounts.requireManager(of: organization, actor: actor.id)
        guard !acting.organization.isPersonal else {
            throw AtriumError.invalidRequest("A personal organization cannot have other members.", param: "email", code: "personal_organization")
        }
        if role == .owner && acting.role != .owner {
            throw AtriumError.permissionDenied("Only an owner can make another owner.")
        }
        let email = try rawEmail.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : try AccountRules.normalizedEmail($0) }
        if let email, try await repository.members(of: organization).contains(where: { $0.user.email == email }) {
            throw AtriumError.invalidRequest("\(email) is a member already.", param: "email", code: "already_member")
        }
        try throttle.admit(["user:\(actor.id)"], now: clock.now())
        let token = Secrets.randomBase62(count: 43)
        let now = clock.now()
        let invitation = Invitation(
            id: .generate(), organizationID: organization, email: email, role: role, tokenHash: Secrets.sha256Hex(token), createdBy: actor.id,
            createdAt: now, expiresAt: now.addingTimeInterval(Invitation.lifetime))
        try await invitations.insert(invitation)
        if let email {
            try await mailer.send(.invitation(organization: acting.organization, inviter: actor, email: email, token: token), language: language)
        }
        return (invitation, token)
    }

    public func pendingInvitations(of organization: OrganizationID, seenBy actor: UserID) async throws -> [Invitation] {
        _ = try await accounts.requireManager(of: organization, actor: actor)
        return try await invitations.pending(in: organization, now: clock.now())
    }

    public func revokeInvitation(_ id: InvitationID, of organization: OrganizationID, by actor: UserID) async throws {
        _ = try await accounts.requireManager(of: organization, actor: actor)
        guard try await invitations.delete(id, in: organization) else { throw AtriumError.notFound("No pending invitation with id \(id).") }
    }

    /// The invitation behind a link and its organization, for the page that offers to accept it;
    /// `notFound` when the link is unknown, used or expired.
    public func invitation(token: String) async throws -> (invitation: Invitation, organization: Organization) {
        guard !token.isEmpty, token.utf8.count <= 128, let invitation = try await invitations.find(tokenHash: Secrets.sha256Hex(token)),
            invitation.expiresAt > clock.now(), let organization = try await repository.findOrganization(id: invitation.organizationID)
        else { throw AtriumError.notFound("This invitation is not valid any more.", code: "invalid_invitation") }
        return (invitation, organization)
    }

    /// Joins `user` to the organization with the invitation's role; the invitation is used up.
    @discardableResult
    public func accept(token: String, by user: User) async throws -> Organization {
        let (invitation, organization) = try await invitation(token: token)
        if let email = invitation.email {
            guard email == user.email else {
                throw AtriumError.permissionDenied(
                    "This invitation is for \(email); you are signed in as \(user.email).", code: "invitation_for_another_address")
            }
            // Anyone can sign up with any address: only a verified one proves it is theirs.
            guard user.isEmailVerified else {
                throw AtriumError.permissionDenied("Verify your email address first, then accept the invitation.", code: "email_not_verified")
            }
        }
        if try await repository.membership(of: user.id, in: organization.id) != nil {
            _ = try await invitations.delete(invitation.id, in: organization.id)
            return organization
        }
        guard try await invitations.delete(invitation.id, in: organization.id) else {
            throw AtriumError.notFound("This invitation is not valid any more.", code: "invalid_invitation")
        }
        try await repository.setMembership(user: user.id, organization: organization.id, role: invitation.role, at: clock.now())
        return organization
    }

    /// Changes a member's role; only owners make or unmake owners, and one owner always stays.
    public func setRole(_ role: OrganizationRole, of member: UserID, in organization: OrganizationID, by actor: UserID) async throws {
        let acting = try await accounts.requireManager(of: organization, actor: actor)
        let members = try await repository.members(of: organization)
        guard let target = members.first(where: { $0.user.id == member }) else { throw AtriumError.notFound("No member with id \(member).") }
        if (role == .owner || target.role == .owner) && acting.role != .owner {
            throw AtriumError.permissionDenied("Only an owner can make or unmake an owner.")
        }
        if target.role == .owner && role != .owner && members.filter({ $0.role == .owner }).count == 1 {
            throw AtriumError.invalidRequest("An organization keeps at least one owner.", param: "role", code: "last_owner")
        }
        try await repository.setMembership(user: member, organization: organization, role: role, at: clock.now())
    }

    /// Leaves an organization (not a personal one, and not as its last owner while others remain).
    public func leave(_ organization: OrganizationID, user: UserID) async throws {
        let membership = try await accounts.organization(organization, seenBy: user)
        guard !membership.organization.isPersonal else {
            throw AtriumError.invalidRequest("You cannot leave your personal organization.", param: "organization", code: "personal_organization")
        }
        let members = try await repository.members(of: organization)
        if membership.role == .owner && members.count > 1 && members.filter({ $0.role == .owner }).count == 1 {
            throw AtriumError.invalidRequest("Make another member an owner before you leave.", param: "organization", code: "last_owner")
        }
        _ = try await repository.removeMembership(user: user, organization: organization)
    }
}
