import FluentKit
import SQLKit

struct M0006CreateModelPrices: AsyncMigration {
    var name: String { "0006_CreateModelPrices" }

    func prepare(on database: any Database) async throws {
        try await database.schema("model_prices")
            .id()
            .field("model", .string, .required)
            .field("input_micros_per_million", .int64, .required)
            .field("output_micros_per_million", .int64, .required)
            .field("created_at", .datetime, .required)
            .field("created_by", .uuid)
            .create()
        try await (database as! any SQLDatabase).create(index: "model_prices_model").on("model_prices").column("model").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("model_prices").delete()
    }
}
