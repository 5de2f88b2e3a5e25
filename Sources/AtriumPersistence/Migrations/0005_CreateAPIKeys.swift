import FluentKit

struct M0005CreateAPIKeys: AsyncMigration {
    var name: String { "0005_CreateAPIKeys" }

    func prepare(on database: any Database) async throws {
        try await database.schema("api_keys")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("created_by", .uuid, .required, .references("users", "id"))
            .field("name", .string, .required)
            .field("display_prefix", .string, .required)
            .field("secret_hash", .string, .required)
            .field("scopes", .string, .required)
            .field("created_at", .datetime, .required)
            .field("last_used_at", .datetime)
            .field("expires_at", .datetime)
            .field("revoked_at", .datetime)
            .unique(on: "secret_hash")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("api_keys").delete()
    }
}
