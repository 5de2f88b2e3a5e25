import FluentKit

struct M0009CreateRedemptionCodes: AsyncMigration {
    var name: String { "0009_CreateRedemptionCodes" }

    func prepare(on database: any Database) async throws {
        try await database.schema("redemption_codes")
            .id()
            .field("code_hash", .string, .required)
            .field("amount_micros", .int64, .required)
            .field("max_redemptions", .int64, .required)
            .field("redemptions", .int64, .required)
            .field("expires_at", .datetime)
            .field("created_at", .datetime, .required)
            .field("created_by", .uuid)
            .unique(on: "code_hash")
            .create()
        try await database.schema("code_redemptions")
            .id()
            .field("code_id", .uuid, .required, .references("redemption_codes", "id", onDelete: .cascade))
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("created_at", .datetime, .required)
            .unique(on: "code_id", "organization_id")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("code_redemptions").delete()
        try await database.schema("redemption_codes").delete()
    }
}
