import AtriumCore
import Hummingbird

/// Reads the session cookie into `context.user`, and guards cookie-authenticated writes against
/// cross-site requests: a mutating request must be JSON (which a cross-site form cannot send without a
/// CORS preflight we never grant) and, when the browser names its origin, come from this host.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext
    static let cookieName = "atrium_session"
    let accounts: AccountService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let token = request.cookies[Self.cookieName]?.value {
            context.user = try await accounts.user(sessionToken: token)
            if context.user != nil && [.post, .put, .patch, .delete].contains(request.method) {
                try Self.checkSameOrigin(request)
            }
        }
        return try await next(request, context)
    }

    /// The session cookie (pages and `/api` share it): HttpOnly, SameSite=Lax, Secure behind TLS.
    static func cookie(value: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: cookieName, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    static func checkSameOrigin(_ request: Request) throws {
        if request.method != .delete {
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            guard contentType.hasPrefix("application/json") else {
                throw AtriumError.invalidRequest("Send this request as application/json.", code: "unsupported_media_type")
            }
        }
        if let origin = request.headers[.origin], let host = request.head.authority {
            let originHost = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init)
            guard originHost == host else {
                throw AtriumError.permissionDenied("Cross-site requests are not allowed.", code: "cross_site_request")
            }
        }
    }
}
