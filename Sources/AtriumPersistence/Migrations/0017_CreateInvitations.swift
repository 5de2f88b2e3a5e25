import FluentKit
import SQLKit

/// Invitations to join an organization, by email or by link.
struct M0017CreateInvitations: AsyncMigration {
    var name: String { "0017_CreateInvitations" }

    func prepare(on database: any Database) async throws {
        try await database.schema("invitations")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("email", .string)
            .field("role", .string, .required)
            .field("token_hash", .string, .required)
            .field("created_by", .uuid, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .unique(on: "token_hash")
            .create()
        try await (database as! any SQLDatabase).create(index: "invitations_organization").on("invitations").column("organization_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("invitations").delete()
    }
}
