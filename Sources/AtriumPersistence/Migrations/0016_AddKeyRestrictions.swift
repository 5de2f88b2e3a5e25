import FluentKit
import SQLKit

/// A key limited to some models and some client networks (nil: none of that kind). And an index for
/// an organization's live keys: the playground makes a key each time it is opened, so an active
/// developer's revoked keys pile up by the thousand.
struct M0016AddKeyRestrictions: AsyncMigration {
    var name: String { "0016_AddKeyRestrictions" }

    func prepare(on database: any Database) async throws {
        try await database.schema("api_keys").field("allowed_models", .string).update()
        try await database.schema("api_keys").field("allowed_networks", .string).update()
        try await (database as! any SQLDatabase).create(index: "api_keys_organization").on("api_keys").column("organization_id").column("revoked_at").run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).drop(index: "api_keys_organization").run()
        try await database.schema("api_keys").deleteField("allowed_networks").update()
        try await database.schema("api_keys").deleteField("allowed_models").update()
    }
}
