import AtriumCore
import Foundation
import Logging
import NIOCore

/// Timeouts of one upstream, from the configuration.
public struct UpstreamTimeouts: Sendable, Equatable {
    /// Opening the TCP (and TLS) connection.
    public var connect: Duration
    /// From sending the request to the response head.
    public var firstByte: Duration
    /// Longest silence between two reads of the body.
    public var idle: Duration

    public init(connect: Duration = .seconds(5), firstByte: Duration = .seconds(60), idle: Duration = .seconds(60)) {
        self.connect = connect
        self.firstByte = firstByte
        self.idle = idle
    }
}

/// A provider that forwards to an OpenAI-compatible server: vLLM, llama.cpp's server, Ollama, TGI or a
/// hosted API. Plain-HTTP upstreams go through Atrium's own pooled client; HTTPS ones through
/// AsyncHTTPClient.
public final class OpenAICompatibleProvider: InferenceProvider {
    public let name: String
    /// Each operation's path on the upstream, made once rather than per request.
    private let paths: [ModelOperation: String]
    private let authorization: String?
    private let transport: any UpstreamTransport

    public init(name: String, baseURL: String, apiKey: String?, timeouts: UpstreamTimeouts, logger: Logger) {
        self.name = name
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let url = URL(string: trimmed)
        self.authorization = apiKey.map { "Bearer \($0)" }
        let basePath: String
        if let url, url.scheme == "http", let host = url.host {
            basePath = url.path
            self.transport = PooledHTTPTransport(host: host, port: url.port ?? 80, timeouts: timeouts)
        } else {
            basePath = ""
            self.transport = AsyncHTTPClientTransport(baseURL: trimmed, timeouts: timeouts, logger: logger)
        }
        self.paths = Dictionary(uniqueKeysWithValues: ModelOperation.allCases.map { ($0, "\(basePath)/\($0.rawValue)") })
    }

    public func shutdown() async {
        await transport.shutdown()
    }

    private func headers(stream: Bool, requestID: String) -> [(String, String)] {
        var headers = [
            ("content-type", "application/json"),
            ("accept", stream ? "text/event-stream" : "application/json"),
            ("x-request-id", requestID),
        ]
        if let authorization { headers.append(("authorization", authorization)) }
        return headers
    }

    /// Sends a whole request from code running on `eventLoop` (the fast lane), or nil when this
    /// provider cannot (an HTTPS upstream, or a loop without a pool).
    func sendOnLoop(
        _ eventLoop: any EventLoop, operation: ModelOperation, body: ByteBuffer, requestID: String
    ) -> EventLoopFuture<(Int, ByteBuffer?)>? {
        guard let pooled = transport as? PooledHTTPTransport else { return nil }
        return pooled.sendOnLoop(
            eventLoop, path: paths[operation]!, headers: headers(stream: false, requestID: requestID), body: body)
    }

    public func perform(_ request: ProviderRequest) async throws -> ProviderResponse {
        let reply: UpstreamReply
        do {
            reply = try await transport.post(
                path: paths[request.operation]!, headers: headers(stream: request.stream, requestID: request.requestID),
                body: request.body.encodedBuffer(), stream: request.stream, eventLoop: request.eventLoop)
        } catch var failure as ProviderFailure {
            failure.message = "\(name): \(failure.message)"
            throw failure
        }
        switch reply.body {
        case .complete(let body):
            guard (200..<300).contains(reply.status) else { throw failure(status: reply.status, body: body) }
            guard let json = try? JSONValue.parse(body), json.objectValue != nil else {
                throw ProviderFailure(.protocolViolation, "\(name) answered with a body that is not a JSON object")
            }
            return .complete(json)
        case .stream(let chunks):
            return .stream(try await openStream(chunks))
        }
    }

    public func probe() async -> Bool {
        // A request the upstream can answer cheaply; any answer short of a 5xx means it is up.
        let body = JSONValue.object(["model": .string("probe"), "input": .string("probe")])
        do {
            let reply = try await transport.post(
                path: paths[.embeddings]!, headers: [("content-type", "application/json")] + (authorization.map { [("authorization", $0)] } ?? []),
                body: body.encodedBuffer(), stream: false, eventLoop: nil)
            return reply.status < 500
        } catch {
            return false
        }
    }

    func failure(status: Int, body: ByteBuffer) -> ProviderFailure {
        let upstreamError = (try? JSONValue.parse(body))?["error"]
        let message = upstreamError?["message"]?.stringValue ?? "\(name) answered HTTP \(status)"
        return ProviderFailure(.upstreamStatus(status), message, upstreamError: upstreamError)
    }

    /// Parses SSE on a task of its own, returning once the first chunk is in (or throwing a retryable
    /// failure when the stream dies before one).
    private func openStream(_ body: AsyncThrowingStream<ByteBuffer, any Error>) async throws -> ProviderStream {
        let (chunks, continuation) = AsyncThrowingStream<JSONValue, any Error>.makeStream()
        let (firstSignal, firstContinuation) = AsyncStream<ProviderFailure?>.makeStream()
        let providerName = name
        let task = Task {
            var parser = ServerSentEventParser()
            var sentFirst = false
            func signalFirst(_ failure: ProviderFailure?) {
                guard !sentFirst else { return }
                sentFirst = true
                firstContinuation.yield(failure)
                firstContinuation.finish()
            }
            do {
                for try await buffer in body {
                    for data in parser.feed(buffer) {
                        if data == "[DONE]" {
                            signalFirst(nil)
                            continuation.finish()
                            return
                        }
                        guard let chunk = try? JSONValue.parse(Array(data.utf8)), chunk.objectValue != nil else {
                            throw ProviderFailure(.protocolViolation, "\(providerName) sent an event that is not a JSON object")
                        }
                        if let error = chunk["error"] {
                            throw ProviderFailure(
                                .protocolViolation, error["message"]?.stringValue ?? "\(providerName) reported an error mid-stream",
                                upstreamError: error)
                        }
                        continuation.yield(chunk)
                        signalFirst(nil)
                    }
                }
                throw ProviderFailure(.protocolViolation, "\(providerName) closed the stream before [DONE]")
            } catch {
                let failure: any Error
                if Task.isCancelled || error is CancellationError {
                    failure = CancellationError()
                } else if var providerFailure = error as? ProviderFailure {
                    if !providerFailure.message.hasPrefix(providerName) { providerFailure.message = "\(providerName): \(providerFailure.message)" }
                    failure = providerFailure
                } else {
                    failure = ProviderFailure(.protocolViolation, "\(providerName) broke off the stream: \(error)")
                }
                signalFirst((failure as? ProviderFailure) ?? ProviderFailure(.connect, "cancelled"))
                continuation.finish(throwing: failure)
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        let first = await withTaskCancellationHandler {
            await firstSignal.first(where: { _ in true }) ?? nil
        } onCancel: {
            task.cancel()
        }
        try Task.checkCancellation()
        if let first { throw first }
        return ProviderStream(chunks: chunks, cancel: { task.cancel() })
    }
}
