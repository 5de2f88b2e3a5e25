import FluentKit
import SQLKit

/// Monthly budgets: caps on billing accounts and keys, the spend per owner and month (kept by the
/// group commits), and notifications (a budget's soft limit crossed, a cap reached).
struct M0012CreateBudgets: AsyncMigration {
    var name: String { "0012_CreateBudgets" }

    func prepare(on database: any Database) async throws {
        try await database.schema("billing_accounts").field("monthly_budget_micros", .int64).update()
        try await database.schema("billing_accounts").field("budget_alert_micros", .int64).update()
        try await database.schema("api_keys").field("monthly_budget_micros", .int64).update()
        try await database.schema("monthly_spend")
            .field("id", .string, .identifier(auto: false))  // "<owner uuid>/<YYYY-MM>"
            .field("spent_micros", .int64, .required)
            .create()
        try await database.schema("notifications")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("message", .string, .required)
            .field("created_at", .datetime, .required)
            .create()
        try await (database as! any SQLDatabase).create(index: "notifications_organization")
            .on("notifications").column("organization_id").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("notifications").delete()
        try await database.schema("monthly_spend").delete()
        try await database.schema("api_keys").deleteField("monthly_budget_micros").update()
        try await database.schema("billing_accounts").deleteField("budget_alert_micros").update()
        try await database.schema("billing_accounts").deleteField("monthly_budget_micros").update()
    }
}
