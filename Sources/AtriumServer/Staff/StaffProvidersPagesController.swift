import AtriumCore
import Foundation
import Hummingbird

/// `/staff/providers`: each inference provider with its circuit's state now (closed, open and for how
/// long, or letting a trial through) and the models it serves; and every model's price with its
/// history (who set it and when). Prices are set through `/api/prices` (audited).
struct StaffProvidersPagesController {
    let catalog: ModelCatalog
    let prices: PriceBook
    let renderer: PageRenderer

    struct Page {
        struct ProviderRow {
            var name: String
            var state: String
            var healthy: Bool
            var models: String
        }

        struct PriceRow {
            var model: String
            var input: String
            var output: String
            var since: String
            var history: [HistoryRow]
            var hasHistory: Bool
        }

        struct HistoryRow {
            var input: String
            var output: String
            var since: String
        }

        var providers: [ProviderRow]
        var prices: [PriceRow]
        var hasPrices: Bool
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("staff/providers", use: page)
    }

    @Sendable func page(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        let now = ContinuousClock.now
        let providers = catalog.providers.map { entry in
            let (state, healthy): (String, Bool) =
                switch entry.breaker.current {
                case .closed(let failures): (text("staff.providers.closed", context, ["failures": String(failures)]), true)
                case .open(let until, _):
                    (text("staff.providers.open", context, ["seconds": String(max(0, Int((until - now).components.seconds)))]), false)
                case .halfOpen: (text("staff.providers.half_open", context), false)
                }
            return Page.ProviderRow(
                name: entry.provider.name, state: state, healthy: healthy, models: (catalog.servedModels[entry.provider.name] ?? []).joined(separator: ", "))
        }
        var rows: [Page.PriceRow] = []
        for price in prices.all.sorted(by: { $0.model < $1.model }) {
            let history = try await prices.history(model: price.model).filter { $0.id != price.id }.map {
                Page.HistoryRow(input: Self.perMillion($0.inputMicrosPerMillion), output: Self.perMillion($0.outputMicrosPerMillion), since: PageFormat.date($0.createdAt))
            }
            rows.append(Page.PriceRow(
                model: price.model, input: Self.perMillion(price.inputMicrosPerMillion), output: Self.perMillion(price.outputMicrosPerMillion),
                since: PageFormat.date(price.createdAt), history: history, hasHistory: !history.isEmpty))
        }
        let page = Page(providers: providers, prices: rows, hasPrices: !rows.isEmpty)
        return renderer.render("staff/providers", titleKey: "staff.providers.title", model: page, state: context.page)
    }

    private static func perMillion(_ micros: Micros) -> String { micros.displayAmount }

    private func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
