import AtriumCore
import Foundation
import Hummingbird

/// `/api/prices`: the price table, readable by every signed-in user; staff administrators set prices.
struct PriceController {
    let prices: PriceBook
    let audit: AuditLog
    let maxBodyBytes: Int

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.get(use: list)
        group.get("**", use: history)
        group.put(use: set)
    }

    struct PriceDTO: ResponseCodable {
        var object = "model.price"
        var id: String
        var model: String
        var inputMicrosPerMillion: Int64
        var outputMicrosPerMillion: Int64
        var createdAt: Date

        init(_ price: ModelPrice) {
            self.id = price.id.hexString()
            self.model = price.model
            self.inputMicrosPerMillion = price.inputMicrosPerMillion
            self.outputMicrosPerMillion = price.outputMicrosPerMillion
            self.createdAt = price.createdAt
        }
    }

    @Sendable func list(_ request: Request, context: UserRequestContext) async throws -> ListDTO<PriceDTO> {
        ListDTO(data: prices.all.map(PriceDTO.init))
    }

    /// Every price a model has had, newest first.
    @Sendable func history(_ request: Request, context: UserRequestContext) async throws -> ListDTO<PriceDTO> {
        let model = context.parameters.getCatchAll().joined(separator: "/")
        return ListDTO(data: try await prices.history(model: model).map(PriceDTO.init))
    }

    struct SetRequest: Decodable {
        var model: String
        var inputMicrosPerMillion: Int64
        var outputMicrosPerMillion: Int64
    }

    /// A new price for a model; requests from now on are charged at it, earlier ones keep theirs.
    @Sendable func set(_ request: Request, context: UserRequestContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        let body = try await JSONRequest.decode(SetRequest.self, from: request, limit: maxBodyBytes)
        let price = try await prices.set(
            model: body.model, inputMicrosPerMillion: body.inputMicrosPerMillion, outputMicrosPerMillion: body.outputMicrosPerMillion,
            by: context.user.id)
        try await audit.record(
            "price.set", by: context.user, target: "model:\(price.model)",
            details: "input \(price.inputMicrosPerMillion.formattedUnits), output \(price.outputMicrosPerMillion.formattedUnits) per million tokens",
            address: context.clientAddress)
        return try APICoding.response(PriceDTO(price), status: .created)
    }
}
