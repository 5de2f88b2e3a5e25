import AtriumCore
import Hummingbird

/// Authenticates `/v1` requests by their `Authorization: Bearer` key. A request without one reaches
/// `KeyRequestContext`, which refuses it, so every model route is behind a key.
struct KeyAuthMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext
    let keys: KeyService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AtriumError.unauthenticated(
                "The Authorization header must be 'Bearer YOUR_KEY'.", code: "invalid_authorization_header")
        }
        var context = context
        context.keyPrincipal = try await keys.authenticate(secret: String(parts[1].trimmingCharacters(in: .whitespaces)))
        return try await next(request, context)
    }
}

import Foundation
