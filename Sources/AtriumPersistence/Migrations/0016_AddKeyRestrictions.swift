import FluentKit

/// A key limited to some models and some client networks (nil: none of that kind).
struct M0016AddKeyRestrictions: AsyncMigration {
    var name: String { "0016_AddKeyRestrictions" }

    func prepare(on database: any Database) async throws {
        try await database.schema("api_keys").field("allowed_models", .string).update()
        try await database.schema("api_keys").field("allowed_networks", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("api_keys").deleteField("allowed_networks").update()
        try await database.schema("api_keys").deleteField("allowed_models").update()
    }
}
