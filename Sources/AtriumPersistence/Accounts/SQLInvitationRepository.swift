import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// Invitations in `invitations`.
public struct SQLInvitationRepository: InvitationRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    private static let columns = ["id", "organization_id", "email", "role", "token_hash", "created_by", "created_at", "expires_at"]

    public func insert(_ invitation: Invitation) async throws {
        try await sql.insert(into: "invitations").columns(Self.columns)
            .values(
                SQLBind(invitation.id.raw), SQLBind(invitation.organizationID.raw), SQLBind(invitation.email), SQLBind(invitation.role.rawValue),
                SQLBind(invitation.tokenHash), SQLBind(invitation.createdBy.raw), SQLBind(invitation.createdAt), SQLBind(invitation.expiresAt))
            .run()
    }

    public func pending(in organization: OrganizationID, now: Date) async throws -> [Invitation] {
        try await sql.select().columns(Self.columns.map { SQLColumn($0) }).from("invitations")
            .where("organization_id", .equal, organization.raw).where("expires_at", .greaterThan, now)
            .orderBy("created_at", .descending).limit(200).all().map(Self.invitation)
    }

    public func find(tokenHash: String) async throws -> Invitation? {
        try await sql.select().columns(Self.columns.map { SQLColumn($0) }).from("invitations").where("token_hash", .equal, tokenHash)
            .first().map(Self.invitation)
    }

    public func delete(_ id: InvitationID, in organization: OrganizationID) async throws -> Bool {
        try await !sql.delete(from: "invitations").where("id", .equal, id.raw).where("organization_id", .equal, organization.raw)
            .returning("id").all().isEmpty
    }

    private static func invitation(_ row: any SQLRow) throws -> Invitation {
        Invitation(
            id: InvitationID(raw: try row.decode(column: "id", as: UUID.self)),
            organizationID: OrganizationID(raw: try row.decode(column: "organization_id", as: UUID.self)),
            email: try row.decode(column: "email", as: String?.self),
            role: OrganizationRole(rawValue: try row.decode(column: "role", as: String.self)) ?? .member,
            tokenHash: try row.decode(column: "token_hash", as: String.self), createdBy: UserID(raw: try row.decode(column: "created_by", as: UUID.self)),
            createdAt: try row.decode(column: "created_at", as: Date.self), expiresAt: try row.decode(column: "expires_at", as: Date.self))
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }
}
