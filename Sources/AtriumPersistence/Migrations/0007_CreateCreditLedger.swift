import FluentKit
import SQLKit

/// Billing accounts (balance and plan, keyed by the organization's id) and the append-only credit ledger.
struct M0007CreateCreditLedger: AsyncMigration {
    var name: String { "0007_CreateCreditLedger" }

    func prepare(on database: any Database) async throws {
        try await database.schema("billing_accounts")
            .id()
            .field("balance_micros", .int64, .required)
            .field("plan", .string)
            .field("created_at", .datetime, .required)
            .foreignKey("id", references: "organizations", "id", onDelete: .cascade)
            .create()
        try await database.schema("credit_entries")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("amount_micros", .int64, .required)
            .field("description", .string, .required)
            .field("created_at", .datetime, .required)
            .field("created_by", .uuid)
            .create()
        try await (database as! any SQLDatabase).create(index: "credit_entries_organization")
            .on("credit_entries").column("organization_id").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("credit_entries").delete()
        try await database.schema("billing_accounts").delete()
    }
}
