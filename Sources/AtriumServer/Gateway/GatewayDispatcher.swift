import AtriumCore
import Logging

/// An upstream turned the request down as the caller's fault (a 4xx other than 429): the client gets
/// the upstream's status and error object, and no other provider is tried.
public struct UpstreamRejection: Error, Sendable {
    public var status: Int
    public var error: JSONValue?
    public var message: String
}

/// Sends a request to one provider of the model after another until one answers, skipping providers
/// whose circuit is open. Retries happen only here, before anything has been written to the client.
public struct GatewayDispatcher: Sendable {
    public let catalog: ModelCatalog
    public let logger: Logger

    public init(catalog: ModelCatalog, logger: Logger) {
        self.catalog = catalog
        self.logger = logger
    }

    public struct Outcome: Sendable {
        public var response: ProviderResponse
        public var route: ModelRoute
    }

    /// - Parameter priorAttempt: a provider already tried for this request (by the fast lane), which is
    ///   skipped, and whose failure stands when no other provider answers.
    func dispatch(model: String, request: ProviderRequest, priorAttempt: PriorAttempt? = nil) async throws -> Outcome {
        let routes = try catalog.routes(for: model, operation: request.operation, honouring: request.body)
        var lastFailure = priorAttempt?.failure
        for route in routes where route.provider.name != priorAttempt?.provider {
            guard route.breaker.acquire() else { continue }
            var upstreamRequest = request
            upstreamRequest.body["model"] = .string(route.upstreamModel)
            do {
                let response = try await route.provider.perform(upstreamRequest)
                route.breaker.recordSuccess()
                return Outcome(response: response, route: route)
            } catch let failure as ProviderFailure {
                if failure.retryable {
                    route.breaker.recordFailure()
                    lastFailure = failure
                    logger.warning(
                        "provider failed, trying the next one",
                        metadata: ["provider": .string(route.provider.name), "error": .string(failure.message), "request_id": .string(request.requestID)])
                    continue
                }
                route.breaker.recordSuccess()
                guard case .upstreamStatus(let status) = failure.kind else { throw failure }
                throw UpstreamRejection(status: status, error: failure.upstreamError, message: failure.message)
            } catch {
                route.breaker.releaseTrial()
                throw error
            }
        }
        guard let lastFailure else {
            throw AtriumError.serviceUnavailable("No provider of `\(model)` is available right now. Please retry shortly.")
        }
        switch lastFailure.kind {
        case .timeout:
            throw AtriumError.gatewayTimeout("The upstream did not answer in time.")
        case .upstreamStatus(429):
            throw AtriumError.rateLimited("The model `\(model)` is overloaded. Please retry shortly.", retryAfterSeconds: 1, code: "upstream_rate_limited")
        default:
            throw AtriumError.badGateway("The upstream failed: \(lastFailure.message)")
        }
    }
}
