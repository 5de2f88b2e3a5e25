import AtriumCore
import Foundation
import Hummingbird

/// The public pages: the landing page with the models' live status, the model catalog, and the
/// footer's language switch.
struct PortalController {
    let renderer: PageRenderer
    let catalog: ModelCatalog
    let prices: PriceBook
    let facts: ModelFacts
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<PageContext>) {
        router.get("/", use: landing)
        router.get("models", use: models)
        router.get("language", use: chooseLanguage)
    }

    @Sendable func landing(_ request: Request, context: PageContext) async throws -> Response {
        renderer.render("portal/landing", titleKey: "portal.landing.title", model: listing(context), state: context.page)
    }

    @Sendable func models(_ request: Request, context: PageContext) async throws -> Response {
        renderer.render("portal/models", titleKey: "models.title", model: listing(context, baseURL: Self.baseURL(of: request, secure: secureCookies)), state: context.page)
    }

    /// Remembers the chosen language for a year and goes back to the page the reader was on.
    @Sendable func chooseLanguage(_ request: Request, context: PageContext) async throws -> Response {
        let next = SafeRedirect.local(request.uri.queryParameters["next"].map(String.init), otherwise: "/")
        var response = Response(status: .seeOther, headers: [.location: next])
        if let chosen = request.uri.queryParameters["to"].flatMap({ Language(rawValue: String($0)) }) {
            response.setCookie(Cookie(name: Language.cookieName, value: chosen.rawValue, maxAge: 365 * 86400, path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax))
        }
        return response
    }

    private func listing(_ context: PageContext, baseURL: String = "") -> ModelListing {
        ModelListing(
            catalog: catalog, prices: prices, facts: facts, baseURL: baseURL,
            text: { [catalog = renderer.catalog, language = context.language] key, values in catalog.text(key, language, values) },
            signedIn: context.page.user != nil)
    }

    /// Where this server is reached, as the reader's browser reached it (for samples they can paste).
    static func baseURL(of request: Request, secure: Bool) -> String {
        let host = request.head.authority.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost:8080"
        return (secure ? "https://" : "http://") + host
    }
}
