import AtriumML
import AtriumPersistence
import Hummingbird
import NIOCore

/// `/healthz` (the process answers), `/readyz` (the database answers; providers' state) and `/metrics`.
struct HealthController {
    let database: AtriumDatabase
    let catalog: ModelCatalog
    let metrics: ServerMetrics
    /// The embedded chat models, whose engines' state `/metrics` shows.
    let generators: [String: GenerativeModel]

    func addRoutes(to router: Router<AtriumRequestContext>) {
        router.get("healthz") { _, _ in ModelAPIController.json(.object(["status": .string("ok")])) }
        router.get("readyz", use: ready)
        router.get("metrics") { [generators, metrics] _, _ in
            for (name, generator) in generators { metrics.recordEngine(model: name, statistics: generator.engine.statistics) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: metrics.render()))
        }
    }

    @Sendable func ready(_ request: Request, context: AtriumRequestContext) async throws -> Response {
        let databaseUp = await database.isReachable()
        let providers: [JSONValue] = catalog.providers.map { entry in
            .object(["name": .string(entry.provider.name), "state": .string(ProviderHealth(entry.breaker.current).rawValue)])
        }
        let body: JSONValue = .object([
            "status": .string(databaseUp ? "ready" : "unavailable"),
            "database": .string(databaseUp ? "up" : "down"),
            "providers": .array(providers),
        ])
        return ModelAPIController.json(body, status: databaseUp ? .ok : .serviceUnavailable)
    }
}
