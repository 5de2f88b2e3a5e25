import AtriumCore
import Hummingbird

/// A page request after `PageMiddleware`: the page state is there, so a handler cannot forget it.
struct PageContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let requestID: String
    let page: PageState

    init(context: AtriumRequestContext) throws {
        guard let page = context.page else { throw HTTPError(.internalServerError, message: "page route without PageMiddleware") }
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.page = page
    }

    var language: Language { page.language }
    var form: FormData { page.form }
}

/// A page for signed-in readers only: `user` is there. A reader who is not signed in is sent to the
/// login page, which brings them back afterwards.
struct SignedInPageContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let requestID: String
    let page: PageState
    let user: User

    init(context: AtriumRequestContext) throws {
        guard let page = context.page else { throw HTTPError(.internalServerError, message: "page route without PageMiddleware") }
        guard let user = page.user else { throw PageRedirect.toLogin(returningTo: page.path) }
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.page = page
        self.user = user
    }

    var language: Language { page.language }
    var form: FormData { page.form }
}

/// Thrown where a page must send the reader elsewhere (PageMiddleware answers it with a 303).
struct PageRedirect: Error {
    var location: String

    static func toLogin(returningTo path: String?) -> PageRedirect {
        guard let path, SafeRedirect.isLocal(path) else { return PageRedirect(location: "/login") }
        return PageRedirect(location: "/login?next=" + (path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
    }
}

/// Only paths on this site may be redirected to (no `//host`, no scheme), so a link cannot bounce a
/// reader to another site through us.
enum SafeRedirect {
    static func isLocal(_ path: String) -> Bool {
        path.hasPrefix("/") && !path.hasPrefix("//") && !path.hasPrefix("/\\") && !path.contains("\n") && !path.contains("\r")
            && path.utf8.count <= 512
    }

    static func local(_ path: String?, otherwise fallback: String) -> String {
        guard let path, isLocal(path) else { return fallback }
        return path
    }
}
