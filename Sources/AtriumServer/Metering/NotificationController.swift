import AtriumCore
import Foundation
import Hummingbird

/// `/api/notifications`: what the platform has told an organization (budget soft limits and caps).
struct NotificationController {
    let credits: CreditService
    let accounts: AccountService

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.get(use: list)
    }

    struct NoticeDTO: ResponseCodable {
        var object = "notification"
        var id: String
        var kind: String
        var message: String
        var createdAt: Date
    }

    @Sendable func list(_ request: Request, context: UserRequestContext) async throws -> ListDTO<NoticeDTO> {
        let membership = try await accounts.acting(request.uri.queryParameters.get("organization_id"), user: context.user.id)
        return ListDTO(data: try await credits.notifications(of: membership.organization.id).map {
            NoticeDTO(id: $0.id.hexString(), kind: $0.kind, message: $0.message, createdAt: $0.createdAt)
        })
    }
}
