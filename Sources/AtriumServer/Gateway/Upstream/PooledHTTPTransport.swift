import Logging
import NIOCore
import NIOPosix

/// A lean HTTP/1.1 client for plain-HTTP upstreams (the usual case: vLLM or llama.cpp next to the
/// gateway). Each event loop keeps its own pool of keep-alive connections, and a request is sent from
/// the loop that holds the client's connection, so a proxied request costs one hop onto the loop and one
/// back, and no locks. AsyncHTTPClient's general machinery cost more than the whole rest of the gateway.
final class PooledHTTPTransport: UpstreamTransport {
    private let host: String
    private let port: Int
    private let timeouts: UpstreamTimeouts
    private let maxResponseBytes: Int
    private let group: any EventLoopGroup
    private let pools: [ObjectIdentifier: ConnectionPool]
    private let loops: [any EventLoop]
    private let hostHeader: String

    init(host: String, port: Int, timeouts: UpstreamTimeouts, maxResponseBytes: Int = 64 << 20,
         group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.timeouts = timeouts
        self.maxResponseBytes = maxResponseBytes
        self.group = group
        self.hostHeader = port == 80 ? host : "\(host):\(port)"
        var pools: [ObjectIdentifier: ConnectionPool] = [:]
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() {
            loops.append(loop)
            pools[ObjectIdentifier(loop)] = ConnectionPool(host: host, port: port, eventLoop: loop, timeouts: timeouts)
        }
        self.pools = pools
        self.loops = loops
    }

    func post(
        path: String, headers: [(String, String)], body: ByteBuffer, stream: Bool, eventLoop: (any EventLoop)?
    ) async throws -> UpstreamReply {
        let (loop, pool) = pool(near: eventLoop)
        let exchange = UpstreamExchange(
            head: requestHead(path: path, headers: headers, body: body), body: body, stream: stream, maxResponseBytes: maxResponseBytes, eventLoop: loop)
        let headFuture = loop.flatSubmit {
            pool.send(exchange)
        }
        let (status, complete) = try await withTaskCancellationHandler {
            try await headFuture.get()
        } onCancel: {
            loop.execute { exchange.cancel() }
        }
        if let complete { return UpstreamReply(status: status, body: .complete(complete)) }
        return UpstreamReply(status: status, body: .stream(exchange.bodyStream!))
    }

    /// Sends a whole (not streamed) request from code already running on `eventLoop`, with no task
    /// involved. Nil when the loop has no pool here (then callers take the async path).
    func sendOnLoop(
        _ eventLoop: any EventLoop, path: String, headers: [(String, String)], body: ByteBuffer
    ) -> EventLoopFuture<(Int, ByteBuffer?)>? {
        guard let pool = pools[ObjectIdentifier(eventLoop)] else { return nil }
        eventLoop.preconditionInEventLoop()
        let exchange = UpstreamExchange(
            head: requestHead(path: path, headers: headers, body: body), body: body, stream: false,
            maxResponseBytes: maxResponseBytes, eventLoop: eventLoop)
        return pool.send(exchange)
    }

    /// The request's head as the bytes that go on the wire. Every value in it is written by the code
    /// (names, lengths, request IDs already reduced to letters, digits, '-' and '_') or is the provider's
    /// API key, checked once at start (upstreamAPIKey), so nothing here needs checking per request.
    private func requestHead(path: String, headers: [(String, String)], body: ByteBuffer) -> ByteBuffer {
        let capacity = 96 + path.utf8.count + hostHeader.utf8.count + headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 }
        var head = ByteBuffer()
        head.writeHead(capacity: capacity) { head in
            head.write("POST ")
            head.write(path)
            head.write(" HTTP/1.1\r\nhost: ")
            head.write(hostHeader)
            head.write("\r\ncontent-length: ")
            head.write(decimal: body.readableBytes)
            for (name, value) in headers {
                head.write("\r\n")
                head.write(name)
                head.write(": ")
                head.write(value)
            }
            head.write("\r\n\r\n")
        }
        return head
    }

    func shutdown() async {
        for (_, pool) in pools {
            try? await pool.eventLoop.submit { pool.closeAll() }.get()
        }
    }

    private func pool(near eventLoop: (any EventLoop)?) -> (any EventLoop, ConnectionPool) {
        if let eventLoop, let pool = pools[ObjectIdentifier(eventLoop)] { return (eventLoop, pool) }
        let loop = group.next()
        return (loop, pools[ObjectIdentifier(loop)] ?? pools[ObjectIdentifier(loops[0])]!)
    }
}

/// One request and its response, owned by its event loop from `send` on.
final class UpstreamExchange: @unchecked Sendable {  // all mutable state is touched on `eventLoop` only
    let head: ByteBuffer
    let body: ByteBuffer
    let stream: Bool
    let maxResponseBytes: Int
    let eventLoop: any EventLoop
    /// Completed when the head arrives (streams) or the whole response has (not streams).
    let headPromise: EventLoopPromise<(Int, ByteBuffer?)>
    /// Only streamed exchanges get a body stream (making one costs more than a whole small request).
    private(set) var bodyStream: AsyncThrowingStream<ByteBuffer, any Error>?
    private var bodyContinuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
    private var status = 0
    private var collected: ByteBuffer?
    private var headDelivered = false
    private(set) var finished = false
    /// Set when the exchange is bound to a connection, so a cancellation can close it.
    var onCancel: (() -> Void)?

    init(head: ByteBuffer, body: ByteBuffer, stream: Bool, maxResponseBytes: Int, eventLoop: any EventLoop) {
        self.head = head
        self.body = body
        self.stream = stream
        self.maxResponseBytes = maxResponseBytes
        self.eventLoop = eventLoop
        self.headPromise = eventLoop.makePromise()
        guard stream else { return }
        let (bodyStream, bodyContinuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let loop = eventLoop
        bodyContinuation.onTermination = { [weak self] termination in
            guard case .cancelled = termination else { return }
            loop.execute { self?.cancel() }
        }
        self.bodyStream = bodyStream
        self.bodyContinuation = bodyContinuation
    }

    var receivedAnything: Bool { status != 0 }

    func receive(status: Int) {
        self.status = status
        // Error bodies are read whole so the provider can pass the upstream's message on.
        if !stream || !(200..<300).contains(status) { collected = ByteBuffer() } else {
            headDelivered = true
            headPromise.succeed((status, nil))
        }
    }

    func receive(body part: ByteBuffer) {
        if collected != nil {
            guard collected!.readableBytes + part.readableBytes <= maxResponseBytes else {
                fail(ProviderFailure(.protocolViolation, "the upstream's answer is larger than \(maxResponseBytes) bytes"))
                return
            }
            if collected!.readableBytes == 0 {
                collected = part  // the usual case: the whole body in one read, kept without a copy
            } else {
                var part = part
                collected!.writeBuffer(&part)
            }
        } else {
            bodyContinuation?.yield(part)
        }
    }

    func complete() {
        guard !finished else { return }
        finished = true
        if let collected {
            headPromise.succeed((status, collected))
        }
        bodyContinuation?.finish()
    }

    func fail(_ error: any Error) {
        guard !finished else { return }
        finished = true
        if !headDelivered { headPromise.fail(error) }
        bodyContinuation?.finish(throwing: error)
    }

    func cancel() {
        guard !finished else { return }
        onCancel?()
        fail(CancellationError())
    }
}

/// The keep-alive connections of one event loop to one upstream. It is created, used and closed on that
/// loop only (the transport calls it inside `eventLoop.submit`, and its futures complete there), which
/// is what makes the `@unchecked Sendable` hold.
final class ConnectionPool: @unchecked Sendable {
    private let host: String
    private let port: Int
    let eventLoop: any EventLoop
    private let timeouts: UpstreamTimeouts
    private var idle: [(any Channel, UpstreamConnectionHandler)] = []
    private var all: [ObjectIdentifier: any Channel] = [:]

    init(host: String, port: Int, eventLoop: any EventLoop, timeouts: UpstreamTimeouts) {
        self.host = host
        self.port = port
        self.eventLoop = eventLoop
        self.timeouts = timeouts
    }

    /// Sends on an idle connection, or a new one. A reused connection that turns out to have been closed
    /// by the upstream before answering is retried once on a fresh connection.
    func send(_ exchange: UpstreamExchange) -> EventLoopFuture<(Int, ByteBuffer?)> {
        while let (channel, handler) = idle.popLast() {
            if channel.isActive {
                handler.start(exchange, reused: true) { [self] in retryFresh(exchange) }
                return exchange.headPromise.futureResult
            }
        }
        retryFresh(exchange)
        return exchange.headPromise.futureResult
    }

    private func retryFresh(_ exchange: UpstreamExchange) {
        connect().whenComplete { result in
            switch result {
            case .success(let (_, handler)):
                handler.start(exchange, reused: false, onStale: nil)
            case .failure(let error):
                exchange.fail(ProviderFailure(.connect, "could not connect to \(self.host):\(self.port): \(error)"))
            }
        }
    }

    private func connect() -> EventLoopFuture<(any Channel, UpstreamConnectionHandler)> {
        let handler = UpstreamConnectionHandler(timeouts: timeouts) { [weak self] channel, handler in
            self?.idle.append((channel, handler))
        }
        return ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.nanoseconds(Int64(timeouts.connect.components.seconds) * 1_000_000_000 + timeouts.connect.components.attoseconds / 1_000_000_000))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(host: host, port: port)
            .map { [weak self] channel in
                self?.all[ObjectIdentifier(channel)] = channel
                channel.closeFuture.whenComplete { _ in
                    self?.all[ObjectIdentifier(channel)] = nil
                    self?.idle.removeAll { $0.0 === channel }
                }
                return (channel, handler)
            }
    }

    func closeAll() {
        for channel in all.values { channel.close(promise: nil) }
        idle.removeAll()
    }
}

/// Drives one exchange at a time on one connection: writes the request's bytes, reads the response with
/// `UpstreamResponseParser`, feeds it to the exchange, enforces the first-byte and idle timeouts, and
/// returns the connection to the pool when the response ended cleanly with keep-alive.
///
/// Like every channel handler it lives on its channel's event loop; the closures that capture it run
/// there too (scheduled tasks and futures of that loop), hence `@unchecked Sendable`.
final class UpstreamConnectionHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeouts: UpstreamTimeouts
    private let returnToPool: (any Channel, UpstreamConnectionHandler) -> Void
    private var context: ChannelHandlerContext?
    private var exchange: UpstreamExchange?
    private var parser = UpstreamResponseParser()
    private var onStale: (() -> Void)?
    private var timer: Scheduled<Void>?
    private var timerDue: NIODeadline?
    private var exchangeStart = NIODeadline.now()
    private var lastRead = NIODeadline.now()

    init(timeouts: UpstreamTimeouts, returnToPool: @escaping (any Channel, UpstreamConnectionHandler) -> Void) {
        self.timeouts = timeouts
        self.returnToPool = returnToPool
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func start(_ exchange: UpstreamExchange, reused: Bool, onStale: (() -> Void)?) {
        guard let context else {
            if let onStale { onStale() } else { exchange.fail(ProviderFailure(.connect, "the connection closed")) }
            return
        }
        self.exchange = exchange
        self.onStale = reused ? onStale : nil
        let channel = context.channel
        exchange.onCancel = { channel.close(promise: nil) }
        startTimer()
        context.write(wrapOutboundOut(exchange.head), promise: nil)
        context.write(wrapOutboundOut(exchange.body), promise: nil)
        TurnFlush.of(context.eventLoop).flush(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // Bytes no request asked for: the connection can no longer be trusted to frame an answer.
            context.close(promise: nil)
            return
        }
        parser.append(unwrapInboundIn(data))
        lastRead = .now()
        do {
            while let event = try parser.next() {
                switch event {
                case .head(let status):
                    onStale = nil
                    exchange.receive(status: status)
                case .body(let part):
                    exchange.receive(body: part)
                case .end:
                    return finish(exchange, context: context)
                }
            }
        } catch {
            fail(exchange, ProviderFailure(.protocolViolation, "the upstream's answer is malformed: \(error)"), context: context)
        }
    }

    private func finish(_ exchange: UpstreamExchange, context: ChannelHandlerContext) {
        self.exchange = nil
        exchange.complete()
        if parser.keepAlive && parser.bufferedBytes == 0 && context.channel.isActive {
            returnToPool(context.channel, self)
        } else {
            context.close(promise: nil)
        }
    }

    private func fail(_ exchange: UpstreamExchange, _ failure: ProviderFailure, context: ChannelHandlerContext) {
        disarm()
        self.exchange = nil
        exchange.fail(failure)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        if let exchange {
            self.exchange = nil
            if parser.closed() == .end {
                exchange.complete()  // a response framed by the close
            } else if let onStale, !exchange.receivedAnything {
                self.onStale = nil
                onStale()
            } else {
                exchange.fail(ProviderFailure(.protocolViolation, "the upstream closed the connection mid-answer"))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let exchange else { return context.close(promise: nil) }
        fail(exchange, ProviderFailure(.protocolViolation, "upstream connection error: \(error)"), context: context)
    }

    /// The connection's one timer is not moved for each exchange (scheduling and cancelling a task per
    /// request cost about 2 % of a proxied request's CPU). Whenever it fires it looks at the exchange in
    /// flight then: past its deadline (the first byte's, or the idle one's since the last read once the
    /// head is in), it fails; otherwise the timer is set again for that deadline. An idle connection's
    /// timer lapses, and the next exchange arms it.
    private func startTimer() {
        let now = NIODeadline.now()
        exchangeStart = now
        lastRead = now
        let due = now + .nanoseconds(Self.nanoseconds(timeouts.firstByte))
        if let timerDue, timerDue <= due { return }
        arm(at: due)
    }

    private func arm(at due: NIODeadline) {
        guard let context else { return }
        timer?.cancel()
        timerDue = due
        timer = context.eventLoop.scheduleTask(deadline: due) { [weak self] in self?.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerDue = nil
        guard let exchange else { return }
        let due = exchange.receivedAnything
            ? lastRead + .nanoseconds(Self.nanoseconds(timeouts.idle))
            : exchangeStart + .nanoseconds(Self.nanoseconds(timeouts.firstByte))
        if NIODeadline.now() < due { return arm(at: due) }
        let message = exchange.receivedAnything ? "went silent for \(timeouts.idle)" : "did not answer within \(timeouts.firstByte)"
        self.exchange = nil
        exchange.fail(ProviderFailure(.timeout, "the upstream \(message)"))
        context?.close(promise: nil)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// The connection is closing: its timer goes with it.
    private func disarm() {
        timer?.cancel()
        timer = nil
        timerDue = nil
    }
}
