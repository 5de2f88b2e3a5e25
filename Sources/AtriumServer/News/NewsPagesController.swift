import AtriumCore
import Foundation
import Hummingbird

/// `/announcements` and `/changelog`: what staff published, newest first, each with an anchor, and
/// their Atom feeds (`/announcements.atom`, `/changelog.atom`). `/staff/posts` is where staff
/// (administrators) publish and delete them; both are audited.
struct NewsPagesController {
    let news: NewsService
    let audit: AuditLog
    let renderer: PageRenderer
    let publicURL: String

    struct Page {
        struct Entry {
            var id: String
            var title: String
            var date: String
            var bodyHTML: String
        }

        var feedHref: String
        var entries: [Entry]
        var hasEntries: Bool
    }

    struct StaffPage {
        struct Row {
            var id: String
            var kind: String
            var title: String
            var date: String
            var deleteLabel: String
        }

        var rows: [Row]
        var canAct: Bool
        var kinds: [Choice]
        var title = ""
        var body = ""
        var titleError: String?
        var bodyError: String?
        var done: String?

        struct Choice {
            var value: String
            var label: String
            var selected: Bool
        }
    }

    func addPublicRoutes(to router: RouterGroup<PageContext>) {
        for kind in Post.Kind.allCases {
            let path = Self.path(kind)
            router.get(RouterPath(path)) { request, context in try await page(kind, context) }
            router.get(RouterPath(path + ".atom")) { _, _ in try await feed(kind) }
        }
    }

    func addStaffRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("staff/posts", use: staffPage)
        router.post("staff/posts", use: publish)
        router.post("staff/posts/:post/delete", use: delete)
    }

    static func path(_ kind: Post.Kind) -> String { kind == .announcement ? "announcements" : "changelog" }

    func page(_ kind: Post.Kind, _ context: PageContext) async throws -> Response {
        let posts = try await news.posts(kind)
        let page = Page(
            feedHref: "/\(Self.path(kind)).atom",
            entries: posts.map { Page.Entry(id: "post-\($0.id)", title: $0.title, date: PageFormat.date($0.publishedAt), bodyHTML: SafeMarkdown.html($0.body)) },
            hasEntries: !posts.isEmpty)
        return renderer.render("news/list", titleKey: "news.\(kind.rawValue).title", model: page, state: context.page)
    }

    /// An Atom feed (RFC 4287) of the newest 50.
    func feed(_ kind: Post.Kind) async throws -> Response {
        let posts = try await news.posts(kind)
        let site = renderer.catalog.text("site.name", .english)
        let title = renderer.catalog.text("news.\(kind.rawValue).title", .english)
        let page = "\(publicURL)/\(Self.path(kind))"
        var xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom">
            <title>\(HTMLText.escape("\(site) · \(title)"))</title>
            <id>\(HTMLText.escape(page))</id>
            <link rel="self" href="\(HTMLText.escape(page)).atom"/>
            <link rel="alternate" type="text/html" href="\(HTMLText.escape(page))"/>
            <updated>\(Self.rfc3339(posts.first?.publishedAt ?? Date(timeIntervalSince1970: 0)))</updated>
            <author><name>\(HTMLText.escape(site))</name></author>

            """
        for post in posts {
            xml += """
                <entry>
                <title>\(HTMLText.escape(post.title))</title>
                <id>urn:uuid:\(post.id.raw.uuidString.lowercased())</id>
                <link rel="alternate" type="text/html" href="\(HTMLText.escape(page))#post-\(post.id)"/>
                <published>\(Self.rfc3339(post.publishedAt))</published>
                <updated>\(Self.rfc3339(post.publishedAt))</updated>
                <content type="html">\(HTMLText.escape(SafeMarkdown.html(post.body)))</content>
                </entry>

                """
        }
        xml += "</feed>\n"
        return Response(
            status: .ok, headers: [.contentType: "application/atom+xml; charset=utf-8", .cacheControl: "max-age=60"],
            body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    // MARK: Staff

    @Sendable func staffPage(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        var page = try await staffModel(context)
        if request.uri.queryParameters["done"] == "published" { page.done = text("news.staff.published", context) }
        if request.uri.queryParameters["done"] == "deleted" { page.done = text("news.staff.deleted", context) }
        return renderer.render("staff/posts", titleKey: "news.staff.title", model: page, state: context.page)
    }

    @Sendable func publish(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        let form = context.form
        let kind = Post.Kind(rawValue: form.trimmed("kind")) ?? .announcement
        do {
            let post = try await news.publish(kind, title: form["title"] ?? "", body: form["body"] ?? "", by: context.user.id)
            try await audit.record(
                "post.publish", by: context.user, target: "post:\(post.id)", details: "\(kind.rawValue): \(post.title)", address: context.page.clientAddress)
            return Response(status: .seeOther, headers: [.location: "/staff/posts?done=published"])
        } catch AtriumError.invalidRequest(_, let param, _) {
            var page = try await staffModel(context, selected: kind)
            page.title = String((form["title"] ?? "").prefix(Post.maxTitleLength))
            page.body = String((form["body"] ?? "").prefix(Post.maxBodyLength))
            if param == "title" { page.titleError = text("news.staff.title_invalid", context, ["max": String(Post.maxTitleLength)]) }
            if param == "body" { page.bodyError = text("news.staff.body_invalid", context, ["max": String(Post.maxBodyLength)]) }
            return renderer.render("staff/posts", titleKey: "news.staff.title", model: page, state: context.page, status: .badRequest)
        }
    }

    @Sendable func delete(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        guard let id = context.parameters.get("post").flatMap(PostID.init), let post = try await news.post(id) else { throw HTTPError(.notFound) }
        try await news.delete(id)
        try await audit.record("post.delete", by: context.user, target: "post:\(id)", details: "\(post.kind.rawValue): \(post.title)", address: context.page.clientAddress)
        return Response(status: .seeOther, headers: [.location: "/staff/posts?done=deleted"])
    }

    private func staffModel(_ context: SignedInPageContext, selected: Post.Kind = .announcement) async throws -> StaffPage {
        var rows: [StaffPage.Row] = []
        for kind in Post.Kind.allCases {
            rows += try await news.posts(kind).map { post in
                StaffPage.Row(
                    id: post.id.description, kind: text("news.\(kind.rawValue).one", context), title: post.title, date: PageFormat.date(post.publishedAt),
                    deleteLabel: text("news.staff.delete_named", context, ["title": post.title]))
            }
        }
        return StaffPage(
            rows: rows, canAct: context.user.staffRole == .admin,
            kinds: Post.Kind.allCases.map { StaffPage.Choice(value: $0.rawValue, label: text("news.\($0.rawValue).one", context), selected: $0 == selected) })
    }

    private static func rfc3339(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    private func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
