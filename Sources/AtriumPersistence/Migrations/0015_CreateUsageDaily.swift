import FluentKit
import SQLKit

/// Usage summed by organization, day, model and key, kept by the ledger's group commit beside the
/// records it inserts: the dashboard's 30-day chart reads a few hundred rows instead of every call
/// (a busy organization makes tens of thousands a month). And indexes for an organization's latest
/// requests and for a request id.
struct M0015CreateUsageDaily: AsyncMigration {
    var name: String { "0015_CreateUsageDaily" }

    func prepare(on database: any Database) async throws {
        try await database.schema("usage_daily")
            .field("organization_id", .uuid, .required)
            .field("day", .string, .required)
            .field("model", .string, .required)
            .field("api_key_id", .uuid, .required)
            .field("requests", .int64, .required)
            .field("prompt_tokens", .int64, .required)
            .field("completion_tokens", .int64, .required)
            .field("cost_micros", .int64, .required)
            .compositeIdentifier(over: "organization_id", "day", "model", "api_key_id")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.raw("""
            INSERT INTO usage_daily (organization_id, day, model, api_key_id, requests, prompt_tokens, completion_tokens, cost_micros)
            SELECT organization_id, day, model, api_key_id, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micros)
            FROM usage_records GROUP BY organization_id, day, model, api_key_id
            """).run()
        try await sql.create(index: "usage_records_organization_created").on("usage_records").column("organization_id").column("created_at").run()
        // A search by request id names the organization too; with both columns in the index SQLite
        // takes it over the organization's (it had walked all of an organization's records).
        try await sql.drop(index: "usage_records_request").run()
        try await sql.create(index: "usage_records_request").on("usage_records").column("request_id").column("organization_id").run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.drop(index: "usage_records_request").run()
        try await sql.create(index: "usage_records_request").on("usage_records").column("request_id").run()
        try await sql.drop(index: "usage_records_organization_created").run()
        try await database.schema("usage_daily").delete()
    }
}
