import Foundation
import Synchronization

/// Sign-up, login sessions, organizations and their members.
public struct AccountService: Sendable {
    /// A session just opened; `token` goes into the cookie and is never stored.
    public struct OpenedSession: Sendable {
        public var user: User
        public var token: String
        public var expiresAt: Date
    }

    private let accounts: any AccountRepository
    private let sessions: any SessionRepository
    private let hasher: any PasswordHasher
    private let throttle: AttemptThrottle
    private let clock: any TimeSource
    private let sessionLifetime: TimeInterval
    private let signUpThrottle: AttemptThrottle
    /// Whether API keys wait for a verified email (`require_verified_email`).
    public let requiresVerifiedEmail: Bool
    private let decoyHash = DecoyHash()

    public init(
        accounts: any AccountRepository, sessions: any SessionRepository, hasher: any PasswordHasher,
        throttle: AttemptThrottle = AttemptThrottle(), clock: any TimeSource = SystemTimeSource(),
        sessionLifetime: TimeInterval = 30 * 24 * 3600, requiresVerifiedEmail: Bool = false,
        signUpThrottle: AttemptThrottle = AttemptThrottle(maxFailures: 20, window: 3600, message: "Too many sign-ups from this address. Try again later.")
    ) {
        self.accounts = accounts
        self.sessions = sessions
        self.hasher = hasher
        self.throttle = throttle
        self.clock = clock
        self.sessionLifetime = sessionLifetime
        self.requiresVerifiedEmail = requiresVerifiedEmail
        self.signUpThrottle = signUpThrottle
    }

    /// Creates a user and their personal organization. `emailVerified`: an operator made the account
    /// (the CLI), so the address needs no link.
    public func register(
        email: String, password: String, name: String, staffRole: PlatformRole? = nil, emailVerified: Bool = false
    ) async throws -> User {
        let email = try AccountRules.normalizedEmail(email)
        let name = try AccountRules.normalizedName(name)
        try AccountRules.validatePassword(password)
        if try await accounts.findUser(email: email) != nil {
            throw AtriumError.conflict("An account with this email already exists.", param: "email")
        }
        let now = clock.now()
        let user = User(id: .generate(), email: email, name: name, staffRole: staffRole, createdAt: now, emailVerifiedAt: emailVerified ? now : nil)
        let personal = Organization(id: .generate(), name: "\(name)'s organization", isPersonal: true, createdAt: now)
        try await accounts.createUser(user, passwordHash: try await hasher.hash(password), personalOrganization: personal)
        return user
    }

    /// Registers and opens a session; at most 20 sign-ups an hour from one client address.
    public func signUp(email: String, password: String, name: String, clientAddress: String? = nil) async throws -> OpenedSession {
        if let clientAddress { try signUpThrottle.check(["ip:\(clientAddress)"], now: clock.now()) }
        let user = try await register(email: email, password: password, name: name)
        if let clientAddress { signUpThrottle.recordFailure(["ip:\(clientAddress)"], now: clock.now()) }
        return try await openSession(for: user)
    }

    /// `permissionDenied` (`email_not_verified`) when keys wait for a verified email and this user's is not.
    public func requireVerifiedEmail(_ user: User) throws {
        guard requiresVerifiedEmail, !user.isEmailVerified else { return }
        throw AtriumError.permissionDenied(
            "Verify your email address first: follow the link we mailed to \(user.email).", code: "email_not_verified")
    }

    /// Checks the password, throttling repeated failures per email and per client address.
    public func logIn(email rawEmail: String, password: String, clientAddress: String?) async throws -> OpenedSession {
        let email = rawEmail.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let subjects = ["email:\(email)"] + (clientAddress.map { ["ip:\($0)"] } ?? [])
        let now = clock.now()
        try throttle.check(subjects, now: now)
        let found = try await accounts.findUser(email: email)
        // An unknown email costs a bcrypt check too, so response times do not tell which emails exist.
        let hash: String
        if let found { hash = found.passwordHash } else { hash = try await decoyHash.value(hasher) }
        let verified = try await hasher.verify(password, hash: hash)
        guard let found, verified else {
            throttle.recordFailure(subjects, now: now)
            throw AtriumError.unauthenticated("Incorrect email or password.", code: "invalid_credentials")
        }
        guard !found.user.isDisabled else {
            throw AtriumError.permissionDenied("This account is disabled. Contact support.", code: "account_disabled")
        }
        throttle.recordSuccess(["email:\(email)"])
        return try await openSession(for: found.user)
    }

    /// The user behind a session cookie, nil when it is unknown or expired.
    public func user(sessionToken token: String) async throws -> User? {
        guard !token.isEmpty, token.utf8.count <= 128 else { return nil }
        let hash = Secrets.sha256Hex(token)
        guard let (session, user) = try await sessions.findWithUser(tokenHash: hash) else { return nil }
        guard session.expiresAt > clock.now() else {
            try await sessions.delete(tokenHash: hash)
            return nil
        }
        return user.isDisabled ? nil : user
    }

    public func logOut(sessionToken token: String) async throws {
        try await sessions.delete(tokenHash: Secrets.sha256Hex(token))
    }

    public func user(id: UserID) async throws -> User? { try await accounts.findUser(id: id) }

    public func user(email: String) async throws -> User? {
        try await accounts.findUser(email: try AccountRules.normalizedEmail(email))?.user
    }

    // MARK: Organizations

    public func organizations(of user: UserID) async throws -> [OrganizationMembership] {
        try await accounts.memberships(of: user)
    }

    /// The organization as `user` sees it; `notFound` when it does not exist *or* they are not a member,
    /// so nobody learns which organizations exist.
    public func organization(_ id: OrganizationID, seenBy user: UserID) async throws -> OrganizationMembership {
        guard let membership = try await accounts.membership(of: user, in: id) else {
            throw AtriumError.notFound("No organization with id \(id).")
        }
        return membership
    }

    /// The organization a request acts in: the one named, or else the user's personal organization.
    public func actingOrganization(_ id: OrganizationID?, user: UserID) async throws -> OrganizationMembership {
        if let id { return try await organization(id, seenBy: user) }
        guard let personal = try await accounts.memberships(of: user).first(where: { $0.organization.isPersonal }) else {
            throw AtriumError.notFound("This account has no personal organization.")
        }
        return personal
    }

    public func createOrganization(name: String, owner: UserID) async throws -> Organization {
        let organization = Organization(
            id: .generate(), name: try AccountRules.normalizedName(name), isPersonal: false, createdAt: clock.now())
        try await accounts.createOrganization(organization, owner: owner)
        return organization
    }

    /// Users and organizations matching `text`, for staff (the caller checks the staff role): page
    /// `page` (from 1) of `pageSize` of each, newest first, and whether either has a next page.
    public func staffSearch(
        _ text: String, page: Int = 1, pageSize: Int = 25
    ) async throws -> (users: [UserWithOrganizations], organizations: [Organization], more: Bool) {
        let text = String(text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(100))
        let offset = (min(max(page, 1), 1_000) - 1) * pageSize
        // One more than a page of each, to know whether there is a next page.
        let users = try await accounts.searchUsers(text, limit: pageSize + 1, offset: offset)
        let organizations = try await accounts.searchOrganizations(text, limit: pageSize + 1, offset: offset)
        return (Array(users.prefix(pageSize)), Array(organizations.prefix(pageSize)), max(users.count, organizations.count) > pageSize)
    }

    /// Disables or enables an account, for staff (the caller checks the role): a disabled account's
    /// sessions end and it cannot log in. The user as they are now; `notFound`.
    @discardableResult
    public func setDisabled(_ disabled: Bool, user id: UserID) async throws -> User {
        guard var user = try await accounts.findUser(id: id) else { throw AtriumError.notFound("No user with id \(id).") }
        let now = clock.now()
        try await accounts.setDisabled(id, at: disabled ? now : nil)
        if disabled { try await sessions.deleteAll(of: id, keeping: nil) }
        user.disabledAt = disabled ? now : nil
        return user
    }

    /// The organizations among `ids`, by id, for staff (the caller checks the staff role).
    public func organizationsForStaff(_ ids: Set<OrganizationID>) async throws -> [OrganizationID: Organization] {
        Dictionary(uniqueKeysWithValues: try await accounts.organizations(ids: ids).map { ($0.id, $0) })
    }

    /// Any organization and its members, for staff (the caller checks the staff role); `notFound`.
    public func organizationForStaff(_ id: OrganizationID) async throws -> (organization: Organization, members: [Member]) {
        guard let organization = try await accounts.findOrganization(id: id) else {
            throw AtriumError.notFound("No organization with id \(id).")
        }
        return (organization, try await accounts.members(of: id))
    }

    public func members(of id: OrganizationID, seenBy user: UserID) async throws -> [Member] {
        _ = try await organization(id, seenBy: user)
        return try await accounts.members(of: id)
    }

    /// Adds an existing user by email, or changes their role. Owners and admins only; only owners make owners.
    public func addMember(email: String, role: OrganizationRole, to id: OrganizationID, by actor: UserID) async throws -> Member {
        let acting = try await requireManager(of: id, actor: actor)
        guard !acting.organization.isPersonal else {
            throw AtriumError.invalidRequest("A personal organization cannot have other members.", param: "email")
        }
        if role == .owner && acting.role != .owner {
            throw AtriumError.permissionDenied("Only an owner can make another owner.")
        }
        guard let user = try await accounts.findUser(email: try AccountRules.normalizedEmail(email))?.user else {
            throw AtriumError.notFound("No user with that email.", code: "user_not_found")
        }
        let now = clock.now()
        try await accounts.setMembership(user: user.id, organization: id, role: role, at: now)
        return Member(user: user, role: role, joinedAt: now)
    }

    public func removeMember(_ member: UserID, from id: OrganizationID, by actor: UserID) async throws {
        let acting = try await requireManager(of: id, actor: actor)
        let members = try await accounts.members(of: id)
        guard let target = members.first(where: { $0.user.id == member }) else {
            throw AtriumError.notFound("No member with id \(member).")
        }
        if target.role == .owner {
            guard acting.role == .owner else { throw AtriumError.permissionDenied("Only an owner can remove an owner.") }
            guard members.filter({ $0.role == .owner }).count > 1 else {
                throw AtriumError.invalidRequest("An organization keeps at least one owner.")
            }
        }
        _ = try await accounts.removeMembership(user: member, organization: id)
    }

    /// The membership of `actor` when they may manage the organization; `notFound` for non-members.
    public func requireManager(of id: OrganizationID, actor: UserID) async throws -> OrganizationMembership {
        let membership = try await organization(id, seenBy: actor)
        guard membership.role.canManage else {
            throw AtriumError.permissionDenied("Only owners and admins of this organization can do that.")
        }
        return membership
    }

    private func openSession(for user: User) async throws -> OpenedSession {
        let token = Secrets.randomBase62(count: 43)
        let now = clock.now()
        let expiresAt = now.addingTimeInterval(sessionLifetime)
        try await sessions.insert(
            Session(tokenHash: Secrets.sha256Hex(token), userID: user.id, createdAt: now, expiresAt: expiresAt))
        return OpenedSession(user: user, token: token, expiresAt: expiresAt)
    }
}

/// A bcrypt hash of nothing in particular, made once, to check unknown emails' passwords against.
private final class DecoyHash: Sendable {
    private let hash = Mutex<String?>(nil)

    func value(_ hasher: any PasswordHasher) async throws -> String {
        if let hash = hash.withLock({ $0 }) { return hash }
        let made = try await hasher.hash(Secrets.randomBase62(count: 24))
        hash.withLock { $0 = $0 ?? made }
        return made
    }
}
