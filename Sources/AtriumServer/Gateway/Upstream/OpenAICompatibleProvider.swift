import AsyncHTTPClient
import AtriumCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

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
/// hosted API. It owns a pooled keep-alive HTTP client.
public final class OpenAICompatibleProvider: InferenceProvider {
    public let name: String
    private let baseURL: String
    private let authorization: String?
    private let timeouts: UpstreamTimeouts
    private let client: HTTPClient
    private let logger: Logger
    /// A body larger than this from an upstream is treated as a protocol violation.
    private let maxResponseBytes = 64 << 20

    public init(name: String, baseURL: String, apiKey: String?, timeouts: UpstreamTimeouts, logger: Logger) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.authorization = apiKey.map { "Bearer \($0)" }
        self.timeouts = timeouts
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .init(timeouts.connect), read: .init(timeouts.idle))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    public func perform(_ request: ProviderRequest) async throws -> ProviderResponse {
        var upstream = HTTPClientRequest(url: "\(baseURL)/\(request.operation.rawValue)")
        upstream.method = .POST
        upstream.headers.add(name: "content-type", value: "application/json")
        upstream.headers.add(name: "accept", value: request.stream ? "text/event-stream" : "application/json")
        upstream.headers.add(name: "x-request-id", value: request.requestID)
        if let authorization { upstream.headers.add(name: "authorization", value: authorization) }
        upstream.body = .bytes(request.body.encodedBuffer())

        let response = try await execute(upstream)
        guard (200..<300).contains(response.status.code) else {
            throw try await failure(for: response)
        }
        if request.stream {
            return .stream(try await openStream(response.body))
        }
        let body = try await collect(response.body)
        guard let json = try? JSONValue.parse(body), json.objectValue != nil else {
            throw ProviderFailure(.protocolViolation, "\(name) answered with a body that is not a JSON object")
        }
        return .complete(json)
    }

    public func probe() async -> Bool {
        var request = HTTPClientRequest(url: "\(baseURL)/models")
        if let authorization { request.headers.add(name: "authorization", value: authorization) }
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(5)))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return (200..<500).contains(response.status.code) && response.status.code != 429
        } catch {
            return false
        }
    }

    private func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(request, deadline: .now() + .init(timeouts.firstByte), logger: logger)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ProviderFailure(.timeout, "\(name) did not answer within \(timeouts.firstByte)")
        } catch let error as HTTPClientError where error == .cancelled {
            try Task.checkCancellation()
            throw ProviderFailure(.connect, "\(name): request cancelled (\(error))")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderFailure(.connect, "\(name) could not be reached: \(error)")
        }
    }

    private func collect(_ body: HTTPClientResponse.Body) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: maxResponseBytes)
        } catch let error as HTTPClientError where error == .readTimeout {
            throw ProviderFailure(.timeout, "\(name) went silent for \(timeouts.idle)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderFailure(.protocolViolation, "\(name) broke off its answer: \(error)")
        }
    }

    private func failure(for response: HTTPClientResponse) async throws -> ProviderFailure {
        let status = Int(response.status.code)
        let body = try? await response.body.collect(upTo: 1 << 20)
        let json = body.flatMap { try? JSONValue.parse($0) }
        let upstreamError = json?["error"]
        let message = upstreamError?["message"]?.stringValue ?? "\(name) answered HTTP \(status)"
        return ProviderFailure(.upstreamStatus(status), message, upstreamError: upstreamError)
    }

    /// Reads the SSE body on a task of its own, returning once the first chunk is in (or throwing a
    /// retryable failure when the stream dies before one).
    private func openStream(_ body: HTTPClientResponse.Body) async throws -> ProviderStream {
        let (chunks, continuation) = AsyncThrowingStream<JSONValue, any Error>.makeStream()
        let (firstSignal, firstContinuation) = AsyncStream<ProviderFailure?>.makeStream()
        let providerName = name
        let idle = timeouts.idle
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
                if let error = error as? HTTPClientError, error == .readTimeout {
                    failure = ProviderFailure(.timeout, "\(providerName) went silent for \(idle)")
                } else if error is ProviderFailure || error is CancellationError || Task.isCancelled {
                    failure = Task.isCancelled ? CancellationError() : error
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
