import AtriumCore
import Foundation
import Hummingbird

/// `/docs`: the guides, each with its samples filled in for this server and its models.
struct DocsController {
    let renderer: PageRenderer
    let docs: DocsLibrary
    let reference: APIReference
    let catalog: ModelCatalog
    let keys: KeyService
    let accounts: AccountService
    let secureCookies: Bool

    /// One guide as the page shows it.
    struct Page {
        struct NavItem {
            var href: String
            var title: String
            var current: Bool
        }

        struct Part {
            var html: String?
            var samples: Samples?
        }

        struct Samples {
            var id: String
            var tabs: [Tab]
        }

        struct Tab {
            var id: String
            var language: String
            var label: String
            /// The sample, escaped already (it is long; see `HTMLText`).
            var codeHTML: String
        }

        var title: String
        var nav: [NavItem]
        var parts: [Part]
    }

    struct Index {
        struct Entry {
            var href: String
            var title: String
            var summary: String
        }

        var guides: [Entry]
    }

    func addRoutes(to router: RouterGroup<PageContext>) {
        router.get("docs", use: index)
        router.get("docs/api", use: apiReference)
        router.get("docs/:slug", use: guide)
    }

    @Sendable func index(_ request: Request, context: PageContext) async throws -> Response {
        let entries = docs.guides(context.language).map { Index.Entry(href: "/docs/\($0.slug)", title: $0.title, summary: $0.summary) }
        return renderer.render("docs/index", titleKey: "docs.title", model: Index(guides: entries), state: context.page)
    }

    /// The reference page: its body was written at start (`APIReference`); the guides' navigation and
    /// an index of the operations frame it.
    struct ReferencePage {
        var nav: [Page.NavItem]
        var sections: [APIReference.Section]
        var bodyHTML: String
    }

    @Sendable func apiReference(_ request: Request, context: PageContext) async throws -> Response {
        let nav = docs.guides(context.language).map { Page.NavItem(href: "/docs/\($0.slug)", title: $0.title, current: false) }
        let page = ReferencePage(nav: nav, sections: reference.sections, bodyHTML: reference.body(context.language))
        return renderer.render("docs/reference", titleKey: "docs.reference.title", model: page, state: context.page)
    }

    @Sendable func guide(_ request: Request, context: PageContext) async throws -> Response {
        let slug = context.parameters.get("slug") ?? ""
        guard let guide = docs.guide(slug, context.language) else { throw HTTPError(.notFound) }
        let baseURL = PortalController.baseURL(of: request, secure: secureCookies)
        let keyHint = try await keyPrefix(context).map { renderer.catalog.text("docs.key_hint", context.language, ["prefix": $0]) }
        let nav = docs.guides(context.language).map { Page.NavItem(href: "/docs/\($0.slug)", title: $0.title, current: $0.slug == slug) }
        let parts = guide.parts.map { part -> Page.Part in
            switch part {
            case .html(let html): return Page.Part(html: html)
            case .sample(let operation):
                let request = SampleRequest(operation: operation, model: sampleModel(for: operation))
                let tabs = SampleCode.all(request, baseURL: baseURL, keyHint: keyHint).map {
                    Page.Tab(id: "\(operation.rawValue)-\($0.language)", language: $0.language, label: $0.label, codeHTML: HTMLText.escape($0.code))
                }
                return Page.Part(samples: Page.Samples(id: operation.rawValue, tabs: tabs))
            }
        }
        let page = Page(title: guide.title, nav: nav, parts: parts)
        return renderer.render("docs/guide", titleKey: "docs.guide_title", titleValues: ["title": guide.title], model: page, state: context.page)
    }

    /// The prefix of the signed-in reader's newest key (not the playground's) in the organization they
    /// work in, for the samples' first line; nil for a reader without one.
    private func keyPrefix(_ context: PageContext) async throws -> String? {
        guard let user = context.page.user else { return nil }
        let organization = try await accounts.acting(chosen: context.page.chosenOrganization, user: user.id)
        return try await keys.list(organization: organization.organization.id)
            .first { $0.name != PlaygroundPagesController.keyName && $0.isUsable(at: Date()) }
            .map { $0.displayPrefix + "…" }
    }

    /// A real model of this server for an operation's sample: the embedded one when there is one.
    private func sampleModel(for operation: SampleRequest.Operation) -> String {
        let kinds: [ModelKind] = switch operation {
        case .listModels, .chat, .chatStream: [.chat]
        case .completion: [.completion, .chat]
        case .embeddings: [.embedding]
        }
        for kind in kinds {
            let matching = catalog.models.filter { $0.kind == kind }
            if let model = matching.first(where: { $0.ownedBy == "embedded" }) ?? matching.first { return model.id }
        }
        return "MODEL"
    }
}
