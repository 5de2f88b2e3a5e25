import Foundation

/// A staff role on the platform itself (as opposed to a role inside an organization).
public enum PlatformRole: String, Codable, Sendable, CaseIterable {
    case admin, support, moderator
}

/// A member's role inside an organization.
public enum OrganizationRole: String, Codable, Sendable, CaseIterable {
    case owner, admin, member

    /// Owners and admins manage members and keys.
    public var canManage: Bool { self != .member }
}

public struct User: Sendable, Codable, Equatable {
    public var id: UserID
    /// Stored lowercased: emails are unique case-insensitively.
    public var email: String
    public var name: String
    public var staffRole: PlatformRole?
    public var createdAt: Date
    /// When the owner of the address followed the link mailed to it; nil until then.
    public var emailVerifiedAt: Date?
    /// When staff disabled the account: it cannot log in, and its sessions stop working.
    public var disabledAt: Date?

    public init(
        id: UserID, email: String, name: String, staffRole: PlatformRole?, createdAt: Date, emailVerifiedAt: Date? = nil,
        disabledAt: Date? = nil
    ) {
        self.id = id
        self.email = email
        self.name = name
        self.staffRole = staffRole
        self.createdAt = createdAt
        self.emailVerifiedAt = emailVerifiedAt
        self.disabledAt = disabledAt
    }

    public var isEmailVerified: Bool { emailVerifiedAt != nil }
    public var isDisabled: Bool { disabledAt != nil }
}

public struct Organization: Sendable, Codable, Equatable {
    public var id: OrganizationID
    public var name: String
    /// The organization every user gets at sign-up; it cannot gain other members.
    public var isPersonal: Bool
    public var createdAt: Date

    public init(id: OrganizationID, name: String, isPersonal: Bool, createdAt: Date) {
        self.id = id
        self.name = name
        self.isPersonal = isPersonal
        self.createdAt = createdAt
    }
}

/// An organization as one of its members sees it.
public struct OrganizationMembership: Sendable, Equatable {
    public var organization: Organization
    public var role: OrganizationRole

    public init(organization: Organization, role: OrganizationRole) {
        self.organization = organization
        self.role = role
    }
}

/// A user with the organizations they belong to (the staff console's search).
public struct UserWithOrganizations: Sendable, Equatable {
    public var user: User
    public var memberships: [OrganizationMembership]

    public init(user: User, memberships: [OrganizationMembership]) {
        self.user = user
        self.memberships = memberships
    }
}

/// A member as the organization sees them.
public struct Member: Sendable, Equatable {
    public var user: User
    public var role: OrganizationRole
    public var joinedAt: Date

    public init(user: User, role: OrganizationRole, joinedAt: Date) {
        self.user = user
        self.role = role
        self.joinedAt = joinedAt
    }
}
