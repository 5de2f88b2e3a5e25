import AtriumCore
import Foundation
import Hummingbird

/// `/playground`: chat with any chat model the organization may use, streamed token by token, and
/// compare embeddings of a few texts. The page calls `/v1` itself with a short-lived key of the
/// reader's organization (an hour), so its calls are metered and limited like any other. The key is
/// made when the page first runs something (`POST /playground/key`, which replaces the reader's
/// previous playground key), not when the page is shown, so reading the page writes nothing. Each run
/// shows its code, from the docs' own generator.
struct PlaygroundPagesController {
    let keys: KeyService
    let accounts: AccountService
    let catalog: ModelCatalog
    let prices: PriceBook
    let renderer: PageRenderer
    let secureCookies: Bool

    /// The name the playground's keys carry (in the reader's keys list too, so nothing is hidden).
    static let keyName = "Playground"
    static let keyLifetime: TimeInterval = 3600

    struct Page {
        struct Model {
            var id: String
            var inputPrice: Int64
            var outputPrice: Int64
        }

        var chatModels: [Model]
        var embeddingModels: [Model]
        var hasChat: Bool
        var hasEmbeddings: Bool
        var baseURL: String
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("playground", use: playground)
        router.get("playground/code", use: code)
        router.post("playground/key", use: key)
    }

    @Sendable func playground(_ request: Request, context: SignedInPageContext) async throws -> Response {
        guard (try? accounts.requireVerifiedEmail(context.user)) != nil else {
            return renderer.notice(
                "email_not_verified", ["email": context.user.email], links: [("/account", "accounts.links.to_account")], state: context.page,
                status: .forbidden)
        }
        func models(_ kind: ModelKind) -> [Page.Model] {
            catalog.models.filter { $0.kind == kind }.map { model in
                let price = prices.price(of: model.id)
                return Page.Model(id: model.id, inputPrice: price?.inputMicrosPerMillion ?? 0, outputPrice: price?.outputMicrosPerMillion ?? 0)
            }
        }
        let chatModels = models(.chat), embeddingModels = models(.embedding)
        let page = Page(
            chatModels: chatModels, embeddingModels: embeddingModels, hasChat: !chatModels.isEmpty, hasEmbeddings: !embeddingModels.isEmpty,
            baseURL: PortalController.baseURL(of: request, secure: secureCookies))
        var response = renderer.render("playground/index", titleKey: "playground.title", model: page, state: context.page)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// A new key for the page's calls (JSON: `{"key": "atr_…", "expires_at": …}`), the reader's
    /// previous playground key in this organization revoked.
    @Sendable func key(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try accounts.requireVerifiedEmail(context.user)
        let organization = try await context.actingOrganization(accounts).organization
        for old in try await keys.list(organization: organization.id) where old.name == Self.keyName && old.createdBy == context.user.id {
            do {
                try await keys.revoke(id: old.id, organization: organization.id)
            } catch AtriumError.notFound {
                // Another tab's playground revoked it first.
            }
        }
        let expiresAt = Date().addingTimeInterval(Self.keyLifetime)
        let key = try await keys.create(organization: organization.id, createdBy: context.user.id, name: Self.keyName, scopes: nil, expiresAt: expiresAt)
        var response = ModelAPIController.json(.object(["key": .string(key.secret), "expires_at": .int(Int64(expiresAt.timeIntervalSince1970))]))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// The code for a run's settings, in the four languages (JSON: `{"curl": "…", …}`).
    @Sendable func code(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let query = request.uri.queryParameters
        let model = String(query["model"] ?? "").prefix(200)
        func number(_ name: String, _ range: ClosedRange<Double>) -> SampleValue? {
            query[Substring(name)].flatMap { Double(String($0)) }.flatMap { range.contains($0) ? .number($0) : nil }
        }
        func text(_ name: String) -> String { String(String(query[Substring(name)] ?? "").prefix(10_000)) }
        let operation: SampleRequest.Operation
        var fields: [(String, SampleValue)] = []
        if query["operation"] == "embeddings" {
            operation = .embeddings
            let inputs = text("input").split(separator: "\n").map { SampleValue.string(String($0)) }
            fields = [("input", .array(Array(inputs.prefix(16))))]
        } else {
            operation = .chatStream
            var messages: [SampleValue] = []
            if !text("system").isEmpty { messages.append(.object([("role", .string("system")), ("content", .string(text("system")))])) }
            messages.append(.object([("role", .string("user")), ("content", .string(text("message")))]))
            fields = [("messages", .array(messages))]
            for (name, range) in [("temperature", 0.0...2.0), ("top_p", 0.0...1.0)] {
                if let value = number(name, range) { fields.append((name, value)) }
            }
            for (name, range) in [("max_tokens", 1.0...1_000_000.0), ("seed", -9e15...9e15)] {
                if let value = number(name, range), case .number(let n) = value, n == n.rounded() { fields.append((name, .int(Int(n)))) }
            }
            fields.append(("stream", .bool(true)))
            fields.append(("stream_options", .object([("include_usage", .bool(true))])))
        }
        let samples = SampleCode.all(
            SampleRequest(operation: operation, model: String(model), fields: fields),
            baseURL: PortalController.baseURL(of: request, secure: secureCookies))
        let body = JSONValue.object(Dictionary(uniqueKeysWithValues: samples.map { ($0.language, JSONValue.string($0.code)) }))
        return ModelAPIController.json(body)
    }
}
