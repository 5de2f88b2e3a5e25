import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// The account reads that every signed-in page makes (and the staff search's lists), in SQL with
/// their rows decoded here. Fluent decodes a model by building an aliased key for every field of
/// every row, which cost more than the queries; a search listing a hundred users with their
/// organizations spent a fifth of its time there.
enum AccountSQL {
    private static let userColumns = ["id", "email", "name", "staff_role", "created_at", "email_verified_at", "disabled_at"]
    private static let organizationColumns = ["id", "name", "is_personal", "created_at"]

    /// Adds the `users` columns, named `user_…`.
    @discardableResult
    static func selectUser(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
        for column in userColumns { select.column(SQLColumn(column, table: UserModel.schema), as: "user_" + column) }
        return select
    }

    /// Adds the `organizations` columns, named `organization_…`.
    @discardableResult
    static func selectOrganization(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
        for column in organizationColumns { select.column(SQLColumn(column, table: OrganizationModel.schema), as: "organization_" + column) }
        return select
    }

    static func user(_ row: any SQLRow) throws -> User {
        User(
            id: UserID(raw: try row.decode(column: "user_id", as: UUID.self)), email: try row.decode(column: "user_email", as: String.self),
            name: try row.decode(column: "user_name", as: String.self),
            staffRole: try row.decode(column: "user_staff_role", as: String?.self).flatMap(PlatformRole.init(rawValue:)),
            createdAt: try row.decode(column: "user_created_at", as: Date.self),
            emailVerifiedAt: try row.decode(column: "user_email_verified_at", as: Date?.self),
            disabledAt: try row.decode(column: "user_disabled_at", as: Date?.self))
    }

    static func organization(_ row: any SQLRow) throws -> Organization {
        Organization(
            id: OrganizationID(raw: try row.decode(column: "organization_id", as: UUID.self)),
            name: try row.decode(column: "organization_name", as: String.self),
            isPersonal: try row.decode(column: "organization_is_personal", as: Bool.self),
            createdAt: try row.decode(column: "organization_created_at", as: Date.self))
    }

    /// Memberships with their organizations (`membership_user_id`, `membership_role` and the
    /// organization's columns), oldest membership first.
    static func memberships(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        selectOrganization(sql.select())
            .column(SQLColumn("user_id", table: MembershipModel.schema), as: "membership_user_id")
            .column(SQLColumn("role", table: MembershipModel.schema), as: "membership_role")
            .from(MembershipModel.schema)
            .join(OrganizationModel.schema, on: SQLColumn("organization_id", table: MembershipModel.schema), .equal, SQLColumn("id", table: OrganizationModel.schema))
            .orderBy(SQLColumn("created_at", table: MembershipModel.schema))
    }

    static func membership(_ row: any SQLRow) throws -> (user: UserID, membership: OrganizationMembership) {
        let role = OrganizationRole(rawValue: try row.decode(column: "membership_role", as: String.self)) ?? .member
        return (UserID(raw: try row.decode(column: "membership_user_id", as: UUID.self)), OrganizationMembership(organization: try organization(row), role: role))
    }
}
