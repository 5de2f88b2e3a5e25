import AtriumCore
import Foundation
import Hummingbird

/// `/keys`: the organization's API keys. Create one (its secret is shown once, with the line of code
/// that uses it), see when each was last used, revoke one. The rules are `KeyService`'s, as for
/// `/api/keys`.
struct KeyPagesController {
    let keys: KeyService
    let accounts: AccountService
    let catalog: ModelCatalog
    let renderer: PageRenderer
    let secureCookies: Bool

    /// How long a new key may live, as the form offers it.
    static let lifetimes: [(value: String, days: Int?)] = [("never", nil), ("30", 30), ("90", 90), ("365", 365)]

    struct Index {
        struct Row {
            var id: String
            var name: String
            var prefix: String
            var created: String
            var lastUsed: String
            var expires: String
            var revokeLabel: String
            var settingsLabel: String
        }

        struct Lifetime {
            var value: String
            var label: String
            var selected: Bool
        }

        var organization: String
        var keys: [Row]
        var hasKeys: Bool
        var name = ""
        var nameError: String?
        var lifetimes: [Lifetime]
    }

    struct Created {
        var name: String
        var secret: String
        var export: String
        var sample: String
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("keys", use: index)
        router.post("keys", use: create)
        router.post("keys/:key/revoke", use: revoke)
    }

    @Sendable func index(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try await page(context, form: nil)
    }

    @Sendable func create(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let form = context.form
        let name = form.trimmed("name")
        let lifetime = Self.lifetimes.first { $0.value == form["expires"] } ?? Self.lifetimes[0]
        guard !name.isEmpty else { return try await page(context, form: (name, text("form_errors.required", context), lifetime.value)) }
        guard name.count <= KeyService.maxNameLength else {
            let message = text("form_errors.too_long", context, ["max": String(KeyService.maxNameLength)])
            return try await page(context, form: (String(name.prefix(KeyService.maxNameLength)), message, lifetime.value))
        }
        do {
            try accounts.requireVerifiedEmail(context.user)
        } catch {
            return try await page(context, form: (name, text("form_errors.email_not_verified", context), lifetime.value))
        }
        let organization = try await context.actingOrganization(accounts)
        let created = try await keys.create(
            organization: organization.organization.id, createdBy: context.user.id, name: name, scopes: nil,
            expiresAt: lifetime.days.map { Date().addingTimeInterval(Double($0) * 86400) })
        let baseURL = PortalController.baseURL(of: request, secure: secureCookies)
        let model = catalog.models.first { $0.kind == .chat }?.id ?? catalog.models.first?.id ?? "MODEL"
        let view = Created(
            name: created.key.name, secret: created.secret, export: "export ATRIUM_API_KEY=\"\(created.secret)\"",
            sample: SampleCode.curl(SampleRequest(operation: .chat, model: model), baseURL: baseURL))
        var response = renderer.render("keys/created", titleKey: "keys.created.title", model: view, state: context.page, status: .created)
        // The secret is on this page only: no cache may keep it.
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func revoke(_ request: Request, context: SignedInPageContext) async throws -> Response {
        guard let id = context.parameters.get("key").flatMap(APIKeyID.init) else { throw HTTPError(.notFound) }
        try await keys.revoke(id: id, by: context.user.id, memberships: try await accounts.organizations(of: context.user.id))
        return Response(status: .seeOther, headers: [.location: "/keys"])
    }

    /// The list and the creation form (with the reader's input and its error, when a creation failed).
    private func page(_ context: SignedInPageContext, form: (name: String, error: String, lifetime: String)?) async throws -> Response {
        let organization = try await context.actingOrganization(accounts)
        let never = text("keys.never", context)
        let rows = try await keys.list(organization: organization.organization.id).map { key in
            Index.Row(
                id: key.id.description, name: key.name, prefix: key.displayPrefix + "…", created: PageFormat.date(key.createdAt),
                lastUsed: key.lastUsedAt.map(PageFormat.date) ?? never, expires: key.expiresAt.map(PageFormat.date) ?? never,
                revokeLabel: text("keys.revoke_named", context, ["name": key.name]), settingsLabel: text("keys.settings_link", context, ["name": key.name]))
        }
        let lifetimes = Self.lifetimes.map { lifetime in
            Index.Lifetime(
                value: lifetime.value, label: text("keys.lifetimes.\(lifetime.value)", context),
                selected: lifetime.value == (form?.lifetime ?? "never"))
        }
        let view = Index(
            organization: organization.organization.name, keys: rows, hasKeys: !rows.isEmpty, name: form?.name ?? "", nameError: form?.error,
            lifetimes: lifetimes)
        return renderer.render("keys/index", titleKey: "keys.title", model: view, state: context.page, status: form == nil ? .ok : .badRequest)
    }

    private func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
