import AtriumCore
import Foundation
import Hummingbird

/// `/keys/<id>`: one key's own limits (requests and tokens a minute, a monthly budget) and
/// restrictions (the models it may use, the client networks it works from). Owners and admins change
/// them; members read them. The rules are `KeyService`'s, as for `PATCH /api/keys/<id>`.
struct KeySettingsPagesController {
    let keys: KeyService
    let accounts: AccountService
    let catalog: ModelCatalog
    let renderer: PageRenderer

    struct Page {
        struct ModelChoice {
            var name: String
            var kind: String
            var checked: Bool
        }

        var id: String
        var name: String
        var prefix: String
        var canManage: Bool
        var requestsPerMinute: String
        var tokensPerMinute: String
        var budget: String
        var everyModel: Bool
        var models: [ModelChoice]
        var networks: String
        var done: String?
        var requestsError: String?
        var tokensError: String?
        var budgetError: String?
        var modelsError: String?
        var networksError: String?
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("keys/:key", use: show)
        router.post("keys/:key", use: save)
    }

    @Sendable func show(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let (key, membership) = try await find(context)
        var page = page(key, canManage: membership.role.canManage)
        if request.uri.queryParameters["done"] == "saved" { page.done = text("keys.settings.saved", context) }
        return render(page, context)
    }

    @Sendable func save(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let (key, membership) = try await find(context)
        guard membership.role.canManage else { throw AtriumError.permissionDenied("Only owners and admins can change a key's limits.") }
        let form = context.form
        var page = page(key, canManage: true)
        page.requestsPerMinute = String(form.trimmed("requests_per_minute").prefix(20))
        page.tokensPerMinute = String(form.trimmed("tokens_per_minute").prefix(20))
        page.budget = String(form.trimmed("budget").prefix(30))
        page.networks = String((form["networks"] ?? "").prefix(4000))
        page.everyModel = form["model_scope"] != "some"
        let chosen = Set(catalog.models.map(\.id).filter { form["model.\($0)"] == "on" })
        page.models = page.models.map { Page.ModelChoice(name: $0.name, kind: $0.kind, checked: chosen.contains($0.name)) }

        let requests = perMinute(page.requestsPerMinute, context) { page.requestsError = $0 }
        let tokens = perMinute(page.tokensPerMinute, context) { page.tokensError = $0 }
        var budget: Micros?
        if !page.budget.isEmpty {
            if let amount = Micros(units: page.budget), amount >= 0 { budget = amount } else { page.budgetError = text("keys.settings.budget_invalid", context) }
        }
        if !page.everyModel && chosen.isEmpty { page.modelsError = text("keys.settings.models_required", context) }
        let lines = page.networks.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var networks: [IPNetwork] = []
        for line in lines {
            guard let network = IPNetwork(line) else {
                page.networksError = text("keys.settings.network_invalid", context, ["value": String(line.prefix(64))])
                break
            }
            networks.append(network)
        }
        if networks.count > KeyService.maxRestrictions {
            page.networksError = text("keys.settings.too_many", context, ["max": String(KeyService.maxRestrictions)])
        }
        guard [page.requestsError, page.tokensError, page.budgetError, page.modelsError, page.networksError].allSatisfy({ $0 == nil }) else {
            return render(page, context, status: .badRequest)
        }
        let organization = membership.organization.id
        _ = try await keys.setLimits(RateLimit(requestsPerMinute: requests, tokensPerMinute: tokens), monthlyBudget: budget, id: key.id, organization: organization)
        _ = try await keys.setRestrictions(
            models: page.everyModel ? nil : chosen.sorted(), networks: networks.isEmpty ? nil : networks, id: key.id, organization: organization)
        return Response(status: .seeOther, headers: [.location: "/keys/\(key.id)?done=saved"])
    }

    /// A limit a minute from its field: empty for none, else 1 to a billion.
    private func perMinute(_ text: String, _ context: SignedInPageContext, error: (String) -> Void) -> Int? {
        guard !text.isEmpty else { return nil }
        guard let value = Int(text), (1...1_000_000_000).contains(value) else {
            error(self.text("keys.settings.per_minute_invalid", context))
            return nil
        }
        return value
    }

    /// The key among the reader's organizations, with their membership there; 404 otherwise.
    private func find(_ context: SignedInPageContext) async throws -> (APIKey, OrganizationMembership) {
        guard let id = context.parameters.get("key").flatMap(APIKeyID.init) else { throw HTTPError(.notFound) }
        for membership in try await accounts.organizations(of: context.user.id) {
            if let key = try await keys.key(id: id, organization: membership.organization.id), key.revokedAt == nil {
                return (key, membership)
            }
        }
        throw HTTPError(.notFound)
    }

    private func page(_ key: APIKey, canManage: Bool) -> Page {
        let allowed = Set(key.allowedModels ?? [])
        return Page(
            id: key.id.description, name: key.name, prefix: key.displayPrefix + "…", canManage: canManage,
            requestsPerMinute: key.rateLimit.requestsPerMinute.map(String.init) ?? "", tokensPerMinute: key.rateLimit.tokensPerMinute.map(String.init) ?? "",
            budget: key.monthlyBudget.map(Self.plainUnits) ?? "", everyModel: key.allowedModels == nil,
            models: catalog.models.map { Page.ModelChoice(name: $0.id, kind: $0.kind.rawValue, checked: allowed.contains($0.id)) },
            networks: (key.allowedNetworks ?? []).map(\.description).joined(separator: "\n"))
    }

    /// `12.5` for 12,500,000 micro-units: what a person types back.
    static func plainUnits(_ amount: Micros) -> String {
        var text = amount.formattedUnits
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    private func render(_ page: Page, _ context: SignedInPageContext, status: HTTPResponse.Status = .ok) -> Response {
        renderer.render("keys/settings", titleKey: "keys.settings.title", titleValues: ["name": page.name], model: page, state: context.page, status: status)
    }

    private func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
