import FluentKit

/// What a refused or failed call was told, for the dashboard's latest requests.
struct M0019AddUsageErrorMessage: AsyncMigration {
    var name: String { "0019_AddUsageErrorMessage" }

    func prepare(on database: any Database) async throws {
        try await database.schema("usage_records").field("error_message", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("usage_records").deleteField("error_message").update()
    }
}
