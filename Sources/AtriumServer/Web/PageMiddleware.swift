import AtriumCore
import AtriumPersistence
import Foundation
import Hummingbird
import NIOCore

/// Runs in front of every page: picks the reader's language, reads the session, guards form posts with
/// a CSRF token, turns errors into readable pages in the reader's language, and puts the security
/// headers on every answer.
///
/// CSRF: a random token lives in an HttpOnly, SameSite=Strict cookie and in a hidden field of every
/// form; a post whose field does not equal the cookie is refused with 403 before any handler runs
/// (OWASP's double-submit pattern: another site can make a browser post, but cannot read or set our
/// cookie, so it cannot know the value to put in the field).
struct PageMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext
    static let csrfCookieName = "atrium_csrf"
    static let csrfFieldName = "csrf"
    static let maxFormBytes = 64 * 1024

    let accounts: AccountService
    let renderer: PageRenderer
    let secureCookies: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let cookieToken = request.cookies[Self.csrfCookieName]?.value
        let token = cookieToken.flatMap { Self.isWellFormedToken($0) ? $0 : nil } ?? Secrets.randomBase62(count: 43)
        var state = PageState(
            language: Language.negotiate(cookie: request.cookies[Language.cookieName]?.value, acceptLanguage: request.headers[.acceptLanguage]),
            path: request.uri.string, csrfToken: token, clientAddress: context.clientAddress,
            chosenOrganization: request.cookies[OrganizationPagesController.cookieName].flatMap { OrganizationID($0.value) })
        var context = context
        var response: Response
        do {
            if let session = request.cookies[SessionMiddleware.cookieName]?.value {
                state.user = try await accounts.user(sessionToken: session)
            }
            if request.method != .get && request.method != .head {
                state.form = try await Self.readForm(request, expectedToken: cookieToken)
            }
            context.page = state
            response = try await next(request, context)
        } catch let redirect as PageRedirect {
            response = Response(status: .seeOther, headers: [.location: redirect.location])
        } catch {
            let status = Self.status(for: error, request: request, requestID: context.requestID)
            if status == .internalServerError {
                context.logger.error("unhandled page error", metadata: ["error": .string(String(reflecting: error)), "request_id": .string(context.requestID)])
            }
            response = renderer.errorPage(status: status, state: state, requestID: context.requestID)
            if status == .serviceUnavailable { response.headers[.retryAfter] = "1" }
        }
        if cookieToken != token {
            response.setCookie(Cookie(name: Self.csrfCookieName, value: token, path: "/", secure: secureCookies, httpOnly: true, sameSite: .strict))
        }
        SecurityHeaders.apply(to: &response.headers)
        return response
    }

    /// The status a page shows for an error (the same mapping as the JSON envelope's).
    static func status(for error: any Error, request: Request, requestID: String) -> HTTPResponse.Status {
        if error is PageFormRefusal { return .forbidden }
        return ErrorEnvelope(error, method: request.method.rawValue, path: request.uri.path, requestID: requestID).status
    }

    /// A form post's fields, once its CSRF token has matched the cookie's.
    static func readForm(_ request: Request, expectedToken: String?) async throws -> FormData {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else { throw PageFormRefusal.notAForm }
        let body = try await request.body.collect(upTo: maxFormBytes)
        guard let form = FormData(encoded: String(decoding: body.readableBytesView, as: UTF8.self)) else {
            throw AtriumError.invalidRequest("The form could not be read.")
        }
        guard let expectedToken, let sent = form[csrfFieldName], constantTimeEqual(sent, expectedToken) else {
            throw PageFormRefusal.forged
        }
        return form
    }

    static func isWellFormedToken(_ token: String) -> Bool {
        token.utf8.count == 43 && token.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// A post refused before any handler: not a form, or its CSRF token missing or forged (403).
enum PageFormRefusal: Error {
    case notAForm
    case forged
}
