import FluentKit
import SQLKit

/// The staff audit log: who did what, to what, when and from where.
struct M0013CreateAuditEvents: AsyncMigration {
    var name: String { "0013_CreateAuditEvents" }

    func prepare(on database: any Database) async throws {
        try await database.schema("audit_events")
            .id()
            .field("actor_user_id", .uuid, .required)
            .field("actor_email", .string, .required)
            .field("action", .string, .required)
            .field("target", .string, .required)
            .field("details", .string, .required)
            .field("address", .string)
            .field("created_at", .datetime, .required)
            .create()
        try await (database as! any SQLDatabase).create(index: "audit_events_created").on("audit_events").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_events").delete()
    }
}
