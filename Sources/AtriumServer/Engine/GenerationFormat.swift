import AtriumCore
import AtriumML
import Foundation

/// OpenAI's shapes for what the engine generated: `chat.completion` and its chunks, `text_completion`
/// (whole and streamed), log-probabilities in the chat and the legacy layouts, and usage.
struct GenerationFormat: Sendable {
    let shape: GenerationRequest.Shape
    let model: String
    let tokenizer: BPETokenizer
    let logprobs: Bool
    /// The prompts' tokens, put before each completion as text (`echo`).
    let echoedPrompts: [[Int]]?
    /// The prompts' text, when echoed.
    let echoed: [String]?
    let id: String
    let created = Int64(Date().timeIntervalSince1970)

    init(shape: GenerationRequest.Shape, model: String, tokenizer: BPETokenizer, logprobs: Bool, echoed: [[Int]]?) {
        self.shape = shape
        self.model = model
        self.tokenizer = tokenizer
        self.logprobs = logprobs
        echoedPrompts = echoed
        self.echoed = echoed?.map { tokenizer.decode($0) }
        id = (shape == .chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }

    /// A whole choice, gathered from its events.
    struct Collected: Sendable {
        var prompt: Int
        var text = ""
        var tokens: [SampledToken] = []
        var offsets: [Int] = []
        var finishReason = "stop"
        var generatedTokens = 0
        var cachedPromptTokens = 0
        /// The prompt's tokens after the first, scored (echo with logprobs).
        var promptScores: [SampledToken]?

        init(prompt: Int) { self.prompt = prompt }

        mutating func take(_ event: GenerationEngine.Event) {
            switch event {
            case .prompt(let scores):
                promptScores = scores
            case .token(let sampled, let piece):
                offsets.append(text.utf16.count)
                tokens.append(sampled)
                text += piece
            case .finished(let reason, let piece, let generated, let cached):
                text += piece
                finishReason = reason.rawValue
                generatedTokens = generated
                cachedPromptTokens = cached
            }
        }
    }

    /// Where a streamed choice stands: log-probabilities of tokens whose text is still held back wait
    /// for the chunk that shows it.
    struct StreamState: Sendable {
        var pending: [SampledToken] = []
        var shown = 0
        /// Tokens generated so far (a stop token too, once the end says so).
        var generatedTokens = 0
    }

    func response(_ choices: [Collected], promptTokens: Int) -> JSONValue {
        let completionTokens = choices.reduce(0) { $0 + $1.generatedTokens }
        let objects: [JSONValue] = choices.enumerated().map { index, choice in
            switch shape {
            case .chat:
                return .object([
                    "index": .int(Int64(index)),
                    "message": .object(["role": .string("assistant"), "content": .string(choice.text), "refusal": .null]),
                    "logprobs": logprobs ? chatLogprobs(choice.tokens) : .null,
                    "finish_reason": .string(choice.finishReason),
                ])
            case .text:
                let echo = echoed?[choice.prompt] ?? ""
                var entries = scoresPrompt ? promptEntries(choice.prompt, scores: choice.promptScores ?? []) : []
                entries += zip(choice.tokens, choice.offsets).map { LegacyEntry($0, offset: $1 + echo.utf16.count) }
                return .object([
                    "index": .int(Int64(index)), "text": .string(echo + choice.text),
                    "logprobs": logprobs ? textLogprobs(entries) : .null,
                    "finish_reason": .string(choice.finishReason),
                ])
            }
        }
        return .object([
            "id": .string(id), "object": .string(shape == .chat ? "chat.completion" : "text_completion"), "created": .int(created),
            "model": .string(model), "system_fingerprint": .string(Self.fingerprint), "choices": .array(objects),
            "usage": usage(promptTokens: promptTokens, completionTokens: completionTokens, cached: choices.first?.cachedPromptTokens ?? 0),
        ])
    }

    /// Whether each echoed prompt comes with its tokens' log-probabilities.
    var scoresPrompt: Bool { logprobs && echoed != nil && shape == .text }

    /// The first chunk of a choice: the assistant's role (chat), or the echoed prompt (text), with its
    /// scores when it was scored.
    func opening(choice: Int, prompt: Int, scores: [SampledToken]?) -> JSONValue {
        switch shape {
        case .chat:
            chunk(["index": .int(Int64(choice)), "delta": .object(["role": .string("assistant"), "content": .string("")]), "logprobs": .null, "finish_reason": .null])
        case .text:
            chunk([
                "index": .int(Int64(choice)), "text": .string(echoed?[prompt] ?? ""),
                "logprobs": scores.map { textLogprobs(promptEntries(prompt, scores: $0)) } ?? .null, "finish_reason": .null,
            ])
        }
    }

    /// The chunk an event makes, if any: text as it is released (with the log-probabilities of the
    /// tokens behind it), and the finish reason.
    func chunk(for event: GenerationEngine.Event, choice: Int, state: inout StreamState) -> JSONValue? {
        let text: String
        var finish: JSONValue = .null
        switch event {
        case .token(let sampled, let piece):
            state.pending.append(sampled)
            state.generatedTokens += 1
            text = piece
            if text.isEmpty { return nil }
        case .finished(let reason, let piece, let generated, _):
            text = piece
            finish = .string(reason.rawValue)
            state.generatedTokens = generated
        case .prompt:
            return nil
        }
        let tokens = state.pending
        state.pending.removeAll()
        let offsets = tokens.indices.map { _ in state.shown }
        state.shown += text.utf16.count
        switch shape {
        case .chat:
            let delta: JSONValue = text.isEmpty && finish != .null ? .object([:]) : .object(["content": .string(text)])
            return chunk([
                "index": .int(Int64(choice)), "delta": delta, "logprobs": logprobs && !tokens.isEmpty ? chatLogprobs(tokens) : .null,
                "finish_reason": finish,
            ])
        case .text:
            let entries = zip(tokens, offsets).map { LegacyEntry($0, offset: $1) }
            return chunk([
                "index": .int(Int64(choice)), "text": .string(text),
                "logprobs": logprobs && !tokens.isEmpty ? textLogprobs(entries) : .null, "finish_reason": finish,
            ])
        }
    }

    func usageChunk(promptTokens: Int, completionTokens: Int) -> JSONValue {
        var object = chunkEnvelope(choices: [])
        object["usage"] = usage(promptTokens: promptTokens, completionTokens: completionTokens, cached: 0)
        return object
    }

    static let fingerprint = "atrium-embedded"

    private func chunk(_ choice: [String: JSONValue]) -> JSONValue { chunkEnvelope(choices: [.object(choice)]) }

    private func chunkEnvelope(choices: [JSONValue]) -> JSONValue {
        .object([
            "id": .string(id), "object": .string(shape == .chat ? "chat.completion.chunk" : "text_completion"), "created": .int(created),
            "model": .string(model), "system_fingerprint": .string(Self.fingerprint), "choices": .array(choices),
        ])
    }

    private func usage(promptTokens: Int, completionTokens: Int, cached: Int) -> JSONValue {
        .object([
            "prompt_tokens": .int(Int64(promptTokens)), "completion_tokens": .int(Int64(completionTokens)),
            "total_tokens": .int(Int64(promptTokens + completionTokens)), "prompt_tokens_details": .object(["cached_tokens": .int(Int64(cached))]),
        ])
    }

    /// Chat's layout: per token its text, log-probability, bytes and the most likely alternatives.
    private func chatLogprobs(_ tokens: [SampledToken]) -> JSONValue {
        func entry(_ token: Int, _ logprob: Float) -> [String: JSONValue] {
            let bytes = tokenizer.bytes(of: token)
            return ["token": .string(String(decoding: bytes, as: UTF8.self)), "logprob": Self.number(logprob), "bytes": .array(bytes.map { .int(Int64($0)) })]
        }
        return .object([
            "content": .array(tokens.map { sampled in
                var object = entry(sampled.token, sampled.logprob)
                object["top_logprobs"] = .array(sampled.top.map { .object(entry($0.token, $0.logprob)) })
                return .object(object)
            }),
            "refusal": .null,
        ])
    }

    /// A token of the legacy layout: a prompt's first token has no log-probability and no alternatives.
    struct LegacyEntry {
        var token: Int
        var logprob: Float?
        var top: [(token: Int, logprob: Float)]?
        var offset: Int

        init(token: Int, logprob: Float?, top: [(token: Int, logprob: Float)]?, offset: Int) {
            (self.token, self.logprob, self.top, self.offset) = (token, logprob, top, offset)
        }

        init(_ sampled: SampledToken, offset: Int) {
            self.init(token: sampled.token, logprob: sampled.logprob, top: sampled.top, offset: offset)
        }
    }

    /// A token's text, its broken characters (half of one split across tokens) replaced.
    private func text(of token: Int) -> String { String(decoding: tokenizer.bytes(of: token), as: UTF8.self) }

    /// An echoed prompt's tokens as legacy entries: the first unscored, the rest with their scores, each
    /// at the offset of its text in the prompt's.
    private func promptEntries(_ prompt: Int, scores: [SampledToken]) -> [LegacyEntry] {
        guard let tokens = echoedPrompts?[prompt] else { return [] }
        var offset = 0
        var entries: [LegacyEntry] = []
        for (index, token) in tokens.enumerated() {
            let score = index > 0 && index - 1 < scores.count ? scores[index - 1] : nil
            entries.append(LegacyEntry(token: token, logprob: score?.logprob, top: score?.top, offset: offset))
            offset += text(of: token).utf16.count
        }
        return entries
    }

    /// The legacy completions layout: parallel arrays, alternatives as a map from text to log-probability.
    private func textLogprobs(_ entries: [LegacyEntry]) -> JSONValue {
        .object([
            "tokens": .array(entries.map { .string(text(of: $0.token)) }),
            "token_logprobs": .array(entries.map { $0.logprob.map(Self.number) ?? .null }),
            "top_logprobs": .array(entries.map { entry in
                entry.top.map { top in .object(Dictionary(top.map { (text(of: $0.token), Self.number($0.logprob)) }, uniquingKeysWith: { first, _ in first })) } ?? .null
            }),
            "text_offset": .array(entries.map { .int(Int64($0.offset)) }),
        ])
    }

    /// A float as its shortest decimal, not the noise digits of its widening to Double.
    static func number(_ value: Float) -> JSONValue {
        value.isFinite ? .double(Double("\(value)") ?? 0) : .double(-9999)
    }
}
