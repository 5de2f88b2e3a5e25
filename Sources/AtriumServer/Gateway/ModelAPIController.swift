import AtriumCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The OpenAI-compatible model API under `/v1`: validates each request, hands it to the dispatcher and
/// relays the answer, streamed or whole, with the client's model name.
struct ModelAPIController {
    let dispatcher: GatewayDispatcher
    let metrics: ServerMetrics
    let maxBodyBytes: Int

    func addRoutes(to group: RouterGroup<KeyRequestContext>) {
        group.get("models", use: listModels)
        group.get("models/**", use: showModel)
        for operation in ModelOperation.allCases {
            group.post(RouterPath(operation.rawValue)) { request, context in
                try await proxy(operation, request: request, context: context)
            }
        }
    }

    @Sendable func listModels(_ request: Request, context: KeyRequestContext) async throws -> Response {
        try context.require(.modelRead)
        let data = dispatcher.catalog.models.map(Self.modelObject)
        return Self.json(.object(["object": .string("list"), "data": .array(data)]))
    }

    @Sendable func showModel(_ request: Request, context: KeyRequestContext) async throws -> Response {
        try context.require(.modelRead)
        let id = context.parameters.getCatchAll().joined(separator: "/")
        guard let model = dispatcher.catalog.model(named: id) else {
            throw AtriumError.notFound("The model `\(id.prefix(200))` does not exist or you do not have access to it.", code: "model_not_found")
        }
        return Self.json(Self.modelObject(model))
    }

    func proxy(_ operation: ModelOperation, request: Request, context: KeyRequestContext) async throws -> Response {
        try context.require(.modelRequest)
        let buffer = try await request.collectBody(limit: maxBodyBytes)
        let body = try JSONValue.parse(buffer)
        let (model, stream) = try OpenAISchemas.validate(body, for: operation)

        let start = ContinuousClock.now
        let outcome: GatewayDispatcher.Outcome
        do {
            outcome = try await dispatcher.dispatch(
                model: model,
                request: ProviderRequest(
                    operation: operation, body: body, stream: stream, requestID: context.requestID, eventLoop: context.channel.eventLoop),
                priorAttempt: request.headers[.priorAttempt].flatMap(PriorAttempt.init(headerValue:)))
        } catch {
            metrics.recordUpstream(provider: "none", operation: operation.rawValue, outcome: "failed", duration: .now - start)
            throw error
        }
        metrics.recordUpstream(provider: outcome.route.provider.name, operation: operation.rawValue, outcome: "ok", duration: .now - start)

        switch outcome.response {
        case .complete(var json):
            json["model"] = .string(model)
            recordUsage(json["usage"], model: model)
            return Self.json(json)
        case .stream(let stream):
            return streamResponse(stream, model: model, route: outcome.route, context: context)
        }
    }

    /// Relays chunks as SSE. When the client goes away the channel closes, which cancels the provider at
    /// once; a provider failing mid-stream ends the stream with an error event the SDKs raise.
    private func streamResponse(_ stream: ProviderStream, model: String, route: ModelRoute, context: KeyRequestContext) -> Response {
        let channel = context.channel
        let logger = context.logger
        let metrics = self.metrics
        let body = ResponseBody { writer in
            let cancel = stream.cancel
            channel.closeFuture.whenComplete { _ in cancel() }
            defer { cancel() }
            do {
                for try await var chunk in stream.chunks {
                    chunk["model"] = .string(model)
                    if let usage = chunk["usage"], usage != .null { Self.record(usage, model: model, metrics: metrics) }
                    try await writer.write(ServerSentEventWriter.frame(chunk.encodedBuffer()))
                }
                try await writer.write(ServerSentEventWriter.done)
            } catch let failure as ProviderFailure {
                route.breaker.recordFailure()
                logger.warning("provider failed mid-stream", metadata: ["provider": .string(route.provider.name), "error": .string(failure.message)])
                let event: JSONValue = .object(["error": .object([
                    "message": .string("The upstream failed mid-stream: \(failure.message)"), "type": .string("server_error"),
                    "param": .null, "code": .string("upstream_error"),
                ])])
                try await writer.write(ServerSentEventWriter.frame(event.encodedBuffer()))
            } catch is CancellationError {
                logger.debug("stream cancelled: client went away")
                return
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"],
            body: body)
    }

    private func recordUsage(_ usage: JSONValue?, model: String) {
        guard let usage else { return }
        Self.record(usage, model: model, metrics: metrics)
    }

    static func record(_ usage: JSONValue, model: String, metrics: ServerMetrics) {
        metrics.recordTokens(
            model: model, prompt: usage["prompt_tokens"]?.intValue ?? 0, completion: usage["completion_tokens"]?.intValue ?? 0)
    }

    private static func modelObject(_ model: PublicModel) -> JSONValue {
        .object([
            "id": .string(model.id), "object": .string("model"), "created": .int(model.created), "owned_by": .string(model.ownedBy),
        ])
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: value.encodedBuffer()))
    }
}
