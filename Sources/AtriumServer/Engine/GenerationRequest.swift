import AtriumCore
import AtriumML
import AtriumTemplates

/// An OpenAI chat or text completion request read for the embedded engine: the prompts as token ids,
/// how to sample, and what to report. Everything a model cannot take is refused here with OpenAI's
/// 400 and the parameter at fault, before any work starts.
struct GenerationRequest {
    enum Shape { case chat, text }

    var shape: Shape
    /// One prompt for chat; one or more for text completions (each gets `n` choices).
    var prompts: [[Int]]
    var n: Int
    var maxTokens: Int
    var sampling: SamplingParameters
    var stops: [String]
    /// Chat: whether to return log-probabilities. Text: how many alternatives (0 = the token's own only).
    var logprobs: Bool
    /// Text completions: the prompt is repeated before the completion (scored too, with `logprobs`).
    var echo: Bool
    /// Alternatives for each scored prompt token; nil when the prompt is not scored.
    var promptLogprobs: Int? { echo && logprobs ? sampling.topLogprobs : nil }

    init(_ body: JSONValue, operation: ModelOperation, model: GenerativeModel) throws {
        let modelName = body["model"]?.stringValue ?? ""
        shape = operation == .chatCompletions ? .chat : .text
        switch shape {
        case .chat:
            try Self.refuseWhatTheEngineCannotHonour(body, model: modelName)
            let prompt = try Self.chatPrompt(body, model: model)
            if prompt.isEmpty {
                throw AtriumError.invalidRequest("The model's chat template made an empty prompt of these messages.", param: "messages")
            }
            prompts = [prompt]
            logprobs = body["logprobs"]?.boolValue ?? false
            let top = Int(body["top_logprobs"]?.intValue ?? 0)
            if top > 0 && !logprobs {
                throw AtriumError.invalidRequest("'top_logprobs' needs 'logprobs' set to true.", param: "top_logprobs")
            }
            sampling = SamplingParameters()
            sampling.topLogprobs = top
            echo = false
        case .text:
            prompts = try Self.textPrompts(body["prompt"], tokenizer: model.tokenizer, addSpecialTokens: body["add_special_tokens"]?.boolValue ?? true)
            let top = body["logprobs"]?.intValue.map(Int.init)
            logprobs = top != nil
            sampling = SamplingParameters()
            sampling.topLogprobs = top ?? 0
            echo = body["echo"]?.boolValue ?? false
            if let suffix = body["suffix"]?.stringValue, !suffix.isEmpty {
                throw AtriumError.invalidRequest("The model `\(modelName)` does not support 'suffix' (insertion).", param: "suffix")
            }
        }
        n = Int(body["n"]?.intValue ?? 1)
        if let bestOf = body["best_of"]?.intValue, bestOf > 1, Int(bestOf) != n {
            throw AtriumError.invalidRequest("The embedded engine does not rank candidates: 'best_of' must equal 'n'.", param: "best_of")
        }
        sampling.logprobs = logprobs
        if let temperature = body["temperature"]?.number { sampling.temperature = Float(temperature) }
        if let topP = body["top_p"]?.number { sampling.topP = Float(topP) }
        if let seed = body["seed"]?.intValue { sampling.seed = UInt64(bitPattern: seed) }
        if let presence = body["presence_penalty"]?.number { sampling.presencePenalty = Float(presence) }
        if let frequency = body["frequency_penalty"]?.number { sampling.frequencyPenalty = Float(frequency) }
        sampling.logitBias = try Self.logitBias(body["logit_bias"], vocabulary: model.tokenizer.vocabularySize)
        stops = switch body["stop"] {
        case .string(let stop)?: [stop]
        case .array(let items)?: items.compactMap(\.stringValue)
        default: []
        }

        // Prompt and completion must fit the context together, as OpenAI's 400 explains.
        let context = model.contextLength
        let longest = prompts.map(\.count).max() ?? 0
        let requested = (body["max_completion_tokens"]?.intValue ?? body["max_tokens"]?.intValue).map(Int.init)
        let field = body["max_completion_tokens"]?.intValue != nil ? "max_completion_tokens" : "max_tokens"
        if requested == 0 { throw AtriumError.invalidRequest("'\(field)' must be at least 1.", param: field) }
        let what = shape == .chat ? "messages" : "prompt"
        if let requested, longest + requested > context {
            throw AtriumError.invalidRequest(
                "This model's maximum context length is \(context) tokens. However, you requested \(longest + requested) tokens "
                    + "(\(longest) in the \(what), \(requested) in the completion). Please reduce the length of the \(what) or completion.",
                param: what, code: "context_length_exceeded")
        }
        if longest >= context {
            throw AtriumError.invalidRequest(
                "This model's maximum context length is \(context) tokens. However, your \(what) resulted in \(longest) tokens. "
                    + "Please reduce the length of the \(what).",
                param: what, code: "context_length_exceeded")
        }
        maxTokens = requested ?? (context - longest)
    }

    /// Chat fields the embedded engine cannot honour get a 400 naming them, never a silent drop: an agent
    /// must learn that its tools were not offered. A null, or the value that asks for nothing, passes.
    static func refuseWhatTheEngineCannotHonour(_ body: JSONValue, model: String) throws {
        func present(_ name: String, unless harmless: (JSONValue) -> Bool = { _ in false }) -> Bool {
            guard let value = body[name], value != .null else { return false }
            return !harmless(value)
        }
        for name in ["tools", "functions"] where present(name, unless: { $0.arrayValue?.isEmpty == true }) {
            throw AtriumError.invalidRequest(
                "The model `\(model)` cannot call tools: it would answer as if '\(name)' were absent. Leave '\(name)' out, or choose a model that supports tool calls.",
                param: name, code: "unsupported_parameter")
        }
        for name in ["tool_choice", "function_call"] where present(name, unless: { $0.stringValue == "none" }) {
            throw AtriumError.invalidRequest(
                "The model `\(model)` cannot call tools: '\(name)' can only be \"none\".", param: name, code: "unsupported_parameter")
        }
        for name in ["parallel_tool_calls", "audio", "reasoning_effort", "web_search_options"] where present(name) {
            throw AtriumError.invalidRequest(
                "Unsupported parameter: '\(name)' is not supported with the model `\(model)`.", param: name, code: "unsupported_parameter")
        }
        if present("modalities", unless: { $0.arrayValue?.allSatisfy { $0.stringValue == "text" } == true }) {
            throw AtriumError.invalidRequest(
                "The model `\(model)` answers with text only: 'modalities' can only be [\"text\"].", param: "modalities", code: "unsupported_parameter")
        }
        if let format = body["response_format"]?["type"]?.stringValue, format != "text" {
            throw AtriumError.invalidRequest(
                "The model `\(model)` cannot be held to a response format ('\(format.prefix(40))'); leave 'response_format' out or set it to text.",
                param: "response_format.type")
        }
    }

    /// The conversation through the model's chat template. Content parts other than text are refused.
    static func chatPrompt(_ body: JSONValue, model: GenerativeModel, addGenerationPrompt: Bool = true) throws -> [Int] {
        let messages = body["messages"]?.arrayValue ?? []
        let rendered = try messages.enumerated().map { index, message -> TemplateValue in
            var message = message
            // OpenAI's newer name for the system role; templates know `system`.
            if message["role"]?.stringValue == "developer" { message["role"] = .string("system") }
            if case .array(let parts)? = message["content"] {
                var text = ""
                for (partIndex, part) in parts.enumerated() {
                    guard part["type"]?.stringValue == "text", let piece = part["text"]?.stringValue else {
                        throw AtriumError.invalidRequest(
                            "The model `\(body["model"]?.stringValue ?? "")` reads text only: messages[\(index)].content[\(partIndex)] is not a text part.",
                            param: "messages[\(index)].content[\(partIndex)]")
                    }
                    text += piece
                }
                message["content"] = .string(text)
            } else if message["content"] == nil || message["content"] == .null {
                message["content"] = .string("")
            }
            return TemplateValue(message)
        }
        let tools = body["tools"].map { TemplateValue($0) }
        do {
            return try model.chatPrompt(messages: rendered, tools: tools, addGenerationPrompt: addGenerationPrompt)
        } catch let error as TemplateError {
            // Templates refuse conversations they cannot express (roles out of turn, say) with their own words.
            throw AtriumError.invalidRequest("The model's chat template refused these messages: \(error.description.prefix(300))", param: "messages")
        }
    }

    /// A string, strings, token ids, or arrays of token ids: each one prompt.
    static func textPrompts(_ prompt: JSONValue?, tokenizer: BPETokenizer, addSpecialTokens: Bool) throws -> [[Int]] {
        func ids(_ tokens: [JSONValue], param: String) throws -> [Int] {
            let raw = tokens.compactMap(\.intValue)
            if let bad = raw.first(where: { $0 < 0 || $0 >= tokenizer.vocabularySize }) {
                throw AtriumError.invalidRequest("\(param) holds the token id \(bad), outside this model's vocabulary of \(tokenizer.vocabularySize).", param: param)
            }
            return raw.map { Int($0) }
        }
        let prompts: [[Int]]
        switch prompt {
        case .string(let text)?: prompts = [tokenizer.encodePrompt(text, addSpecialTokens: addSpecialTokens)]
        case .array(let items)? where items.allSatisfy({ $0.intValue != nil }): prompts = [try ids(items, param: "prompt")]
        case .array(let items)?:
            prompts = try items.enumerated().map { index, item in
                switch item {
                case .string(let text): tokenizer.encodePrompt(text, addSpecialTokens: addSpecialTokens)
                case .array(let tokens): try ids(tokens, param: "prompt[\(index)]")
                default: throw AtriumError.invalidRequest("prompt[\(index)] must be a string or an array of token ids.", param: "prompt[\(index)]")
                }
            }
        default: prompts = []
        }
        if prompts.isEmpty || prompts.contains(where: \.isEmpty) {
            throw AtriumError.invalidRequest("'prompt' must hold at least one token.", param: "prompt")
        }
        return prompts
    }

    /// `{"token id": bias}` with ids in the vocabulary and biases within ±100, as OpenAI allows.
    static func logitBias(_ value: JSONValue?, vocabulary: Int) throws -> [Int: Float] {
        guard case .object(let members)? = value else { return [:] }
        var bias: [Int: Float] = [:]
        for (key, member) in members {
            guard let id = Int(key), id >= 0, id < vocabulary else {
                throw AtriumError.invalidRequest("logit_bias has the key '\(key.prefix(40))', which is not a token id of this model (0..<\(vocabulary)).", param: "logit_bias")
            }
            guard let amount = member.number, (-100...100).contains(amount) else {
                throw AtriumError.invalidRequest("logit_bias[\(key)] must be a number from -100 to 100.", param: "logit_bias")
            }
            bias[id] = Float(amount)
        }
        return bias
    }
}

extension JSONValue {
    /// An integer or a decimal as a Double.
    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}
