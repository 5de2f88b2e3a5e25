import FluentKit
import SQLKit

/// State that instances on one PostgreSQL share when limits must hold across all of them: rate-limit
/// buckets (GCRA, one timestamp each) and credit holds (what admitted requests may still cost).
struct M0011CreateSharedLimits: AsyncMigration {
    var name: String { "0011_CreateSharedLimits" }

    func prepare(on database: any Database) async throws {
        try await database.schema("rate_buckets")
            .field("id", .string, .identifier(auto: false))
            .field("tat", .double, .required)
            .create()
        try await database.schema("credit_holds")
            .id()
            .field("organization_id", .uuid, .required)
            .field("amount_micros", .int64, .required)
            .field("expires_at", .double, .required)
            .create()
        try await (database as! any SQLDatabase).create(index: "credit_holds_organization")
            .on("credit_holds").column("organization_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("credit_holds").delete()
        try await database.schema("rate_buckets").delete()
    }
}
