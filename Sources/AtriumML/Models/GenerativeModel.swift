import Foundation

/// A chat and text model the engine serves from one GGUF file: the network, its tokenizer, its chat
/// template and the tokens that end a turn, with a generation engine that owns the cores for it.
public final class GenerativeModel: Sendable {
    public let model: LlamaModel
    public let tokenizer: BPETokenizer
    public let template: ChatTemplate
    /// Whether `template` is the model's own (false: ChatML, as llama.cpp falls back to).
    public let hasOwnTemplate: Bool
    /// Tokens that end a completion: end of text and end of turn.
    public let stopTokens: Set<Int>
    public let engine: GenerationEngine

    /// Positions a request may fill, prompt and completion together: the model's context, or less where
    /// the engine's key/value budget is smaller.
    public var contextLength: Int { min(model.config.contextLength, engine.budget) }

    /// The special tokens that close a turn in the chat templates of the common families.
    static let endOfTurn = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|end_of_text|>"]

    static let chatML = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}\
        {% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
        """

    public init(file path: String, settings: GenerationEngine.Settings = .init()) throws {
        (model, tokenizer, template, hasOwnTemplate, stopTokens) = try Self.parts(of: path)
        engine = GenerationEngine(model: model, tokenizer: tokenizer, settings: settings)
    }

    /// Checks that a GGUF file loads as a generator (architecture, tensors, tokenizer, chat template)
    /// without starting an engine for it.
    public static func check(file path: String) throws {
        _ = try parts(of: path)
    }

    private static func parts(of path: String) throws
        -> (model: LlamaModel, tokenizer: BPETokenizer, template: ChatTemplate, ownTemplate: Bool, stops: Set<Int>)
    {
        let gguf = try GGUFFile(path: path)
        let model = try LlamaModel(gguf: gguf)
        let tokenizer = try BPETokenizer(gguf: gguf)
        let template: ChatTemplate
        let source = gguf.metadata["tokenizer.chat_template"]?.string
        do {
            template = try ChatTemplate(source ?? chatML)
        } catch {
            throw ModelLoadError((path as NSString).lastPathComponent, "has a chat template that cannot be read: \(error)")
        }
        var stops = Set(tokenizer.specialTokens.filter { endOfTurn.contains($0.text) }.map(\.id))
        if let eos = tokenizer.eos { stops.insert(eos) }
        if let eot = gguf.metadata["tokenizer.ggml.eot_token_id"]?.int { stops.insert(eot) }
        return (model, tokenizer, template, source != nil, stops)
    }

    /// The GGUF file of a model folder: the one `.gguf` in it, or nil when it has none.
    public static func file(in folder: URL) throws -> URL? {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".gguf") && !$0.hasPrefix(".") }.sorted()
        guard files.count <= 1 else {
            throw ModelLoadError(folder.lastPathComponent, "holds several GGUF files (\(files.joined(separator: ", "))); a model folder holds one")
        }
        return files.first.map { folder.appendingPathComponent($0) }
    }

    /// The prompt's token ids for a conversation, rendered with the model's chat template. What the
    /// messages say is text: special tokens written in it are not matched (the template's own are).
    /// `messages` are objects with `role` and `content` (and whatever else the template reads).
    public func chatPrompt(messages: [TemplateValue], tools: TemplateValue? = nil, addGenerationPrompt: Bool = true) throws -> [Int] {
        let escaped = messages.map { message in
            message.mappingStrings(ofKey: "content") { tokenizer.escapingSpecialTokens($0) }
        }
        var context: [String: TemplateValue] = [
            "messages": .array(escaped), "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(tokenizer.bos.map { tokenizer.tokens[$0] } ?? ""),
            "eos_token": .string(tokenizer.eos.map { tokenizer.tokens[$0] } ?? ""),
        ]
        // transformers passes both, as None when absent; templates test them with `is not none`.
        context["tools"] = tools ?? TemplateValue.none
        context["documents"] = TemplateValue.none
        return tokenizer.encodeTemplated(try template.render(context))
    }

    public func shutdown() { engine.shutdown() }
}

extension TemplateValue {
    /// An object with the strings under `key` transformed: a string value, or the `text` of each part
    /// in an array of content parts.
    func mappingStrings(ofKey key: String, _ transform: (String) -> String) -> TemplateValue {
        guard case .object(var object) = self, let value = object[key] else { return self }
        switch value {
        case .string(let text):
            object[key] = .string(transform(text))
        case .array(let parts):
            object[key] = .array(parts.map { $0.mappingStrings(ofKey: "text", transform) })
        default:
            return self
        }
        return .object(object)
    }
}
