import AtriumCore
import Hummingbird

/// What a page request carries once `PageMiddleware` has read it: the reader's language, their CSRF
/// token, who they are, and (for a form post whose token matched) the form's fields.
struct PageState: Sendable {
    var language: Language
    /// The path and query asked for (where a login brings the reader back to).
    var path: String
    var csrfToken: String
    var user: User?
    /// The client's address (login throttling).
    var clientAddress: String?
    /// The organization the reader chose to work in (the switch on `/organizations`; a cookie).
    var chosenOrganization: OrganizationID?
    var form = FormData()
}

extension PageState {
    /// The state of a request that reached no page route (its error page): language from the headers,
    /// no session read, no form.
    init(request: Request) {
        self.init(
            language: Language.negotiate(cookie: request.cookies[Language.cookieName]?.value, acceptLanguage: request.headers[.acceptLanguage]),
            path: request.uri.string, csrfToken: "")
    }
}

extension PageState {
    /// The state with `user` as they are now, when they are the reader (a page that just changed them).
    func updating(_ user: User) -> PageState {
        var state = self
        if state.user?.id == user.id { state.user = user }
        return state
    }
}
