import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// The account reads that every signed-in page makes (and the staff search's lists), in SQL with
/// their rows decoded here. Fluent decodes a model by building an aliased key for every field of
/// every row, which cost more than the queries; a search listing a hundred users with their
/// organizations spent a fifth of its time there.
enum AccountSQL {
    /// The `users` columns a `User` is read from, named `user_…`.
    static let userColumns = columns(UserModel.schema, ["id", "email", "name", "staff_role", "created_at", "email_verified_at", "disabled_at"], as: "user_")
    /// The `organizations` columns an `Organization` is read from, named `organization_…`.
    static let organizationColumns = columns(OrganizationModel.schema, ["id", "name", "is_personal", "created_at"], as: "organization_")

    /// Memberships with their organizations, up to the WHERE clause (the SQL is written once: the
    /// query builder's serializing cost as much as SQLite's answering these).
    private static let membershipsSelect = """
        SELECT \(organizationColumns), "memberships"."role" AS "membership_role" \
        FROM "memberships" JOIN "organizations" ON "organizations"."id" = "memberships"."organization_id" WHERE
        """

    /// The memberships of one user, oldest first.
    static func memberships(of user: UserID) -> SQLQueryString {
        "\(unsafeRaw: membershipsSelect) \"memberships\".\"user_id\" = \(bind: user.raw) ORDER BY \"memberships\".\"created_at\""
    }

    /// One user's membership of one organization.
    static func membership(of user: UserID, in organization: OrganizationID) -> SQLQueryString {
        "\(unsafeRaw: membershipsSelect) \"memberships\".\"user_id\" = \(bind: user.raw) AND \"memberships\".\"organization_id\" = \(bind: organization.raw)"
    }

    /// A session with its user.
    static func session(tokenHash: String) -> SQLQueryString {
        """
        SELECT \(unsafeRaw: userColumns), "sessions"."created_at" AS "session_created_at", "sessions"."expires_at" AS "session_expires_at" \
        FROM "sessions" JOIN "users" ON "users"."id" = "sessions"."user_id" WHERE "sessions"."token_hash" = \(bind: tokenHash) LIMIT 1
        """
    }

    private static func columns(_ table: String, _ names: [String], as prefix: String) -> String {
        names.map { "\"\(table)\".\"\($0)\" AS \"\(prefix)\($0)\"" }.joined(separator: ", ")
    }

    static func user(_ row: any SQLRow) throws -> User {
        User(
            id: UserID(raw: try row.decodeUUID(column: "user_id")), email: try row.decode(column: "user_email", as: String.self),
            name: try row.decode(column: "user_name", as: String.self),
            staffRole: try row.decode(column: "user_staff_role", as: String?.self).flatMap(PlatformRole.init(rawValue:)),
            createdAt: try row.decode(column: "user_created_at", as: Date.self),
            emailVerifiedAt: try row.decode(column: "user_email_verified_at", as: Date?.self),
            disabledAt: try row.decode(column: "user_disabled_at", as: Date?.self))
    }

    static func organization(_ row: any SQLRow) throws -> Organization {
        Organization(
            id: OrganizationID(raw: try row.decodeUUID(column: "organization_id")),
            name: try row.decode(column: "organization_name", as: String.self),
            isPersonal: try row.decode(column: "organization_is_personal", as: Bool.self),
            createdAt: try row.decode(column: "organization_created_at", as: Date.self))
    }

    /// A membership from the organization's columns and `membership_role`.
    static func membership(_ row: any SQLRow) throws -> OrganizationMembership {
        let role = OrganizationRole(rawValue: try row.decode(column: "membership_role", as: String.self)) ?? .member
        return OrganizationMembership(organization: try organization(row), role: role)
    }
}
