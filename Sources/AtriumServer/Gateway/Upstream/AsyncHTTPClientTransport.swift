import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

/// The transport for HTTPS upstreams (hosted APIs), on AsyncHTTPClient's pool and TLS.
final class AsyncHTTPClientTransport: UpstreamTransport {
    private let baseURL: String
    private let timeouts: UpstreamTimeouts
    private let client: HTTPClient
    private let logger: Logger
    private let maxResponseBytes: Int

    init(baseURL: String, timeouts: UpstreamTimeouts, logger: Logger, maxResponseBytes: Int = 64 << 20) {
        self.baseURL = baseURL
        self.timeouts = timeouts
        self.logger = logger
        self.maxResponseBytes = maxResponseBytes
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .init(timeouts.connect), read: .init(timeouts.idle))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func post(
        path: String, headers: [(String, String)], body: ByteBuffer, stream: Bool, eventLoop: (any EventLoop)?
    ) async throws -> UpstreamReply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: .now() + .init(timeouts.firstByte), logger: logger)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ProviderFailure(.timeout, "did not answer within \(timeouts.firstByte)")
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .cancelled {
            try Task.checkCancellation()
            throw ProviderFailure(.connect, "request cancelled (\(error))")
        } catch {
            throw ProviderFailure(.connect, "could not be reached: \(error)")
        }
        let status = Int(response.status.code)
        guard stream, (200..<300).contains(status) else {
            do {
                return UpstreamReply(status: status, body: .complete(try await response.body.collect(upTo: maxResponseBytes)))
            } catch let error as HTTPClientError where error == .readTimeout {
                throw ProviderFailure(.timeout, "went silent for \(timeouts.idle)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ProviderFailure(.protocolViolation, "broke off its answer: \(error)")
            }
        }
        let idle = timeouts.idle
        let (chunks, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let task = Task {
            do {
                for try await buffer in response.body { continuation.yield(buffer) }
                continuation.finish()
            } catch let error as HTTPClientError where error == .readTimeout {
                continuation.finish(throwing: ProviderFailure(.timeout, "went silent for \(idle)"))
            } catch {
                continuation.finish(throwing: Task.isCancelled ? CancellationError() : ProviderFailure(.protocolViolation, "broke off the stream: \(error)"))
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return UpstreamReply(status: status, body: .stream(chunks))
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}
