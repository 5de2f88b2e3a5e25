import FluentKit
import SQLKit

/// The usage ledger: one row per `/v1` request, append-only.
struct M0008CreateUsageRecords: AsyncMigration {
    var name: String { "0008_CreateUsageRecords" }

    func prepare(on database: any Database) async throws {
        try await database.schema("usage_records")
            .id()
            .field("request_id", .string, .required)
            .field("organization_id", .uuid, .required)
            .field("api_key_id", .uuid, .required)
            .field("model", .string, .required)
            .field("provider", .string)
            .field("prompt_tokens", .int64, .required)
            .field("completion_tokens", .int64, .required)
            .field("total_tokens", .int64, .required)
            .field("cost_micros", .int64, .required)
            .field("price_id", .uuid)
            .field("status", .int, .required)
            .field("finish_reason", .string)
            .field("streamed", .bool, .required)
            .field("estimated", .bool, .required)
            .field("latency_ms", .int64, .required)
            .field("day", .string, .required)
            .field("created_at", .datetime, .required)
            .create()
        let sql = database as! any SQLDatabase
        try await sql.create(index: "usage_records_organization_day").on("usage_records").column("organization_id").column("day").run()
        try await sql.create(index: "usage_records_request").on("usage_records").column("request_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("usage_records").delete()
    }
}
