import AtriumCore
import Foundation
import Hummingbird
import Logging
import Mustache
import NIOCore

/// Renders pages: one template per page on the shared layout (`layout`), the reader's string
/// catalog as `t`, the layout's data as `page` and the page's own view model as `m`. Mustache escapes
/// every `{{value}}` for HTML; templates never use the unescaped form for user text.
struct PageRenderer: Sendable {
    /// The templates of each language, its catalog strings written in (`PageTemplates`).
    let libraries: [Language: MustacheLibrary]
    let catalog: StringCatalog
    let assets: StaticAssets

    /// One item of the top navigation.
    struct NavItem: TemplateFields {
        var href: String
        var label: String
        var current: Bool
    }

    /// What the layout shows around every page (every page: so it hands the template its fields
    /// itself, below, instead of being read by reflection).
    struct Chrome: TemplateFields {
        var lang: String
        var title: String
        var csrf: String
        var user: String?
        var staff: Bool
        var nav: [NavItem]
        var assets: [String: String]
        /// The footer's language switch: the other language and the link that chooses it.
        var otherLanguage: String
        var otherLanguageHref: String
        var otherLanguageCode: String
        var year: String
        /// A signed-in reader whose email waits for verification: the banner that says so.
        var unverifiedEmail: String?
        var unverifiedNotice: String?
    }

    static func bundled() throws -> PageRenderer {
        guard let directory = Bundle.module.url(forResource: "templates", withExtension: nil) else {
            throw StringCatalog.Failure(description: "the page templates are missing from the bundle")
        }
        let catalog = try StringCatalog.bundled()
        return PageRenderer(libraries: try PageTemplates.load(directory: directory, catalog: catalog), catalog: catalog, assets: try .bundled())
    }

    /// A whole page: `template` filled with `model`, titled with the catalog's `titleKey`.
    func render(
        _ template: String, titleKey: String, titleValues: [String: String] = [:], model: Any, state: PageState,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let title = catalog.text(titleKey, state.language, titleValues)
        let root: [String: Any] = [
            "t": catalog.table(state.language), "page": TemplateData.prepare(chrome(title: title, state: state)), "m": TemplateData.prepare(model),
        ]
        guard let html = libraries[state.language]?.render(root, withTemplate: template) else {
            return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "missing template \(template)")))
        }
        return Self.html(html, status: status)
    }

    static func html(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A page that says what went wrong, in the reader's language; the request id for a 500.
    func errorPage(status: HTTPResponse.Status, state: PageState, requestID: String) -> Response {
        let key = switch status.code {
        case 400, 413, 415: "bad_request"
        case 401, 403: "forbidden"
        case 404, 405: "not_found"
        case 429: "too_many"
        case 503: "unavailable"
        default: "server_error"
        }
        let model: [String: Any] = [
            "status": String(status.code), "heading": catalog.text("errors.\(key).heading", state.language),
            "message": catalog.text("errors.\(key).message", state.language, ["request_id": requestID]),
        ]
        return render("errors/error", titleKey: "errors.\(key).heading", model: model, state: state, status: status)
    }

    private func chrome(title: String, state: PageState) -> Chrome {
        let language = state.language
        let other: Language = language == .english ? .simplifiedChinese : .english
        let current = state.path.split(separator: "?").first.map(String.init) ?? "/"
        let unverified = state.user.flatMap { $0.isEmailVerified ? nil : $0 }
        let items: [(String, String)] = [
            ("/models", "nav.models"), ("/docs", "nav.docs"),
        ] + (state.user == nil ? [("/login", "nav.login"), ("/signup", "nav.signup")] : [("/dashboard", "nav.dashboard"), ("/keys", "nav.keys"), ("/playground", "nav.playground"), ("/organizations", "nav.organizations")])
            + (state.user?.staffRole == nil ? [] : [("/staff", "nav.staff")])
        return Chrome(
            lang: language.htmlTag, title: title, csrf: state.csrfToken, user: state.user?.name, staff: state.user?.staffRole != nil,
            nav: items.map { NavItem(href: $0.0, label: catalog.text($0.1, language), current: current == $0.0 || current.hasPrefix($0.0 + "/")) },
            assets: assets.templateNames,
            otherLanguage: catalog.text("language.name", other),
            otherLanguageHref: "/language?to=\(other.rawValue)&next=" + (state.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"),
            otherLanguageCode: other.htmlTag,
            year: String(Calendar(identifier: .gregorian).component(.year, from: Date())),
            unverifiedEmail: unverified?.email,
            unverifiedNotice: unverified.map { catalog.text("accounts.banner.unverified", language, ["email": $0.email]) })
    }
}

extension PageRenderer.NavItem {
    var templateFields: [String: Any] { ["href": href, "label": label, "current": current] }
}

extension PageRenderer.Chrome {
    var templateFields: [String: Any] {
        var fields: [String: Any] = [
            "lang": lang, "title": title, "csrf": csrf, "staff": staff, "nav": nav.map(\.templateFields), "assets": assets,
            "otherLanguage": otherLanguage, "otherLanguageHref": otherLanguageHref, "otherLanguageCode": otherLanguageCode, "year": year,
        ]
        // Absent, not nil: a missing name reads as false in a section.
        if let user { fields["user"] = user }
        if let unverifiedEmail { fields["unverifiedEmail"] = unverifiedEmail }
        if let unverifiedNotice { fields["unverifiedNotice"] = unverifiedNotice }
        return fields
    }
}
