import FluentKit
import SQLKit

/// Verified emails, disabled and deleted accounts, one-time links sent by mail, and the mail outbox.
struct M0014AddAccountLifecycle: AsyncMigration {
    var name: String { "0014_AddAccountLifecycle" }

    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite alters a table one column at a time.
        try await database.schema("users").field("email_verified_at", .datetime).update()
        try await database.schema("users").field("disabled_at", .datetime).update()
        try await database.schema("users").field("deleted_at", .datetime).update()
        // Accounts made before verification existed keep working as they did.
        let sql = database as! any SQLDatabase
        try await sql.update("users").set("email_verified_at", to: SQLColumn("created_at")).run()

        try await database.schema("account_tokens")
            .field("token_hash", .string, .identifier(auto: false))
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("purpose", .string, .required)
            .field("new_email", .string)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .create()
        try await sql.create(index: "account_tokens_user").on("account_tokens").column("user_id").column("purpose").run()

        try await database.schema("mail_outbox")
            .id()
            .field("recipient", .string, .required)
            .field("subject", .string, .required)
            .field("body", .string, .required)
            .field("kind", .string, .required)
            .field("status", .string, .required)
            .field("attempts", .int64, .required)
            .field("last_error", .string)
            .field("created_at", .datetime, .required)
            .field("next_attempt_at", .datetime, .required)
            .field("sent_at", .datetime)
            .create()
        try await sql.create(index: "mail_outbox_due").on("mail_outbox").column("status").column("next_attempt_at").run()
        try await sql.create(index: "mail_outbox_created").on("mail_outbox").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("mail_outbox").delete()
        try await database.schema("account_tokens").delete()
        try await database.schema("users").deleteField("deleted_at").update()
        try await database.schema("users").deleteField("disabled_at").update()
        try await database.schema("users").deleteField("email_verified_at").update()
    }
}
