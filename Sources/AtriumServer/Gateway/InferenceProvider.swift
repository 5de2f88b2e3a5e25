import AtriumCore
import Foundation
import NIOCore

/// The `/v1` operations a model can be called with.
public enum ModelOperation: String, Sendable, CaseIterable {
    case chatCompletions = "chat/completions"
    case completions
    case embeddings
}

/// What a model does, as declared in the configuration.
public enum ModelKind: String, Sendable, Codable, CaseIterable {
    case chat, completion, embedding

    /// Chat models also answer plain completions, as vLLM and llama.cpp's servers do.
    public func supports(_ operation: ModelOperation) -> Bool {
        switch (self, operation) {
        case (.chat, .chatCompletions), (.chat, .completions), (.completion, .completions), (.embedding, .embeddings): true
        default: false
        }
    }
}

/// One call to a provider: an OpenAI request body, already validated, with `model` set to the name the
/// provider knows the model by.
public struct ProviderRequest: Sendable {
    public var operation: ModelOperation
    public var body: JSONValue
    public var stream: Bool
    public var requestID: String
    /// The event loop of the client's connection: providers that do I/O start it there.
    public var eventLoop: (any EventLoop)?
}

/// A provider's streamed answer: OpenAI chunks in order, ending normally when the provider sent
/// `[DONE]`, with an error when it failed mid-way. `cancel` stops the provider's work at once (used
/// when the client goes away).
public struct ProviderStream: Sendable {
    public var chunks: AsyncThrowingStream<JSONValue, any Error>
    public var cancel: @Sendable () -> Void

    public init(chunks: AsyncThrowingStream<JSONValue, any Error>, cancel: @escaping @Sendable () -> Void) {
        self.chunks = chunks
        self.cancel = cancel
    }
}

public enum ProviderResponse: Sendable {
    case complete(JSONValue)
    case stream(ProviderStream)
}

/// Why a provider could not answer. `retryable` failures let the gateway try another provider of the
/// same model, as long as nothing has reached the client yet; they also count against the provider's
/// circuit breaker. A non-retryable failure is the caller's fault (the upstream rejected the request)
/// and goes back to the client as the upstream said it.
public struct ProviderFailure: Error, Sendable {
    public enum Kind: Sendable, Equatable {
        case connect
        case timeout
        case upstreamStatus(Int)
        case protocolViolation
    }

    public var kind: Kind
    public var message: String
    /// The upstream's own error object, when it sent one.
    public var upstreamError: JSONValue?

    public init(_ kind: Kind, _ message: String, upstreamError: JSONValue? = nil) {
        self.kind = kind
        self.message = message
        self.upstreamError = upstreamError
    }

    public var retryable: Bool {
        switch kind {
        case .connect, .timeout, .protocolViolation: true
        case .upstreamStatus(let status): status == 429 || status >= 500
        }
    }
}

/// Anything that can answer OpenAI-shaped requests: an OpenAI-compatible upstream server today, the
/// embedded CPU engine next. The gateway routes, retries and meters; a provider only answers.
public protocol InferenceProvider: Sendable {
    /// The provider's name from the configuration, unique.
    var name: String { get }
    /// Answers one request. Throws `ProviderFailure` when it cannot; for a stream, it returns once the
    /// first chunk has arrived, so a failure before that can still be retried elsewhere.
    func perform(_ request: ProviderRequest) async throws -> ProviderResponse
    /// A cheap check that the provider is up, used to bring it back after its circuit opened.
    func probe() async -> Bool
}
