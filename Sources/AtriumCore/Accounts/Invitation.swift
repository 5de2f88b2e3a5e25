import Foundation

public struct InvitationID: TypedIdentifier {
    public let raw: UUID
    public init(raw: UUID) { self.raw = raw }
}

/// An invitation to join an organization: a link, mailed to an address or handed over by whoever
/// made it. The database keeps only the link's hash; it works once, for a week.
public struct Invitation: Sendable, Equatable {
    public static let lifetime: TimeInterval = 7 * 24 * 3600

    public var id: InvitationID
    public var organizationID: OrganizationID
    /// Only this address may accept (nil: whoever has the link).
    public var email: String?
    public var role: OrganizationRole
    public var tokenHash: String
    public var createdBy: UserID
    public var createdAt: Date
    public var expiresAt: Date

    public init(
        id: InvitationID, organizationID: OrganizationID, email: String?, role: OrganizationRole, tokenHash: String, createdBy: UserID,
        createdAt: Date, expiresAt: Date
    ) {
        self.id = id
        self.organizationID = organizationID
        self.email = email
        self.role = role
        self.tokenHash = tokenHash
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public protocol InvitationRepository: Sendable {
    func insert(_ invitation: Invitation) async throws
    /// The organization's invitations not yet accepted, revoked or expired at `now`, newest first.
    func pending(in organization: OrganizationID, now: Date) async throws -> [Invitation]
    func find(tokenHash: String) async throws -> Invitation?
    /// Deletes it; false when there was none (accepted or revoked already, by another request).
    func delete(_ id: InvitationID, in organization: OrganizationID) async throws -> Bool
}
