import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// The versioned price table: a new price is a new row; the newest row of a model is its price.
public struct SQLPriceRepository: PriceRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    public func current() async throws -> [ModelPrice] {
        // Newest first, so the first row of each model wins.
        var seen = Set<String>()
        return try await all(where: nil).filter { seen.insert($0.model).inserted }
    }

    public func history(model: String) async throws -> [ModelPrice] {
        try await all(where: model)
    }

    public func insert(_ price: ModelPrice) async throws {
        try await sql.insert(into: "model_prices")
            .columns("id", "model", "input_micros_per_million", "output_micros_per_million", "created_at", "created_by")
            .values(price.id, price.model, price.inputMicrosPerMillion, price.outputMicrosPerMillion, price.createdAt, price.createdBy?.raw)
            .run()
    }

    private func all(where model: String?) async throws -> [ModelPrice] {
        let select = sql.select()
            .columns("id", "model", "input_micros_per_million", "output_micros_per_million", "created_at", "created_by").from("model_prices")
        if let model { select.where("model", .equal, model) }
        return try await select.orderBy("created_at", .descending).all().map { row in
            ModelPrice(
                id: try row.decode(column: "id", as: UUID.self), model: try row.decode(column: "model", as: String.self),
                inputMicrosPerMillion: try row.decode(column: "input_micros_per_million", as: Int64.self),
                outputMicrosPerMillion: try row.decode(column: "output_micros_per_million", as: Int64.self),
                createdAt: try row.decode(column: "created_at", as: Date.self),
                createdBy: try row.decode(column: "created_by", as: UUID?.self).map(UserID.init(raw:)))
        }
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }
}
