import AtriumCore
import AtriumML
import Foundation

/// The embedded CPU engine as a provider of the gateway: it answers `/v1/embeddings`, and chat and text
/// completions, for the models it loaded, in OpenAI's shapes, and refuses what a model cannot take with
/// OpenAI's errors.
final class EmbeddedProvider: InferenceProvider {
    let name = "embedded"
    let models: [String: EmbeddedModel]

    init(models: [EmbeddedModel]) {
        self.models = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The chat models, by name.
    var generators: [String: GenerativeModel] {
        models.compactMapValues { model in
            if case .generation(let generator) = model.engine { generator } else { nil }
        }
    }

    func probe() async -> Bool { true }

    func shutdown() {
        for model in models.values { model.shutdown() }
    }

    func perform(_ request: ProviderRequest) async throws -> ProviderResponse {
        let modelName = request.body["model"]?.stringValue ?? ""
        guard let model = models[modelName] else {
            throw Self.rejection(404, "The model `\(modelName.prefix(200))` is not loaded in the embedded engine.", param: "model", code: "model_not_found")
        }
        let engine: EmbeddingEngine
        switch (model.engine, request.operation) {
        case (.generation(let generator), .chatCompletions), (.generation(let generator), .completions):
            return try await EmbeddedGeneration(name: modelName, model: generator).perform(request)
        case (.embedding(let embeddings), .embeddings):
            engine = embeddings
        default:
            throw Self.rejection(
                400, "The model `\(modelName)` is \(model.kind == .embedding ? "an embedding" : "a chat") model and does not support /v1/\(request.operation.rawValue).",
                param: "model", code: "unsupported_model")
        }
        let embedder = engine.embedder
        if let dimensions = request.body["dimensions"]?.intValue, Int(dimensions) != embedder.dimensions {
            throw Self.rejection(400, "The model `\(modelName)` makes embeddings of \(embedder.dimensions) dimensions and cannot shorten them to \(dimensions).", param: "dimensions")
        }
        let sequences = try Self.sequences(request.body["input"], embedder: embedder)
        let vectors: [[Float]]
        do {
            vectors = try await engine.embed(sequences)
        } catch EmbeddingEngine.Failure.overloaded(let limit) {
            // Back-pressure, not a fault: it goes to the client as it is and leaves the circuit closed.
            throw AtriumError.rateLimited(
                "The embedded engine is busy (\(limit) inputs queued for `\(modelName)`). Please retry shortly.", retryAfterSeconds: 1,
                code: "engine_overloaded")
        } catch EmbeddingEngine.Failure.stopped {
            throw AtriumError.serviceUnavailable("The embedded engine is shutting down. Please retry shortly.")
        }
        let base64 = request.body["encoding_format"]?.stringValue == "base64"
        let data = vectors.enumerated().map { index, vector in
            JSONValue.object([
                "object": .string("embedding"), "index": .int(Int64(index)),
                "embedding": base64 ? .string(Self.base64(vector)) : .array(vector.map { .double(Double("\($0)") ?? 0) }),
            ])
        }
        let tokens = Int64(sequences.reduce(0) { $0 + $1.count })
        return .complete(.object([
            "object": .string("list"), "data": .array(data), "model": .string(modelName),
            "usage": .object(["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]),
        ]))
    }

    /// The token ids of each input: texts are tokenized; token arrays are the model's own ids, framed
    /// with its special tokens as a text's would be. An input the model cannot take is refused, not cut.
    static func sequences(_ input: JSONValue?, embedder: SentenceEmbedder) throws -> [[Int]] {
        let inputs: [JSONValue]
        var single = false
        switch input {
        case .string: (inputs, single) = ([input!], true)
        case .array(let items) where items.allSatisfy({ if case .int = $0 { true } else { false } }): (inputs, single) = ([input!], true)
        case .array(let items): inputs = items
        default: throw rejection(400, "'input' must be a string, an array of strings, an array of integers or an array of integer arrays.", param: "input")
        }
        return try inputs.enumerated().map { index, item in
            let param = single ? "input" : "input[\(index)]"
            let ids: [Int]
            switch item {
            case .string(let text):
                ids = embedder.tokenizer.encode(text, addSpecialTokens: true, maxLength: nil)
            case .array(let tokens):
                let raw = tokens.compactMap { $0.intValue }.map { Int(clamping: $0) }
                if let bad = raw.first(where: { $0 < 0 || $0 >= embedder.encoder.config.vocabularySize }) {
                    throw rejection(400, "\(param) holds the token id \(bad), outside this model's vocabulary of \(embedder.encoder.config.vocabularySize).", param: param)
                }
                ids = embedder.tokenizer.addingSpecialTokens(raw)
            default:
                throw rejection(400, "\(param) must be a string or an array of token ids.", param: param)
            }
            if ids.count > embedder.maxSequenceLength {
                throw rejection(
                    400, "This model's maximum input length is \(embedder.maxSequenceLength) tokens, however \(param) has \(ids.count) tokens. Please shorten it.",
                    param: param, code: "context_length_exceeded")
            }
            return ids
        }
    }

    static func base64(_ vector: [Float]) -> String {
        vector.map(\.bitPattern.littleEndian).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    static func rejection(_ status: Int, _ message: String, param: String? = nil, code: String? = nil) -> ProviderFailure {
        ProviderFailure(
            .upstreamStatus(status), message,
            upstreamError: .object([
                "message": .string(message), "type": .string("invalid_request_error"),
                "param": param.map(JSONValue.string) ?? .null, "code": code.map(JSONValue.string) ?? .null,
            ]))
    }
}
