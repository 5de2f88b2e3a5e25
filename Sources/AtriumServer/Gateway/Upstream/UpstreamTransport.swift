import NIOCore

/// What a transport hands back: the status, and the body either whole or as it arrives.
struct UpstreamReply: Sendable {
    enum Body: Sendable {
        case complete(ByteBuffer)
        case stream(AsyncThrowingStream<ByteBuffer, any Error>)
    }

    var status: Int
    var body: Body
}

/// One POST to an upstream. Implementations map their own errors to `ProviderFailure` (connect,
/// timeout, protocol) and let `CancellationError` through.
protocol UpstreamTransport: Sendable {
    /// - Parameters:
    ///   - eventLoop: the loop of the client's connection, where the upstream connection is best taken
    ///     from so the bytes never change threads.
    func post(
        path: String, headers: [(String, String)], body: ByteBuffer, stream: Bool, eventLoop: (any EventLoop)?
    ) async throws -> UpstreamReply

    func shutdown() async
}
