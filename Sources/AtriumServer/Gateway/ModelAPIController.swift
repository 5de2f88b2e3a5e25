import AtriumCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The OpenAI-compatible model API under `/v1`: validates each request, hands it to the dispatcher and
/// relays the answer, streamed or whole, with the client's model name.
struct ModelAPIController {
    let dispatcher: GatewayDispatcher
    let meter: Meter
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
        let data = dispatcher.catalog.models.filter { context.principal.permits(model: $0.id) }.map(Self.modelObject)
        return Self.json(.object(["object": .string("list"), "data": .array(data)]))
    }

    @Sendable func showModel(_ request: Request, context: KeyRequestContext) async throws -> Response {
        try context.require(.modelRead)
        let id = context.parameters.getCatchAll().joined(separator: "/")
        guard let model = dispatcher.catalog.model(named: id), context.principal.permits(model: model.id) else {
            throw AtriumError.notFound("The model `\(id.prefix(200))` does not exist or you do not have access to it.", code: "model_not_found")
        }
        return Self.json(Self.modelObject(model))
    }

    func proxy(_ operation: ModelOperation, request: Request, context: KeyRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        var model: String?
        var streamed = false
        var admission: Admission?
        do {
            try context.require(.modelRequest)
            let buffer = try await request.collectBody(limit: maxBodyBytes)
            var body = try JSONValue.parse(buffer)
            (model, streamed) = try OpenAISchemas.validate(body, for: operation)
            try context.principal.requirePermits(model: model!)
            let admitted = try await meter.admitLoading(
                context.principal, model: model!, operation: operation, body: body, streamed: streamed, requestID: context.requestID, start: start)
            admission = admitted
            // Streams always ask the upstream for usage; the client sees it only if it asked too.
            let clientWantsUsage = body["stream_options"]?["include_usage"]?.boolValue == true
            if streamed { body["stream_options"] = .object(["include_usage": .bool(true)]) }

            let outcome: GatewayDispatcher.Outcome
            do {
                outcome = try await dispatcher.dispatch(
                    model: admitted.model,
                    request: ProviderRequest(
                        operation: operation, body: body, stream: streamed, requestID: context.requestID, eventLoop: context.channel.eventLoop),
                    priorAttempt: request.headers[.priorAttempt].flatMap(PriorAttempt.init(headerValue:)))
            } catch {
                metrics.recordUpstream(provider: "none", operation: operation.rawValue, outcome: "failed", duration: .now - start)
                throw error
            }
            metrics.recordUpstream(provider: outcome.route.provider.name, operation: operation.rawValue, outcome: "ok", duration: .now - start)

            switch outcome.response {
            case .complete(var json):
                json["model"] = .string(admitted.model)
                let usage = Self.reportedUsage(json["usage"])
                if let usage { metrics.recordTokens(model: admitted.model, prompt: usage.prompt, completion: usage.completion) }
                meter.finish(admitted, requestID: context.requestID, outcome: MeteredOutcome(
                    provider: outcome.route.provider.name, status: 200, reported: usage,
                    generatedCharacters: usage == nil ? TokenEstimate.generatedCharacters(in: json) : 0,
                    finishReason: json["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue, charged: true))
                var response = Self.json(json)
                Self.add(RateLimitHeaders.fields(admitted.readings), to: &response)
                return response
            case .stream(let stream):
                var response = streamResponse(stream, admission: admitted, route: outcome.route, clientWantsUsage: clientWantsUsage, context: context)
                Self.add(RateLimitHeaders.fields(admitted.readings), to: &response)
                return response
            }
        } catch {
            var headers: [(String, String)] = []
            let failure: any Error
            if let refusal = error as? MeterRefusal {
                failure = refusal.error
                headers = refusal.headers
            } else {
                failure = error
            }
            var response = ErrorMiddleware.response(for: failure, request: request, requestID: context.requestID, logger: context.logger)
            let message = ErrorEnvelope(failure, method: "POST", path: request.uri.path, requestID: context.requestID).body["error"]?["message"]?.stringValue
            if let admission {
                meter.finish(
                    admission, requestID: context.requestID,
                    outcome: MeteredOutcome(provider: nil, status: response.status.code, errorMessage: message, charged: false))
                headers = RateLimitHeaders.fields(admission.readings)
            } else if !(error is MeterRefusal) {
                // Refusals by a limit were recorded by the meter; everything else refused before admission is recorded here.
                meter.recordRefusal(
                    context.principal, model: model, requestID: context.requestID, status: response.status.code, streamed: streamed, start: start,
                    error: message)
            }
            Self.add(headers, to: &response)
            return response
        }
    }

    /// Relays chunks as SSE. When the client goes away the channel closes, which cancels the provider at
    /// once; a provider failing mid-stream ends the stream with an error event the SDKs raise. The usage
    /// record is in the journal before the final `[DONE]` goes out.
    private func streamResponse(
        _ stream: ProviderStream, admission: Admission, route: ModelRoute, clientWantsUsage: Bool, context: KeyRequestContext
    ) -> Response {
        let channel = context.channel
        let logger = context.logger
        let metrics = self.metrics
        let meter = self.meter
        let requestID = context.requestID
        let provider = route.provider.name
        let body = ResponseBody { writer in
            let cancel = stream.cancel
            channel.closeFuture.whenComplete { _ in cancel() }
            defer { cancel() }
            var usage: (prompt: Int, completion: Int)?
            var generated = 0
            var finishReason: String?
            var finished = false
            func finish(status: Int, charged: Bool) {
                guard !finished else { return }
                finished = true
                meter.finish(admission, requestID: requestID, outcome: MeteredOutcome(
                    provider: provider, status: status, reported: usage, generatedCharacters: generated, finishReason: finishReason, charged: charged))
            }
            do {
                for try await var chunk in stream.chunks {
                    if let reported = Self.reportedUsage(chunk["usage"]) {
                        usage = reported
                        metrics.recordTokens(model: admission.model, prompt: reported.prompt, completion: reported.completion)
                    }
                    generated += TokenEstimate.generatedCharacters(in: chunk)
                    if let reason = chunk["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue { finishReason = reason }
                    if !clientWantsUsage {
                        // The usage-only chunk the client did not ask for is dropped, and so is the field.
                        if chunk["usage"] != nil, chunk["choices"]?.arrayValue?.isEmpty ?? true { continue }
                        chunk["usage"] = nil
                    }
                    chunk["model"] = .string(admission.model)
                    try await writer.write(ServerSentEventWriter.frame(chunk.encodedBuffer()))
                }
                finish(status: 200, charged: true)
                try await writer.write(ServerSentEventWriter.done)
            } catch let failure as ProviderFailure {
                route.breaker.recordFailure()
                finish(status: 502, charged: false)
                logger.warning("provider failed mid-stream", metadata: ["provider": .string(provider), "error": .string(failure.message)])
                let event: JSONValue = .object(["error": .object([
                    "message": .string("The upstream failed mid-stream: \(failure.message)"), "type": .string("server_error"),
                    "param": .null, "code": .string("upstream_error"),
                ])])
                try await writer.write(ServerSentEventWriter.frame(event.encodedBuffer()))
            } catch {
                // The client went away (the write failed, or the provider was cancelled with the channel):
                // what was generated until then is charged, as an estimate unless the upstream said.
                finish(status: 499, charged: true)
                logger.debug("stream ended early: client went away")
                if error is CancellationError { return }
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"],
            body: body)
    }

    static func reportedUsage(_ usage: JSONValue?) -> (prompt: Int, completion: Int)? {
        guard let usage, let prompt = usage["prompt_tokens"]?.intValue else { return nil }
        // Counts are the upstream's word; they are kept within what the ledger believes.
        func believable(_ value: Int64) -> Int { Int(min(max(value, 0), Int64(UsageRecord.maxTokens))) }
        return (believable(prompt), believable(usage["completion_tokens"]?.intValue ?? 0))
    }

    static func add(_ fields: [(String, String)], to response: inout Response) {
        for (name, value) in fields {
            if let name = HTTPField.Name(name) { response.headers[name] = value }
        }
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
