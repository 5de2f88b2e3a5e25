import AtriumCore
import FluentKit
import Foundation

// Fluent models are reference types with property wrappers; they are created and used inside one
// task per query and never shared across tasks, which is what makes the `@unchecked Sendable` safe.

final class UserModel: Model, @unchecked Sendable {
    static let schema = "users"

    @ID(key: .id) var id: UUID?
    @Field(key: "email") var email: String
    @Field(key: "name") var name: String
    @Field(key: "password_hash") var passwordHash: String
    @OptionalField(key: "staff_role") var staffRole: String?
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "email_verified_at") var emailVerifiedAt: Date?
    @OptionalField(key: "disabled_at") var disabledAt: Date?
    @OptionalField(key: "deleted_at") var deletedAt: Date?

    init() {}

    /// Fluent finds these by reflection on every row it reads or writes (`Fields.properties`), which
    /// was a fifth of a page listing a few hundred rows; `ModelPropertiesTests` checks they are all here.
    var properties: [any AnyProperty] { [$id, $email, $name, $passwordHash, $staffRole, $createdAt, $emailVerifiedAt, $disabledAt, $deletedAt] }

    init(_ user: User, passwordHash: String) {
        self.id = user.id.raw
        self.email = user.email
        self.name = user.name
        self.passwordHash = passwordHash
        self.staffRole = user.staffRole?.rawValue
        self.createdAt = user.createdAt
        self.emailVerifiedAt = user.emailVerifiedAt
        self.disabledAt = user.disabledAt
    }

    var domain: User {
        User(
            id: UserID(raw: id!), email: email, name: name, staffRole: staffRole.flatMap(PlatformRole.init(rawValue:)),
            createdAt: createdAt, emailVerifiedAt: emailVerifiedAt, disabledAt: disabledAt)
    }
}

final class OrganizationModel: Model, @unchecked Sendable {
    static let schema = "organizations"

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Field(key: "is_personal") var isPersonal: Bool
    @Field(key: "created_at") var createdAt: Date

    init() {}

    /// Fluent finds these by reflection on every row it reads or writes (`Fields.properties`), which
    /// was a fifth of a page listing a few hundred rows; `ModelPropertiesTests` checks they are all here.
    var properties: [any AnyProperty] { [$id, $name, $isPersonal, $createdAt] }

    init(_ organization: Organization) {
        self.id = organization.id.raw
        self.name = organization.name
        self.isPersonal = organization.isPersonal
        self.createdAt = organization.createdAt
    }

    var domain: Organization {
        Organization(id: OrganizationID(raw: id!), name: name, isPersonal: isPersonal, createdAt: createdAt)
    }
}

final class MembershipModel: Model, @unchecked Sendable {
    static let schema = "memberships"

    @ID(key: .id) var id: UUID?
    @Field(key: "organization_id") var organizationID: UUID
    @Field(key: "user_id") var userID: UUID
    @Field(key: "role") var role: String
    @Field(key: "created_at") var createdAt: Date

    init() {}

    /// Fluent finds these by reflection on every row it reads or writes (`Fields.properties`), which
    /// was a fifth of a page listing a few hundred rows; `ModelPropertiesTests` checks they are all here.
    var properties: [any AnyProperty] { [$id, $organizationID, $userID, $role, $createdAt] }

    init(organization: OrganizationID, user: UserID, role: OrganizationRole, createdAt: Date) {
        self.id = UUID()
        self.organizationID = organization.raw
        self.userID = user.raw
        self.role = role.rawValue
        self.createdAt = createdAt
    }

    var organizationRole: OrganizationRole { OrganizationRole(rawValue: role) ?? .member }
}

final class SessionModel: Model, @unchecked Sendable {
    static let schema = "sessions"

    @ID(key: .id) var id: UUID?
    @Field(key: "token_hash") var tokenHash: String
    @Field(key: "user_id") var userID: UUID
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date

    init() {}

    /// Fluent finds these by reflection on every row it reads or writes (`Fields.properties`), which
    /// was a fifth of a page listing a few hundred rows; `ModelPropertiesTests` checks they are all here.
    var properties: [any AnyProperty] { [$id, $tokenHash, $userID, $createdAt, $expiresAt] }

    init(_ session: Session) {
        self.id = UUID()
        self.tokenHash = session.tokenHash
        self.userID = session.userID.raw
        self.createdAt = session.createdAt
        self.expiresAt = session.expiresAt
    }

    var domain: Session {
        Session(tokenHash: tokenHash, userID: UserID(raw: userID), createdAt: createdAt, expiresAt: expiresAt)
    }
}

final class AccountTokenModel: Model, @unchecked Sendable {
    static let schema = "account_tokens"

    @ID(custom: "token_hash", generatedBy: .user) var id: String?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "purpose") var purpose: String
    @OptionalField(key: "new_email") var newEmail: String?
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date

    init() {}

    /// Fluent finds these by reflection on every row it reads or writes (`Fields.properties`), which
    /// was a fifth of a page listing a few hundred rows; `ModelPropertiesTests` checks they are all here.
    var properties: [any AnyProperty] { [$id, $userID, $purpose, $newEmail, $createdAt, $expiresAt] }

    init(_ token: AccountToken) {
        self.id = token.tokenHash
        self.userID = token.userID.raw
        self.purpose = token.purpose.rawValue
        self.newEmail = token.newEmail
        self.createdAt = token.createdAt
        self.expiresAt = token.expiresAt
    }

    var domain: AccountToken? {
        AccountTokenPurpose(rawValue: purpose).map {
            AccountToken(tokenHash: id!, userID: UserID(raw: userID), purpose: $0, newEmail: newEmail, createdAt: createdAt, expiresAt: expiresAt)
        }
    }
}
