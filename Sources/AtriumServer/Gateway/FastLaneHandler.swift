import AtriumCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Serves the common case of the model API without leaving the event loop: a whole (not streamed)
/// request with a key whose verification is cached, a valid body, and a plain-HTTP provider whose
/// circuit is closed. It is forwarded on the connection's own loop and answered from there: no Swift
/// task, no thread switch, no middleware chain. On two cores that halves the CPU a proxied request
/// costs (Hummingbird's per-request machinery alone was ~90 µs of CPU).
///
/// Everything else — streams, a key not yet in the cache, any invalid input, an upstream that failed
/// or is out of rotation — is handed, untouched, to the Hummingbird router, which does the full job
/// (validation messages, failover, the circuit breaker's trials). Both lanes validate with the same
/// `OpenAISchemas` and answer errors with the same `ErrorEnvelope`, so a client cannot tell them apart.
///
/// The handler sits in each connection's pipeline right after NIO's HTTP/1 decoder, before
/// Hummingbird's own handlers (whose conversions to HTTP types cost a tenth of a proxied request), and
/// writes its answers as bytes through a `ResponseOutlet` on the socket's side of NIO's encoder.
/// HTTP/1.1 ordering is kept: it only takes a request when no request of the connection is with
/// Hummingbird, and holds whatever arrives while it serves one.
final class FastLaneHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What the lane shares with the rest of the server.
    struct Services: Sendable {
        var keys: KeyService
        var catalog: ModelCatalog
        var meter: Meter
        var metrics: ServerMetrics
        var maxBodyBytes: Int
        var clientAddress: ClientAddress
    }

    private enum State {
        case idle
        case collecting(HTTPRequestHead, ByteBuffer, ModelOperation)
        case serving
    }

    private static let paths: [String: ModelOperation] = Dictionary(
        uniqueKeysWithValues: ModelOperation.allCases.map { ("/v1/\($0.rawValue)", $0) })

    private let services: Services
    private var state = State.idle
    /// Requests handed to Hummingbird whose response has not ended yet.
    private var slowInFlight = 0
    /// Parts that arrived while the lane was serving a request (pipelining), replayed afterwards.
    private var held: [HTTPServerRequestPart] = []
    private var heldQuiesce = false
    /// Whether a part went on to the router since reading last completed. When none did, the router is
    /// not told that reading completed: its async channel handler did work for that on every request.
    private var forwardedRead = false

    /// The connection's `ResponseOutlet`, which the lane's answers are written through.
    private let outlet: ChannelHandlerContext

    init(services: Services, outlet: ChannelHandlerContext) {
        self.services = services
        self.outlet = outlet
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .serving:
            held.append(part)
        case .collecting(let head, var body, let operation):
            switch part {
            case .body(var chunk):
                if body.readableBytes + chunk.readableBytes > services.maxBodyBytes {
                    state = .idle
                    handOver([.head(head), .body(body), .body(chunk)], context: context)  // the router answers 413
                } else {
                    body.writeBuffer(&chunk)
                    state = .collecting(head, body, operation)
                }
            case .end:
                serve(head, body, operation, context: context)
            case .head:
                state = .idle
                handOver([.head(head), .body(body), part], context: context)
            }
        case .idle:
            guard case .head(var head) = part else {
                forwardedRead = true
                context.fireChannelRead(data)
                return
            }
            // Only the lane itself may tell the router about an attempt already made.
            head.headers.remove(name: PriorAttempt.headerName)
            if slowInFlight == 0, let operation = candidate(head) {
                state = .collecting(head, ByteBuffer(), operation)
                return
            }
            slowInFlight += 1
            forwardedRead = true
            context.fireChannelRead(wrapInboundOut(.head(head)))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard forwardedRead || slowInFlight > 0 else { return }
        forwardedRead = false
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { slowInFlight -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Graceful shutdown asks idle connections to close; one the lane is serving is not idle yet.
        if event is ChannelShouldQuiesceEvent, case .serving = state {
            heldQuiesce = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func candidate(_ head: HTTPRequestHead) -> ModelOperation? {
        guard head.method == .POST, let operation = Self.paths[head.uri],
            head.headers.contains(name: "authorization"), !head.headers.contains(name: "expect")
        else { return nil }
        return operation
    }

    private func handOver(_ parts: [HTTPServerRequestPart], context: ChannelHandlerContext) {
        slowInFlight += 1
        for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
        context.fireChannelReadComplete()
    }

    private func serve(_ head: HTTPRequestHead, _ body: ByteBuffer, _ operation: ModelOperation, context: ChannelHandlerContext) {
        let start = ContinuousClock.now
        guard let authorization = head.headers.first(name: "authorization"), let digest = secretDigest(authorization),
            let principal = services.keys.cachedPrincipal(digest: digest),
            principal.allows(.modelRequest),
            let (json, modelRange) = try? JSONValue.parse(body, locating: "model"), let modelRange,
            let (model, stream) = try? OpenAISchemas.validate(json, for: operation), !stream,
            // A key's restrictions: what they refuse, the router lane answers (with OpenAI's 403).
            principal.permits(model: model), principal.permits(address: services.clientAddress.resolve(
                peer: context.channel.remoteAddress?.ipAddress, forwardedFor: head.headers["x-forwarded-for"]))
        else {
            return handOverWhole(head, body, context: context)
        }
        let requestID = RequestIDGenerator.id(clientSent: head.headers.first(name: "x-request-id"))
        let meter = services.meter
        let admission: Admission
        switch meter.admit(principal, model: model, operation: operation, body: json, streamed: false, requestID: requestID, start: start) {
        case .needsDatabase:
            // The router loads the organization's account, or asks the shared limits, and admits it there.
            return handOverWhole(head, body, context: context)
        case .refused(let refusal):
            let envelope = ErrorEnvelope(refusal.error, method: "POST", path: head.uri, requestID: requestID)
            servedPath = head.uri
            return respond(
                envelope.status, envelope.body.encodedBuffer(), extraHeaders: refusal.headers, requestID: requestID, version: head.version,
                closeAfter: !head.isKeepAlive, start: start, context: context)
        case .admitted(let admitted):
            admission = admitted
        }
        // The same admission as the dispatcher's: a closed circuit, or the trial of a half-open one.
        guard let routes = try? services.catalog.routes(for: model, operation: operation, honouring: json), !routes.isEmpty,
            let route = routes.first(where: { $0.breaker.acquire() })
        else {
            meter.cancel(admission)
            return handOverWhole(head, body, context: context)
        }
        // The body goes on as the client wrote it, with only the model's name swapped in place.
        let upstreamBody = route.upstreamModel == model ? body : JSONValue.splice(body, replacing: modelRange, with: route.upstreamModel)
        guard let provider = route.provider as? OpenAICompatibleProvider,
            let reply = provider.sendOnLoop(context.eventLoop, operation: operation, body: upstreamBody, requestID: requestID)
        else {
            route.breaker.releaseTrial()
            meter.cancel(admission)
            return handOverWhole(head, body, context: context)
        }
        state = .serving
        servedPath = head.uri
        let closeAfter = !head.isKeepAlive
        let version = head.version
        let metrics = services.metrics
        let rateLimitHeaders = RateLimitHeaders.fields(admission.readings)
        reply.whenComplete { result in
            switch result {
            case .success((let status, let answer?)) where (200..<300).contains(status):
                guard let members = try? JSONValue.scanObject(answer, keep: ["model", "usage", "choices"]) else {
                    route.breaker.recordFailure()
                    meter.cancel(admission)
                    guard context.channel.isActive else { return self.clientGoneBeforeAnswer(admission, requestID: requestID) }
                    let failure = ProviderFailure(.protocolViolation, "\(provider.name) answered with a body that is not a JSON object")
                    return self.fallBack(head, body, after: PriorAttempt(provider: provider.name, failure: failure), context: context)
                }
                route.breaker.recordSuccess()
                let (upstreamModel, reported, choices) = (members[0], members[1], members[2]?.value)
                let usage = ModelAPIController.reportedUsage(reported?.value)
                if let usage { metrics.recordTokens(model: model, prompt: usage.prompt, completion: usage.completion) }
                metrics.recordUpstream(provider: provider.name, operation: operation.rawValue, outcome: "ok", duration: .now - start)
                // Journaled before the answer goes out (the turn writes its lines, then flushes its answers):
                // a client that has the answer has its record.
                meter.finish(admission, requestID: requestID, outcome: MeteredOutcome(
                    provider: provider.name, status: context.channel.isActive ? 200 : 499, reported: usage,
                    generatedCharacters: usage == nil ? TokenEstimate.generatedCharacters(inChoices: choices) : 0,
                    finishReason: choices?.arrayValue?.first?["finish_reason"]?.stringValue, charged: true),
                    journalingIn: TurnFlush.of(context.eventLoop))
                guard context.channel.isActive else { return self.clientLeft() }
                // The client sees its own name for the model, spliced into the upstream's bytes.
                let output: ByteBuffer
                if let upstreamModel, upstreamModel.value.stringValue != nil {
                    output = JSONValue.splice(answer, replacing: upstreamModel.range, with: model)
                } else {
                    guard var json = try? JSONValue.parse(answer) else { return }
                    json["model"] = .string(model)
                    output = json.encodedBuffer()
                }
                self.respond(
                    .ok, output, extraHeaders: rateLimitHeaders, requestID: requestID, version: version, closeAfter: closeAfter, start: start,
                    context: context)
            case .success((let status, let answer)) where status != 429 && (400..<500).contains(status):
                // The upstream refused the request itself: answer as the router would, without a retry.
                route.breaker.recordSuccess()
                let failure = provider.failure(status: status, body: answer ?? ByteBuffer())
                let envelope = ErrorEnvelope(
                    UpstreamRejection(status: status, error: failure.upstreamError, message: failure.message),
                    method: "POST", path: head.uri, requestID: requestID)
                meter.finish(admission, requestID: requestID, outcome: MeteredOutcome(
                    provider: provider.name, status: context.channel.isActive ? Int(envelope.status.code) : 499,
                    errorMessage: envelope.body["error"]?["message"]?.stringValue, charged: false),
                    journalingIn: TurnFlush.of(context.eventLoop))
                guard context.channel.isActive else { return self.clientLeft() }
                self.respond(
                    envelope.status, envelope.body.encodedBuffer(), extraHeaders: rateLimitHeaders, requestID: requestID, version: version,
                    closeAfter: closeAfter, start: start, context: context)
            case .success((let status, let answer)):
                // A 5xx or a 429: the router goes on with the other providers.
                route.breaker.recordFailure()
                meter.cancel(admission)
                guard context.channel.isActive else { return self.clientGoneBeforeAnswer(admission, requestID: requestID) }
                let failure = provider.failure(status: status, body: answer ?? ByteBuffer())
                self.fallBack(head, body, after: PriorAttempt(provider: provider.name, failure: failure), context: context)
            case .failure(let error):
                route.breaker.recordFailure()
                meter.cancel(admission)
                guard context.channel.isActive else { return self.clientGoneBeforeAnswer(admission, requestID: requestID) }
                let failure = error as? ProviderFailure ?? ProviderFailure(.connect, "\(error)")
                self.fallBack(head, body, after: PriorAttempt(provider: provider.name, failure: failure), context: context)
            }
        }
    }

    /// The digest of a bearer secret (`KeyService.digest(of:)`), remembered for the connection's last
    /// `Authorization` value: a client sends the same key on every request of a connection, and checking
    /// and hashing it each time was about 2 % of a request's CPU. What the key may do is still looked up
    /// in the key cache for every request.
    private func secretDigest(_ authorization: String) -> String? {
        if let last = lastSecret, last.authorization == authorization { return last.digest }
        guard authorization.hasPrefix("Bearer "), let digest = KeyService.digest(of: String(authorization.dropFirst(7))) else { return nil }
        lastSecret = (authorization, digest)
        return digest
    }

    private var lastSecret: (authorization: String, digest: String)?

    private func handOverWhole(_ head: HTTPRequestHead, _ body: ByteBuffer, context: ChannelHandlerContext) {
        state = .idle
        handOver([.head(head), .body(body), .end(nil)], context: context)
    }

    /// The client left while the upstream answered: nothing to write, nothing to hand over.
    private func clientLeft() {
        state = .idle
        held.removeAll()
    }

    /// The client left and the upstream failed: the request still gets its (uncharged) record.
    private func clientGoneBeforeAnswer(_ admission: Admission, requestID: String) {
        services.meter.recordRefusal(admission.principal, model: admission.model, requestID: requestID, status: 499, streamed: false, start: admission.start)
        clientLeft()
    }

    /// Hands a request whose upstream call failed to the router, telling it which provider already
    /// failed and how, so it goes on with the others instead of trying that one twice.
    private func fallBack(_ head: HTTPRequestHead, _ body: ByteBuffer, after attempt: PriorAttempt, context: ChannelHandlerContext) {
        state = .idle
        var head = head
        head.headers.replaceOrAdd(name: PriorAttempt.headerName, value: attempt.headerValue)
        handOver([.head(head), .body(body), .end(nil)], context: context)
        replayHeld(context: context)
    }

    private func respond(
        _ status: HTTPResponse.Status, _ body: ByteBuffer, extraHeaders: [(String, String)], requestID: String, version: HTTPVersion,
        closeAfter: Bool, start: ContinuousClock.Instant, context: ChannelHandlerContext
    ) {
        var fields = [("content-type", "application/json"), ("content-length", String(body.readableBytes)), ("x-request-id", requestID)]
        fields += extraHeaders
        if closeAfter { fields.append(("connection", "close")) }
        let answer = ResponseOutlet.response(status, version: version, fields: fields, body: body, allocator: context.channel.allocator)
        services.metrics.recordRequest(route: servedPath, method: "POST", status: status.code, duration: .now - start)
        services.metrics.fastLaneAnswers.increment()
        state = .idle
        if closeAfter {
            // A close drops what is not flushed yet, so this answer goes now, after the journal's lines.
            TurnFlush.of(context.eventLoop).writeJournal()
            outlet.writeAndFlush(NIOAny(IOData.byteBuffer(answer)), promise: nil)
            context.close(promise: nil)
            return
        }
        outlet.write(NIOAny(IOData.byteBuffer(answer)), promise: nil)
        TurnFlush.of(context.eventLoop).flush(outlet)
        replayHeld(context: context)
    }

    private var servedPath = ""

    private func replayHeld(context: ChannelHandlerContext) {
        let parts = held
        held.removeAll()
        for (index, part) in parts.enumerated() {
            if case .serving = state {
                held.append(contentsOf: parts[index...])
                return
            }
            channelRead(context: context, data: wrapInboundOut(part))
        }
        if heldQuiesce, case .idle = state {
            heldQuiesce = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}

extension HTTPField.Name {
    /// Internal: set by the fast lane on a request it hands over after a failed upstream call.
    static let priorAttempt = HTTPField.Name(PriorAttempt.headerName)!
}

/// Hummingbird's HTTP/1.1 channel with the fast lane placed right after NIO's request decoder, and its
/// outlet right before NIO's response encoder.
struct FastLaneHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let services: FastLaneHandler.Services

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let encoder = try operations.handler(type: HTTPResponseEncoder.self)
            let outlet = ResponseOutlet()
            try operations.addHandler(outlet, position: .before(encoder))
            try operations.addHandler(
                FastLaneHandler(services: services, outlet: try operations.context(handler: outlet)), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the model API's fast lane.
    static func http1(fastLane services: FastLaneHandler.Services) -> HTTPServerBuilder {
        .init { responder in
            FastLaneHTTP1Channel(inner: HTTP1Channel(responder: responder), services: services)
        }
    }
}

/// A provider the fast lane already tried for a request, and how it failed.
struct PriorAttempt: Sendable {
    static let headerName = "x-atrium-prior-attempt"
    var provider: String
    var failure: ProviderFailure

    init(provider: String, failure: ProviderFailure) {
        self.provider = provider
        self.failure = failure
    }

    var headerValue: String {
        let kind: String = switch failure.kind {
        case .connect: "connect"
        case .timeout: "timeout"
        case .protocolViolation: "protocol"
        case .upstreamStatus(let status): String(status)
        }
        return "\(provider)|\(kind)|\(failure.message.filter { $0.isASCII && !$0.isNewline && $0 != "|" }.prefix(300))"
    }

    init?(headerValue: String) {
        let parts = headerValue.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return nil }
        let kind: ProviderFailure.Kind
        switch parts[1] {
        case "connect": kind = .connect
        case "timeout": kind = .timeout
        case "protocol": kind = .protocolViolation
        default:
            guard let status = Int(parts[1]) else { return nil }
            kind = .upstreamStatus(status)
        }
        self.init(provider: parts[0], failure: ProviderFailure(kind, parts[2]))
    }
}
