import AtriumCore
import Hummingbird

/// Authenticates `/v1` requests by their `Authorization: Bearer` key. A request without one reaches
/// `KeyRequestContext`, which refuses it, so every model route is behind a key. The key's organization
/// has its billing account read into memory here, so that its next requests can take the fast lane.
struct KeyAuthMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext
    let keys: KeyService
    let credits: CreditGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AtriumError.unauthenticated(
                "The Authorization header must be 'Bearer YOUR_KEY'.", code: "invalid_authorization_header")
        }
        var context = context
        let principal = try await keys.authenticate(secret: String(parts[1].trimmingCharacters(in: .whitespaces)))
        try principal.requirePermits(address: context.clientAddress)
        try await credits.load(principal.organizationID)
        context.keyPrincipal = principal
        return try await next(request, context)
    }
}

import Foundation
