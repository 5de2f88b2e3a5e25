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
/// The handler is the first of each connection's HTTP handlers: it reads the connection's bytes, frames
/// each request itself (`LaneRequestHead`) and passes those it does not serve, as the bytes they came
/// in, to NIO's decoder and Hummingbird behind it; its answers go straight to the socket as bytes
/// (`LaneResponse`). HTTP/1.1 ordering is kept: it only takes a request when no request of the
/// connection is with Hummingbird (`SlowLaneTracker` counts them), and holds what arrives while it
/// serves one. A connection whose bytes it cannot frame strictly is left to NIO's decoder for good.
final class FastLaneHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    /// The router's answers, from NIO's encoder, pass through as they are.
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

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
        /// At the start of a request.
        case head
        /// The head of a request the lane may serve has come; its body is arriving.
        case collecting(LaneRequestHead)
        /// The rest of a request's body, on its way to the router.
        case forwarding(remaining: Int)
        case serving
        /// Every byte goes to NIO's decoder, for the rest of the connection.
        case passthrough
    }

    /// A head that has not ended within this many bytes is left to NIO's decoder (which allows 80 KiB).
    static let maxHeadBytes = 16 * 1024

    private let services: Services
    private let tracker: SlowLaneTracker
    private var state = State.head
    /// Bytes read and not yet served or passed on.
    private var pending = ByteBuffer()
    private var heldQuiesce = false
    /// Reading stopped while the lane serves a request and holds this much of what came after it.
    private var readWithheld = false
    /// Whether bytes went on to the router since reading last completed. When none did, the router is
    /// not told that reading completed: its async channel handler did work for that on every request.
    private var forwardedRead = false
    /// Requests passed to the router, which `tracker.heads` must equal before the lane serves another.
    private var forwardedHeads = 0

    init(services: Services, tracker: SlowLaneTracker) {
        self.services = services
        self.tracker = tracker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if case .passthrough = state {
            forward(bytes, context: context)
            return
        }
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            pending.discardReadBytes()  // what was served or passed on goes (a partial head is all that is left)
            pending.writeBuffer(&bytes)
        }
        process(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard forwardedRead || tracker.inFlight > 0 else { return }
        forwardedRead = false
        context.fireChannelReadComplete()
    }

    /// While the lane serves a request it holds what arrives after it; past a body's and a head's worth
    /// it stops reading until it is done.
    func read(context: ChannelHandlerContext) {
        if isServing, pending.readableBytes > services.maxBodyBytes + Self.maxHeadBytes {
            readWithheld = true
            return
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Graceful shutdown asks idle connections to close; one the lane is serving is not idle yet.
        if event is ChannelShouldQuiesceEvent, case .serving = state {
            heldQuiesce = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Frames, serves or passes on what `pending` holds, until it is used up or a request is served.
    private func process(context: ChannelHandlerContext) {
        while pending.readableBytes > 0 {
            switch state {
            case .serving:
                return
            case .passthrough:
                forward(pending.readSlice(length: pending.readableBytes)!, context: context)
            case .forwarding(let remaining):
                let length = min(remaining, pending.readableBytes)
                forward(pending.readSlice(length: length)!, context: context)
                state = length == remaining ? .head : .forwarding(remaining: remaining - length)
            case .collecting(let head):
                guard pending.readableBytes >= head.length + head.bodyLength else { return }
                let headBytes = pending.readSlice(length: head.length)!
                let body = pending.readSlice(length: head.bodyLength)!
                serve(head, headBytes: headBytes, body: body, context: context)
            case .head:
                // NIO's decoder must have read every request passed to it: one it did not (it stopped after
                // an error, or after a `Connection: close`) would be answered out of turn.
                guard tracker.heads == forwardedHeads, !tracker.failed else {
                    state = .passthrough
                    continue
                }
                switch LaneRequestHead.scan(pending) {
                case .incomplete:
                    guard pending.readableBytes > Self.maxHeadBytes else { return }
                    state = .passthrough
                case .unusual:
                    state = .passthrough
                case .head(let head) where head.length > Self.maxHeadBytes:
                    state = .passthrough
                case .head(let head):
                    if head.operation != nil, !head.routerOnly, head.authorization != nil, tracker.inFlight == 0,
                        head.bodyLength <= services.maxBodyBytes
                    {
                        state = .collecting(head)
                    } else {
                        // Another request (or one the router must answer): its bytes go on as they come, and
                        // after one that closes the connection, everything.
                        forwardedHeads += 1
                        state = head.keepAlive ? .forwarding(remaining: head.length + head.bodyLength) : .passthrough
                    }
                }
            }
        }
        if pending.readableBytes == 0 { pending = ByteBuffer() }  // lets go of the read's storage
    }

    private func forward(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        forwardedRead = true
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    /// Serves a whole request whose head the lane read, or hands it to the router.
    private func serve(_ head: LaneRequestHead, headBytes: ByteBuffer, body: ByteBuffer, context: ChannelHandlerContext) {
        let start = ContinuousClock.now
        let operation = head.operation!
        let path = LaneRequestHead.path(of: operation)
        guard let authorization = head.authorization, let digest = secretDigest(authorization),
            let principal = services.keys.cachedPrincipal(digest: digest),
            principal.allows(.modelRequest),
            let (json, modelRange) = try? JSONValue.parse(body, locating: "model"), let modelRange,
            let (model, stream) = try? OpenAISchemas.validate(json, for: operation), !stream,
            // A key's restrictions: what they refuse, the router lane answers (with OpenAI's 403).
            principal.permits(model: model), principal.permits(address: services.clientAddress.resolve(
                peer: context.channel.remoteAddress?.ipAddress, forwardedFor: head.forwardedFor))
        else {
            return handOver(headBytes, body, context: context)
        }
        let requestID = RequestIDGenerator.id(clientSent: head.requestID)
        let meter = services.meter
        let admission: Admission
        switch meter.admit(principal, model: model, operation: operation, body: json, streamed: false, requestID: requestID, start: start) {
        case .needsDatabase:
            // The router loads the organization's account, or asks the shared limits, and admits it there.
            return handOver(headBytes, body, context: context)
        case .refused(let refusal):
            let envelope = ErrorEnvelope(refusal.error, method: "POST", path: path, requestID: requestID)
            return respond(
                envelope.status, envelope.body.encodedBuffer(), extraHeaders: refusal.headers, requestID: requestID, path: path,
                closeAfter: !head.keepAlive, start: start, context: context)
        case .admitted(let admitted):
            admission = admitted
        }
        // The same admission as the dispatcher's: a closed circuit, or the trial of a half-open one.
        guard let routes = try? services.catalog.routes(for: model, operation: operation, honouring: json), !routes.isEmpty,
            let route = routes.first(where: { $0.breaker.acquire() })
        else {
            meter.cancel(admission)
            return handOver(headBytes, body, context: context)
        }
        // The body goes on as the client wrote it, with only the model's name swapped in place.
        let upstreamBody = route.upstreamModel == model ? body : JSONValue.splice(body, replacing: modelRange, with: route.upstreamModel)
        guard let provider = route.provider as? OpenAICompatibleProvider,
            let reply = provider.sendOnLoop(context.eventLoop, operation: operation, body: upstreamBody, requestID: requestID)
        else {
            route.breaker.releaseTrial()
            meter.cancel(admission)
            return handOver(headBytes, body, context: context)
        }
        state = .serving
        let closeAfter = !head.keepAlive
        let metrics = services.metrics
        let rateLimitHeaders = RateLimitHeaders.fields(admission.readings)
        reply.whenComplete { result in
            switch result {
            case .success((let status, let answer?)) where (200..<300).contains(status):
                // The choices (the bulk of an answer) are checked, not built: only the first one's finish
                // reason is read, and the generated text only when the upstream reported no usage.
                guard let (members, located) = try? JSONValue.scanObject(answer, keep: ["model", "usage"], locating: ["choices"]) else {
                    route.breaker.recordFailure()
                    meter.cancel(admission)
                    guard context.channel.isActive else { return self.clientGoneBeforeAnswer(admission, requestID: requestID) }
                    let failure = ProviderFailure(.protocolViolation, "\(provider.name) answered with a body that is not a JSON object")
                    return self.fallBack(headBytes, body, after: PriorAttempt(provider: provider.name, failure: failure), context: context)
                }
                route.breaker.recordSuccess()
                let (upstreamModel, reported, choices) = (members[0], members[1], located[0])
                let usage = ModelAPIController.reportedUsage(reported?.value)
                if let usage { metrics.recordTokens(model: model, prompt: usage.prompt, completion: usage.completion) }
                metrics.recordUpstream(provider: provider.name, operation: operation.rawValue, outcome: "ok", duration: .now - start)
                // Journaled before the answer goes out (the turn writes its lines, then flushes its answers):
                // a client that has the answer has its record.
                meter.finish(admission, requestID: requestID, outcome: MeteredOutcome(
                    provider: provider.name, status: context.channel.isActive ? 200 : 499, reported: usage,
                    generatedCharacters: usage == nil ? TokenEstimate.generatedCharacters(inChoices: choices.flatMap { try? JSONValue.parse(answer, at: $0) }) : 0,
                    finishReason: Self.finishReason(answer, choices: choices), charged: true),
                    journalingIn: TurnFlush.of(context.eventLoop))
                guard context.channel.isActive else { return self.clientLeft() }
                // The client sees its own name for the model, spliced into the upstream's bytes.
                // An answer without a model's name is rebuilt with one, unless it cannot be built (a lone
                // surrogate in text the lane only scanned): it then goes as it came, like all such text.
                var output = answer
                if let upstreamModel, upstreamModel.value.stringValue != nil {
                    output = JSONValue.splice(answer, replacing: upstreamModel.range, with: model)
                } else if var json = try? JSONValue.parse(answer) {
                    json["model"] = .string(model)
                    output = json.encodedBuffer()
                }
                self.respond(
                    .ok, output, extraHeaders: rateLimitHeaders, requestID: requestID, path: path, closeAfter: closeAfter, start: start,
                    context: context)
            case .success((let status, let answer)) where status != 429 && (400..<500).contains(status):
                // The upstream refused the request itself: answer as the router would, without a retry.
                route.breaker.recordSuccess()
                let failure = provider.failure(status: status, body: answer ?? ByteBuffer())
                let envelope = ErrorEnvelope(
                    UpstreamRejection(status: status, error: failure.upstreamError, message: failure.message),
                    method: "POST", path: path, requestID: requestID)
                meter.finish(admission, requestID: requestID, outcome: MeteredOutcome(
                    provider: provider.name, status: context.channel.isActive ? Int(envelope.status.code) : 499,
                    errorMessage: envelope.body["error"]?["message"]?.stringValue, charged: false),
                    journalingIn: TurnFlush.of(context.eventLoop))
                guard context.channel.isActive else { return self.clientLeft() }
                self.respond(
                    envelope.status, envelope.body.encodedBuffer(), extraHeaders: rateLimitHeaders, requestID: requestID, path: path,
                    closeAfter: closeAfter, start: start, context: context)
            case .success((let status, let answer)):
                // A 5xx or a 429: the router goes on with the other providers.
                route.breaker.recordFailure()
                meter.cancel(admission)
                guard context.channel.isActive else { return self.clientGoneBeforeAnswer(admission, requestID: requestID) }
                let failure = provider.failure(status: status, body: answer ?? ByteBuffer())
                self.fallBack(headBytes, body, after: PriorAttempt(provider: provider.name, failure: failure), context: context)
            case .failure(let error):
                route.breaker.recordFailure()
                meter.cancel(admission)
                guard context.channel.isActive else { return self.clientGoneBeforeAnswer(admission, requestID: requestID) }
                let failure = error as? ProviderFailure ?? ProviderFailure(.connect, "\(error)")
                self.fallBack(headBytes, body, after: PriorAttempt(provider: provider.name, failure: failure), context: context)
            }
        }
        // Then on with what arrived meanwhile (a future's callbacks run in the order they were added).
        reply.whenComplete { _ in self.resume(context: context) }
    }

    /// The first choice's finish reason, read from the answer's bytes without building the choices.
    private static func finishReason(_ answer: ByteBuffer, choices: Range<Int>?) -> String? {
        guard let choices, let first = try? JSONValue.scanFirstElement(answer, at: choices, keep: ["finish_reason"]) else { return nil }
        return first[0]?.value.stringValue
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

    /// Passes a request the lane read whole to the router, as the bytes it came in.
    private func handOver(_ headBytes: ByteBuffer, _ body: ByteBuffer, context: ChannelHandlerContext) {
        state = .head
        forwardedHeads += 1
        forward(headBytes, context: context)
        if body.readableBytes > 0 { forward(body, context: context) }
    }

    /// The client left while the upstream answered: nothing to write, nothing to hand over.
    private func clientLeft() {
        state = .head
        pending.clear()
    }

    /// The client left and the upstream failed: the request still gets its (uncharged) record.
    private func clientGoneBeforeAnswer(_ admission: Admission, requestID: String) {
        services.meter.recordRefusal(admission.principal, model: admission.model, requestID: requestID, status: 499, streamed: false, start: admission.start)
        clientLeft()
    }

    /// Hands a request whose upstream call failed to the router, telling it which provider already
    /// failed and how, so it goes on with the others instead of trying that one twice. The lane never
    /// serves a request that carries this field itself, so the router sees only the lane's.
    private func fallBack(_ headBytes: ByteBuffer, _ body: ByteBuffer, after attempt: PriorAttempt, context: ChannelHandlerContext) {
        var head = context.channel.allocator.buffer(capacity: headBytes.readableBytes + 512)
        head.writeImmutableBuffer(headBytes.getSlice(at: headBytes.readerIndex, length: headBytes.readableBytes - 2)!)
        head.writeString("\(PriorAttempt.headerName): \(attempt.headerValue)\r\n\r\n")
        tracker.vouched = true
        handOver(head, body, context: context)
    }

    private func respond(
        _ status: HTTPResponse.Status, _ body: ByteBuffer, extraHeaders: [(String, String)], requestID: String, path: String,
        closeAfter: Bool, start: ContinuousClock.Instant, context: ChannelHandlerContext
    ) {
        var fields = [("content-type", "application/json"), ("content-length", String(body.readableBytes)), ("x-request-id", requestID)]
        fields += extraHeaders
        if closeAfter { fields.append(("connection", "close")) }
        let answer = LaneResponse.bytes(status, fields: fields, body: body, allocator: context.channel.allocator)
        services.metrics.recordRequest(route: path, method: "POST", status: status.code, duration: .now - start)
        services.metrics.fastLaneAnswers.increment()
        state = .head
        if closeAfter {
            // A close drops what is not flushed yet, so this answer goes now, after the journal's lines.
            TurnFlush.of(context.eventLoop).writeJournal()
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(answer)), promise: nil)
            context.close(promise: nil)
            state = .passthrough  // whatever else arrives is not read
            pending.clear()
            return
        }
        context.write(wrapOutboundOut(.byteBuffer(answer)), promise: nil)
        TurnFlush.of(context.eventLoop).flush(context)
    }

    /// Goes on with what arrived while the upstream answered, once the lane's request is done.
    private func resume(context: ChannelHandlerContext) {
        process(context: context)
        if forwardedRead {
            forwardedRead = false
            context.fireChannelReadComplete()
        }
        if heldQuiesce, !isServing {
            heldQuiesce = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if readWithheld, !isServing {
            readWithheld = false
            context.read()
        }
    }

    private var isServing: Bool {
        if case .serving = state { return true }
        return false
    }
}

/// Counts a connection's requests that are with Hummingbird (heads in, ends of responses out), for the
/// lane, which serves a request only when none is. It sits after NIO's decoder, where it also removes
/// any `x-atrium-prior-attempt` field the lane did not vouch for (only the lane may tell the router of an
/// attempt already made).
final class SlowLaneTracker: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests whose response has not ended yet.
    private(set) var inFlight = 0
    /// Request heads NIO's decoder has given.
    private(set) var heads = 0
    /// The decoder failed: it reads no more of the connection.
    private(set) var failed = false
    /// The next head is the lane's fallback, with its own prior-attempt field.
    var vouched = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        inFlight += 1
        heads += 1
        if vouched {
            vouched = false
        } else if head.headers.contains(name: PriorAttempt.headerName) {
            head.headers.remove(name: PriorAttempt.headerName)
            return context.fireChannelRead(wrapInboundOut(.head(head)))
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { inFlight -= 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failed = true
        context.fireErrorCaught(error)
    }
}

extension HTTPField.Name {
    /// Internal: set by the fast lane on a request it hands over after a failed upstream call.
    static let priorAttempt = HTTPField.Name(PriorAttempt.headerName)!
}

/// Hummingbird's HTTP/1.1 channel with the fast lane in front of NIO's response encoder and request
/// decoder (on the socket's side of both), and its tracker right after the decoder.
struct FastLaneHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let services: FastLaneHandler.Services

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let encoder = try operations.handler(type: HTTPResponseEncoder.self)
            let tracker = SlowLaneTracker()
            try operations.addHandler(tracker, position: .after(decoder))
            try operations.addHandler(FastLaneHandler(services: services, tracker: tracker), position: .before(encoder))
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
        // Printable ASCII only: NIO's decoder reads this field again, and refuses control characters.
        let message = failure.message.unicodeScalars.filter { (0x20..<0x7f).contains($0.value) && $0 != "|" }.prefix(300)
        return "\(provider)|\(kind)|\(String(String.UnicodeScalarView(message)))"
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
