import AtriumCore
import Foundation
import Synchronization

/// One way to reach a public model: a provider, the name it knows the model by, and its breaker.
public struct ModelRoute: Sendable {
    public var provider: any InferenceProvider
    public var upstreamModel: String
    public var kind: ModelKind
    public var breaker: CircuitBreaker
    /// Request fields this route cannot honour (from the provider's catalog entry).
    public var unsupported: Set<String> = []

    /// The first field of `body` this route cannot honour (set and not null).
    func unhonoured(in body: JSONValue) -> String? {
        guard !unsupported.isEmpty else { return nil }
        return unsupported.sorted().first { body[$0] != nil && body[$0] != .null }
    }
}

/// A provider's state as people read it.
enum ProviderHealth: String, Sendable {
    case up, down, probing

    init(_ state: CircuitBreaker.State) {
        switch state {
        case .closed: self = .up
        case .open: self = .down
        case .halfOpen: self = .probing
        }
    }
}

/// A model as `/v1/models` lists it.
public struct PublicModel: Sendable {
    public var id: String
    public var kind: ModelKind
    public var ownedBy: String
    public var created: Int64
}

/// Which providers serve which public model, built once from the configuration.
public final class ModelCatalog: Sendable {
    public let models: [PublicModel]
    private let routesByModel: [String: [ModelRoute]]
    public let providers: [(provider: any InferenceProvider, breaker: CircuitBreaker)]
    /// The public names each provider serves, by provider name (the staff console).
    public let servedModels: [String: [String]]
    private let nextStart = Atomic<Int>(0)

    public struct Entry: Sendable {
        public var provider: any InferenceProvider
        public var breaker: CircuitBreaker
        public var models: [(name: String, upstream: String, kind: ModelKind)]
        /// Per model name: the request fields this provider cannot honour.
        public var unsupported: [String: Set<String>]

        public init(
            provider: any InferenceProvider, breaker: CircuitBreaker = CircuitBreaker(), models: [(name: String, upstream: String, kind: ModelKind)],
            unsupported: [String: Set<String>] = [:]
        ) {
            self.provider = provider
            self.breaker = breaker
            self.models = models
            self.unsupported = unsupported
        }
    }

    public init(entries: [Entry], created: Date = Date()) {
        var routes: [String: [ModelRoute]] = [:]
        var models: [PublicModel] = []
        var providers: [(any InferenceProvider, CircuitBreaker)] = []
        var served: [String: [String]] = [:]
        for entry in entries {
            let breaker = entry.breaker
            providers.append((entry.provider, breaker))
            served[entry.provider.name, default: []] += entry.models.map(\.name)
            for model in entry.models {
                if routes[model.name] == nil {
                    models.append(PublicModel(id: model.name, kind: model.kind, ownedBy: entry.provider.name, created: Int64(created.timeIntervalSince1970)))
                }
                routes[model.name, default: []].append(
                    ModelRoute(
                        provider: entry.provider, upstreamModel: model.upstream, kind: model.kind, breaker: breaker,
                        unsupported: entry.unsupported[model.name] ?? []))
            }
        }
        self.routesByModel = routes
        self.models = models.sorted { $0.id < $1.id }
        self.providers = providers
        self.servedModels = served
    }

    public func model(named name: String) -> PublicModel? { models.first { $0.id == name } }

    /// The routes to try for `model` that can honour every field of `body`, healthy ones first, rotated so
    /// load spreads across providers. A field no route can honour is a 400 naming it, never dropped.
    func routes(for model: String, operation: ModelOperation, honouring body: JSONValue) throws -> [ModelRoute] {
        let routes = try routes(for: model, operation: operation)
        if routes.allSatisfy({ $0.unhonoured(in: body) == nil }) { return routes }
        let honouring = routes.filter { $0.unhonoured(in: body) == nil }
        if honouring.isEmpty, let field = routes.first?.unhonoured(in: body) {
            throw AtriumError.invalidRequest(
                "Unsupported parameter: '\(field)' is not supported with the model `\(model.prefix(200))`.", param: field, code: "unsupported_parameter")
        }
        return honouring
    }

    /// How a model's providers stand: up when any route's circuit is closed, probing while one is
    /// half-open, down when every one is open (the `/readyz` words, per model).
    func health(of model: String) -> ProviderHealth {
        let states = (routesByModel[model] ?? []).map { ProviderHealth($0.breaker.current) }
        if states.contains(.up) { return .up }
        return states.contains(.probing) ? .probing : .down
    }

    /// The routes to try for `model`, healthy ones first, rotated so load spreads across providers.
    public func routes(for model: String, operation: ModelOperation) throws -> [ModelRoute] {
        guard let all = routesByModel[model], !all.isEmpty else {
            throw AtriumError.notFound("The model `\(model.prefix(200))` does not exist or you do not have access to it.", code: "model_not_found")
        }
        let capable = all.allSatisfy { $0.kind.supports(operation) } ? all : all.filter { $0.kind.supports(operation) }
        guard !capable.isEmpty else {
            throw AtriumError.invalidRequest(
                "The model `\(model)` is a \(all[0].kind.rawValue) model and does not support /v1/\(operation.rawValue).",
                param: "model", code: "unsupported_model")
        }
        if capable.count == 1 { return capable }  // the usual case, with nothing to order
        let start = nextStart.wrappingAdd(1, ordering: .relaxed).oldValue
        let rotated = (0..<capable.count).map { capable[(start + $0) % capable.count] }
        return rotated.filter { !$0.breaker.isOpen } + rotated.filter { $0.breaker.isOpen }
    }
}
