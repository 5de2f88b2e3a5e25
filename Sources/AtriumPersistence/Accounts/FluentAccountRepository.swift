import AtriumCore
import FluentKit
import Foundation
import SQLKit

public struct FluentAccountRepository: AccountRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }

    /// LIKE that ignores case: SQLite's LIKE already does (for ASCII, as its `lower` does), and
    /// PostgreSQL's needs ILIKE; so no `lower(…)` of every row a search scans.
    private var anyCaseLike: String { sql.dialect.name == "postgresql" ? "ILIKE" : "LIKE" }

    public func createUser(_ user: User, passwordHash: String, personalOrganization: Organization) async throws {
        do {
            try await database.transaction { db in
                try await UserModel(user, passwordHash: passwordHash).create(on: db)
                try await OrganizationModel(personalOrganization).create(on: db)
                try await MembershipModel(
                    organization: personalOrganization.id, user: user.id, role: .owner, createdAt: user.createdAt
                ).create(on: db)
            }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw AtriumError.conflict("An account with this email already exists.", param: "email")
        }
    }

    public func findUser(email: String) async throws -> (user: User, passwordHash: String)? {
        guard let model = try await UserModel.query(on: database.database).filter(\.$email == email).first() else {
            return nil
        }
        return (model.domain, model.passwordHash)
    }

    public func findUser(id: UserID) async throws -> User? {
        try await UserModel.find(id.raw, on: database.database)?.domain
    }

    public func searchUsers(_ text: String, limit: Int, offset: Int) async throws -> [UserWithOrganizations] {
        let pattern = "%" + SQLAuditRepository.escapedLike(text.lowercased()) + "%"
        // The page of users, then their memberships joined on, in one query (a row per membership).
        let rows = try await sql.raw("""
            WITH "found" AS (
                SELECT \(unsafeRaw: AccountSQL.userColumns) FROM "users" \
                WHERE "email" \(unsafeRaw: anyCaseLike) \(bind: pattern) OR "name" \(unsafeRaw: anyCaseLike) \(bind: pattern) \
                ORDER BY "created_at" DESC, "id" LIMIT \(literal: limit) OFFSET \(literal: offset)
            )
            SELECT "found".*, \(unsafeRaw: AccountSQL.organizationColumns), "memberships"."role" AS "membership_role" FROM "found" \
            LEFT JOIN "memberships" ON "memberships"."user_id" = "found"."user_id" \
            LEFT JOIN "organizations" ON "organizations"."id" = "memberships"."organization_id" \
            ORDER BY "found"."user_created_at" DESC, "found"."user_id", "memberships"."created_at"
            """).all()
        var found: [UserWithOrganizations] = []
        for row in rows {
            let user = try AccountSQL.user(row)
            if found.last?.user.id != user.id { found.append(UserWithOrganizations(user: user, memberships: [])) }
            if try !row.decodeNil(column: "organization_id") { found[found.count - 1].memberships.append(try AccountSQL.membership(row)) }
        }
        return found
    }

    public func searchOrganizations(_ text: String, limit: Int, offset: Int) async throws -> [Organization] {
        let pattern = "%" + SQLAuditRepository.escapedLike(text.lowercased()) + "%"
        return try await sql.raw("""
            SELECT \(unsafeRaw: AccountSQL.organizationColumns) FROM "organizations" WHERE "name" \(unsafeRaw: anyCaseLike) \(bind: pattern) \
            ORDER BY "created_at" DESC, "id" LIMIT \(literal: limit) OFFSET \(literal: offset)
            """).all().map(AccountSQL.organization)
    }

    public func organizations(ids: Set<OrganizationID>) async throws -> [Organization] {
        guard !ids.isEmpty else { return [] }
        return try await sql.raw("""
            SELECT \(unsafeRaw: AccountSQL.organizationColumns) FROM "organizations" WHERE "id" IN (\(binds: ids.map(\.raw)))
            """).all().map(AccountSQL.organization)
    }

    public func findOrganization(id: OrganizationID) async throws -> Organization? {
        try await OrganizationModel.find(id.raw, on: database.database)?.domain
    }

    public func createOrganization(_ organization: Organization, owner: UserID) async throws {
        try await database.transaction { db in
            try await OrganizationModel(organization).create(on: db)
            try await MembershipModel(organization: organization.id, user: owner, role: .owner, createdAt: organization.createdAt)
                .create(on: db)
        }
    }

    public func memberships(of user: UserID) async throws -> [OrganizationMembership] {
        try await sql.raw(AccountSQL.memberships(of: user)).all()
            .map(AccountSQL.membership)
            .sorted { ($0.organization.isPersonal ? 0 : 1, $0.organization.createdAt) < ($1.organization.isPersonal ? 0 : 1, $1.organization.createdAt) }
    }

    public func membership(of user: UserID, in organization: OrganizationID) async throws -> OrganizationMembership? {
        try await sql.raw(AccountSQL.membership(of: user, in: organization)).first().map(AccountSQL.membership)
    }

    public func members(of organization: OrganizationID) async throws -> [Member] {
        let db = database.database
        let memberships = try await MembershipModel.query(on: db).filter(\.$organizationID == organization.raw)
            .sort(\.$createdAt).all()
        guard !memberships.isEmpty else { return [] }
        let users = try await UserModel.query(on: db).filter(\.$id ~~ memberships.map(\.userID)).all()
        let byID = Dictionary(uniqueKeysWithValues: users.map { ($0.id!, $0.domain) })
        return memberships.compactMap { membership in
            byID[membership.userID].map { Member(user: $0, role: membership.organizationRole, joinedAt: membership.createdAt) }
        }
    }

    public func setMembership(user: UserID, organization: OrganizationID, role: OrganizationRole, at date: Date) async throws {
        let db = database.database
        if let existing = try await MembershipModel.query(on: db)
            .filter(\.$userID == user.raw).filter(\.$organizationID == organization.raw).first()
        {
            existing.role = role.rawValue
            try await existing.update(on: db)
        } else {
            try await MembershipModel(organization: organization, user: user, role: role, createdAt: date).create(on: db)
        }
    }

    public func removeMembership(user: UserID, organization: OrganizationID) async throws -> Bool {
        let db = database.database
        guard let existing = try await MembershipModel.query(on: db)
            .filter(\.$userID == user.raw).filter(\.$organizationID == organization.raw).first()
        else { return false }
        try await existing.delete(on: db)
        return true
    }

    public func markEmailVerified(_ user: UserID, at date: Date) async throws {
        try await UserModel.query(on: database.database).filter(\.$id == user.raw).set(\.$emailVerifiedAt, to: date).update()
    }

    public func updatePasswordHash(_ user: UserID, to hash: String) async throws {
        try await UserModel.query(on: database.database).filter(\.$id == user.raw).set(\.$passwordHash, to: hash).update()
    }

    public func updateEmail(_ user: UserID, to email: String) async throws {
        do {
            try await UserModel.query(on: database.database).filter(\.$id == user.raw).set(\.$email, to: email).update()
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw AtriumError.conflict("An account with this email already exists.", param: "email")
        }
    }

    public func setDisabled(_ user: UserID, at date: Date?) async throws {
        try await UserModel.query(on: database.database).filter(\.$id == user.raw).set(\.$disabledAt, to: date).update()
    }

    public func erase(_ user: UserID, at date: Date) async throws {
        try await database.transaction { db in
            try await MembershipModel.query(on: db).filter(\.$userID == user.raw).delete()
            try await SessionModel.query(on: db).filter(\.$userID == user.raw).delete()
            try await AccountTokenModel.query(on: db).filter(\.$userID == user.raw).delete()
            try await UserModel.query(on: db).filter(\.$id == user.raw)
                .set(\.$email, to: "deleted-\(user)@deleted.invalid").set(\.$name, to: "")
                .set(\.$passwordHash, to: "!").set(\.$staffRole, to: nil).set(\.$deletedAt, to: date)
                .update()
        }
    }
}

public struct FluentSessionRepository: SessionRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }

    public func insert(_ session: Session) async throws {
        try await SessionModel(session).create(on: database.database)
    }

    public func findWithUser(tokenHash: String) async throws -> (session: Session, user: User)? {
        guard
            let row = try await sql.raw(AccountSQL.session(tokenHash: tokenHash)).first()
        else { return nil }
        let user = try AccountSQL.user(row)
        let session = Session(
            tokenHash: tokenHash, userID: user.id, createdAt: try row.decode(column: "session_created_at", as: Date.self),
            expiresAt: try row.decode(column: "session_expires_at", as: Date.self))
        return (session, user)
    }

    public func delete(tokenHash: String) async throws {
        try await SessionModel.query(on: database.database).filter(\.$tokenHash == tokenHash).delete()
    }

    public func deleteAll(of user: UserID, keeping: String?) async throws {
        let query = SessionModel.query(on: database.database).filter(\.$userID == user.raw)
        if let keeping { query.filter(\.$tokenHash != keeping) }
        try await query.delete()
    }
}
