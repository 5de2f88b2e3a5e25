import AtriumCore
import AtriumML
import Hummingbird

/// `POST /tokenize` and `POST /detokenize` as vLLM serves them, for the embedded chat models, behind
/// the same Bearer key as `/v1`: a prompt or a conversation (through the chat template) to its token
/// ids, and ids back to text.
struct TokenizeController {
    let models: [String: GenerativeModel]
    let maxBodyBytes: Int

    func addRoutes(to router: RouterGroup<KeyRequestContext>) {
        router.post("tokenize", use: tokenize)
        router.post("detokenize", use: detokenize)
    }

    @Sendable func tokenize(_ request: Request, context: KeyRequestContext) async throws -> Response {
        try context.require(.modelRequest)
        let body = try await Self.body(request, limit: maxBodyBytes)
        let (name, model) = try self.model(body)
        let tokens: [Int]
        switch (body["prompt"], body["messages"]) {
        case (.string(let prompt)?, nil):
            tokens = model.tokenizer.encodePrompt(prompt, addSpecialTokens: try Self.flag(body, "add_special_tokens", default: true))
        case (nil, .array(let messages)?):
            try OpenAISchemas.checkMessages(body)
            if messages.isEmpty { throw AtriumError.invalidRequest("'messages' must hold at least one message.", param: "messages") }
            var chat = body
            chat["model"] = .string(name)
            let addGenerationPrompt = body["add_generation_prompt"]?.boolValue ?? true
            tokens = try GenerationRequest.chatPrompt(chat, model: model, addGenerationPrompt: addGenerationPrompt)
        default:
            throw AtriumError.invalidRequest("Give either 'prompt' (a string) or 'messages' (an array of messages).", param: "prompt")
        }
        return ModelAPIController.json(.object([
            "tokens": .array(tokens.map { .int(Int64($0)) }), "count": .int(Int64(tokens.count)),
            "max_model_len": .int(Int64(model.contextLength)),
        ]))
    }

    @Sendable func detokenize(_ request: Request, context: KeyRequestContext) async throws -> Response {
        try context.require(.modelRequest)
        let body = try await Self.body(request, limit: maxBodyBytes)
        let (_, model) = try self.model(body)
        guard case .array(let items)? = body["tokens"], items.allSatisfy({ $0.intValue != nil }) else {
            throw AtriumError.invalidRequest("'tokens' must be an array of token ids.", param: "tokens")
        }
        let ids = items.compactMap(\.intValue)
        if let bad = ids.first(where: { $0 < 0 || $0 >= model.tokenizer.vocabularySize }) {
            throw AtriumError.invalidRequest("'tokens' holds the id \(bad), outside this model's vocabulary of \(model.tokenizer.vocabularySize).", param: "tokens")
        }
        return ModelAPIController.json(.object(["prompt": .string(model.tokenizer.decode(ids.map { Int($0) }))]))
    }

    private func model(_ body: JSONValue) throws -> (String, GenerativeModel) {
        guard let name = body["model"]?.stringValue, !name.isEmpty else {
            throw AtriumError.invalidRequest("Missing required parameter: 'model'.", param: "model", code: "missing_required_parameter")
        }
        guard let model = models[name] else {
            throw AtriumError.notFound("The model `\(name.prefix(200))` is not a chat model of the embedded engine.", code: "model_not_found")
        }
        return (name, model)
    }

    private static func flag(_ body: JSONValue, _ name: String, default value: Bool) throws -> Bool {
        guard let field = body[name], field != .null else { return value }
        guard let flag = field.boolValue else { throw AtriumError.invalidRequest("'\(name)' must be true or false.", param: name) }
        return flag
    }

    private static func body(_ request: Request, limit: Int) async throws -> JSONValue {
        let body = try JSONValue.parse(try await request.collectBody(limit: limit))
        guard case .object = body else { throw AtriumError.invalidRequest("The body must be a JSON object.") }
        return body
    }
}
