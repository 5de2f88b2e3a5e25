import AtriumCore
import Foundation

/// What the portal knows of each public model beyond the catalog: its context length (from the
/// embedded engine or the provider's configuration).
struct ModelFacts: Sendable {
    var contextLengths: [String: Int] = [:]

    /// The embedded models' own lengths, then what the providers' catalog entries say.
    init(config: AtriumConfig, embedded: EmbeddedProvider?) {
        for provider in config.providers {
            for model in provider.models { if let length = model.contextLength { contextLengths[model.name] = length } }
        }
        for (name, model) in embedded?.models ?? [:] {
            switch model.engine {
            case .generation(let generator): contextLengths[name] = generator.contextLength
            case .embedding(let engine): contextLengths[name] = engine.embedder.maxSequenceLength
            }
        }
    }
}

/// The landing page's and the catalog page's view of the models: one row per public model, in the
/// reader's language. Built from the gateway's catalog (routes and breakers) and the price book.
struct ModelListing {
    struct Row {
        var name: String
        var anchor: String
        var kind: String
        var context: String
        var inputPrice: String
        var outputPrice: String
        var runsOn: String
        var health: String
        var healthClass: String
        /// A curl call of the model, escaped already (see `HTMLText`).
        var exampleHTML: String
    }

    var models: [Row]
    var hasModels: Bool
    var signedIn: Bool

    init(catalog: ModelCatalog, prices: PriceBook, facts: ModelFacts, baseURL: String, text: (String, [String: String]) -> String, signedIn: Bool) {
        models = catalog.models.map { model in
            let state = catalog.health(of: model.id)
            let price = prices.price(of: model.id)
            let runsOn = model.ownedBy == "embedded" ? text("models.embedded", [:]) : text("models.provider", ["name": model.ownedBy])
            return Row(
                name: model.id, anchor: "model-" + model.id.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined(),
                kind: text("models.kinds.\(model.kind.rawValue)", [:]),
                context: facts.contextLengths[model.id].map { text("models.tokens", ["count": $0.formatted(.number.grouping(.automatic))]) } ?? text("models.unknown", [:]),
                inputPrice: Self.price(price?.inputMicrosPerMillion, text: text), outputPrice: Self.price(price?.outputMicrosPerMillion, text: text),
                runsOn: runsOn, health: text("models.states.\(state.rawValue)", [:]), healthClass: state.rawValue,
                exampleHTML: HTMLText.escape(SampleCode.curl(SampleRequest(operation: .example(for: model.kind), model: model.id), baseURL: baseURL)))
        }
        hasModels = !models.isEmpty
        self.signedIn = signedIn
    }

    private static func price(_ micros: Micros?, text: (String, [String: String]) -> String) -> String {
        guard let micros, micros > 0 else { return text("models.free", [:]) }
        return text("models.price", ["amount": micros.displayAmount])
    }
}

extension Micros {
    /// `0.15` for 150,000 micro-units: at least two decimals, no trailing zeros beyond them.
    var displayAmount: String {
        var text = formattedUnits
        while text.hasSuffix("0"), let dot = text.firstIndex(of: "."), text.distance(from: dot, to: text.endIndex) > 3 { text.removeLast() }
        return text
    }
}
