import FluentKit

/// Per-key overrides of the plan's rate limits (nil: the organization's limits alone apply).
struct M0010AddKeyRateLimits: AsyncMigration {
    var name: String { "0010_AddKeyRateLimits" }

    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite alters a table one column at a time.
        try await database.schema("api_keys").field("requests_per_minute", .int64).update()
        try await database.schema("api_keys").field("tokens_per_minute", .int64).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("api_keys").deleteField("tokens_per_minute").update()
        try await database.schema("api_keys").deleteField("requests_per_minute").update()
    }
}
