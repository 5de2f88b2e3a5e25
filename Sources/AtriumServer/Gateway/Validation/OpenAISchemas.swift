/// The request bodies of the `/v1` operations, as OpenAI documents them.
enum OpenAISchemas {
    private static let stop = FieldRule.nullable(
        .either([.string(), .array(of: .string(), count: 0...4)], expected: "a string or an array of up to 4 strings"))
    private static let streamOptions = FieldRule.nullable(.object)
    private static let common: [String: FieldRule] = [
        "model": .nonEmptyString,
        "temperature": .nullable(.number(0...2)),
        "top_p": .nullable(.number(0...1)),
        "n": .nullable(.integer(1...128)),
        "stream": .nullable(.bool),
        "stream_options": streamOptions,
        "stop": stop,
        "max_tokens": .nullable(.integer(0...Int64(Int32.max))),
        "presence_penalty": .nullable(.number(-2...2)),
        "frequency_penalty": .nullable(.number(-2...2)),
        "logit_bias": .nullable(.object),
        "user": .string(maxLength: 512),
        "seed": .nullable(.integer()),
        "metadata": .nullable(.object),
        "service_tier": .nullable(.string()),
    ]

    static let chatCompletions = RequestSchema(
        required: ["model", "messages"],
        fields: common.merging([
            "messages": .array(of: .object, count: 1...100_000),
            "max_completion_tokens": .nullable(.integer(0...Int64(Int32.max))),
            "logprobs": .nullable(.bool),
            "top_logprobs": .nullable(.integer(0...20)),
            "tools": .array(of: .object),
            "tool_choice": .either([.string(), .object], expected: "a string or an object"),
            "parallel_tool_calls": .bool,
            "functions": .array(of: .object),
            "function_call": .either([.string(), .object], expected: "a string or an object"),
            "response_format": .object,
            "store": .nullable(.bool),
            "modalities": .nullable(.array(of: .string())),
            "audio": .nullable(.object),
            "prediction": .nullable(.object),
            "reasoning_effort": .nullable(.string()),
            "verbosity": .nullable(.string()),
            "web_search_options": .object,
            "prompt_cache_key": .string(),
            "safety_identifier": .string(),
        ]) { _, new in new })

    static let completions = RequestSchema(
        required: ["model", "prompt"],
        fields: common.merging([
            "prompt": .either(
                // An empty list is no prompt (and, in the contract's oneOf, would match every array form).
                [.string(), .array(of: .string(), count: 1...Int.max), .array(of: .integer(), count: 1...Int.max),
                 .array(of: .array(of: .integer(), count: 1...Int.max), count: 1...Int.max)],
                expected: "a string, an array of strings, an array of integers or an array of integer arrays"),
            "suffix": .nullable(.string()),
            "logprobs": .nullable(.integer(0...5)),
            "echo": .nullable(.bool),
            "best_of": .nullable(.integer(0...20)),
            // vLLM's: whether the model's beginning-of-text token goes before the prompt.
            "add_special_tokens": .nullable(.bool),
        ]) { _, new in new })

    static let embeddings = RequestSchema(
        required: ["model", "input"],
        fields: [
            "model": .nonEmptyString,
            "input": .either(
                [.nonEmptyString, .array(of: .nonEmptyString, count: 1...2048), .array(of: .integer(), count: 1...100_000),
                 .array(of: .array(of: .integer(), count: 1...100_000), count: 1...2048)],
                expected: "a string, an array of strings, an array of integers or an array of integer arrays"),
            "encoding_format": .oneOf(["float", "base64"]),
            "dimensions": .integer(1...100_000),
            "user": .string(maxLength: 512),
        ])

    static func schema(for operation: ModelOperation) -> RequestSchema {
        switch operation {
        case .chatCompletions: chatCompletions
        case .completions: completions
        case .embeddings: embeddings
        }
    }

    /// Checks a request body for `operation`; returns the model it names and whether it asks to stream.
    static func validate(_ body: JSONValue, for operation: ModelOperation) throws -> (model: String, stream: Bool) {
        try schema(for: operation).validate(body)
        if operation == .chatCompletions { try checkMessages(body) }
        if let include = body["stream_options"]?["include_usage"], include != .null, include.boolValue == nil {
            throw AtriumError.invalidRequest(
                "Invalid type for 'stream_options.include_usage': expected a boolean.", param: "stream_options.include_usage", code: "invalid_type")
        }
        return (body["model"]?.stringValue ?? "", body["stream"]?.boolValue ?? false)
    }

    /// Rules that span fields and so cannot live on one field.
    static func checkMessages(_ body: JSONValue) throws {
        guard let messages = body["messages"]?.arrayValue else { return }
        for (index, message) in messages.enumerated() {
            guard let role = message["role"] else {
                throw AtriumError.invalidRequest(
                    "Missing required parameter: 'messages[\(index)].role'.", param: "messages[\(index)].role", code: "missing_required_parameter")
            }
            if let error = roleRule.check(role, param: "messages[\(index)].role") { throw error }
            if let content = message["content"], let error = contentRule.check(content, param: "messages[\(index)].content") { throw error }
        }
    }

    private static let roleRule = FieldRule.oneOf(["system", "developer", "user", "assistant", "tool", "function"])
    private static let contentRule = FieldRule.nullable(.either([.string(), .array(of: .object)], expected: "a string or an array of content parts"))
}

import AtriumCore
