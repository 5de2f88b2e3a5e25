import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// The audit log in `audit_events`.
public struct SQLAuditRepository: AuditRepository {
    let database: AtriumDatabase

    public init(database: AtriumDatabase) {
        self.database = database
    }

    public func append(_ event: AuditEvent) async throws {
        try await sql.insert(into: "audit_events")
            .columns("id", "actor_user_id", "actor_email", "action", "target", "details", "address", "created_at")
            .values(
                SQLBind(event.id), SQLBind(event.actor.raw), SQLBind(event.actorEmail), SQLBind(event.action), SQLBind(event.target),
                SQLBind(event.details), SQLBind(event.address), SQLBind(event.createdAt))
            .run()
    }

    public func events(_ query: AuditQuery, limit: Int) async throws -> [AuditEvent] {
        let select = sql.select().columns("id", "actor_user_id", "actor_email", "action", "target", "details", "address", "created_at")
            .from("audit_events")
        if let actor = query.actor, !actor.isEmpty {
            select.where(SQLFunction("lower", args: SQLColumn("actor_email")), .like, SQLBind("%" + Self.escapedLike(actor.lowercased()) + "%"))
        }
        if let action = query.action, !action.isEmpty {
            select.where { group in
                group.where("action", .equal, action).orWhere("action", .like, Self.escapedLike(action) + ".%")
            }
        }
        return try await select.orderBy("created_at", .descending).limit(limit).all().map { row in
            AuditEvent(
                id: try row.decode(column: "id", as: UUID.self), actor: UserID(raw: try row.decode(column: "actor_user_id", as: UUID.self)),
                actorEmail: try row.decode(column: "actor_email", as: String.self), action: try row.decode(column: "action", as: String.self),
                target: try row.decode(column: "target", as: String.self), details: try row.decode(column: "details", as: String.self),
                address: try row.decode(column: "address", as: String?.self), createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }

    /// `%` and `_` match literally (SQLite and PostgreSQL both take `\` as LIKE's escape only when told;
    /// so they are dropped instead: a search for them finds what their neighbours find).
    static func escapedLike(_ text: String) -> String {
        String(text.filter { $0 != "%" && $0 != "_" && $0 != "\\" }.prefix(100))
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }
}
