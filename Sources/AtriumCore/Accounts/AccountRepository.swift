import Foundation

/// Storage of users, organizations and memberships.
public protocol AccountRepository: Sendable {
    /// Stores a user with their personal organization (owner) in one transaction.
    /// Throws `AtriumError.conflict` when the email is taken.
    func createUser(_ user: User, passwordHash: String, personalOrganization: Organization) async throws
    func findUser(email: String) async throws -> (user: User, passwordHash: String)?
    func findUser(id: UserID) async throws -> User?
    /// Users whose email or name contains `text` (any case), newest first, `limit` of them after the
    /// first `offset`, each with their organizations, oldest membership first (the staff console).
    func searchUsers(_ text: String, limit: Int, offset: Int) async throws -> [UserWithOrganizations]
    /// Organizations whose name contains `text` (any case), newest first (the staff console).
    func searchOrganizations(_ text: String, limit: Int, offset: Int) async throws -> [Organization]
    func findOrganization(id: OrganizationID) async throws -> Organization?
    /// The organizations among `ids` that exist, in one read.
    func organizations(ids: Set<OrganizationID>) async throws -> [Organization]

    /// Stores an organization with `owner` as its owner, in one transaction.
    func createOrganization(_ organization: Organization, owner: UserID) async throws
    /// The organizations `user` belongs to, with their role.
    func memberships(of user: UserID) async throws -> [OrganizationMembership]
    /// The organization seen by `user`, nil when it does not exist or they are not a member.
    func membership(of user: UserID, in organization: OrganizationID) async throws -> OrganizationMembership?
    func members(of organization: OrganizationID) async throws -> [Member]
    /// Adds or changes a membership.
    func setMembership(user: UserID, organization: OrganizationID, role: OrganizationRole, at date: Date) async throws
    /// False when there was no such membership.
    func removeMembership(user: UserID, organization: OrganizationID) async throws -> Bool

    func markEmailVerified(_ user: UserID, at date: Date) async throws
    func updatePasswordHash(_ user: UserID, to hash: String) async throws
    /// Throws `AtriumError.conflict` when another account has the address.
    func updateEmail(_ user: UserID, to email: String) async throws
    /// Staff's switch: a date disables the account, nil enables it again.
    func setDisabled(_ user: UserID, at date: Date?) async throws
    /// Deletes the account's personal data and memberships and marks it deleted, in one transaction.
    /// The row stays (anonymous) because keys, usage and the ledger still name it.
    func erase(_ user: UserID, at date: Date) async throws
}

/// A login session: the cookie holds the token, the database only its hash.
public struct Session: Sendable, Equatable {
    public var tokenHash: String
    public var userID: UserID
    public var createdAt: Date
    public var expiresAt: Date

    public init(tokenHash: String, userID: UserID, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public protocol SessionRepository: Sendable {
    func insert(_ session: Session) async throws
    /// The session and its user in one read (every signed-in page starts with it).
    func findWithUser(tokenHash: String) async throws -> (session: Session, user: User)?
    func delete(tokenHash: String) async throws
    /// Ends every session of `user` but the one with `keeping` (after a password change, say).
    func deleteAll(of user: UserID, keeping: String?) async throws
}

/// One-way password hashing (bcrypt in the server), kept behind a protocol so the domain does not
/// know the algorithm and tests can pick a cheap cost.
public protocol PasswordHasher: Sendable {
    func hash(_ password: String) async throws -> String
    func verify(_ password: String, hash: String) async throws -> Bool
}
