import AtriumTemplates
import Foundation

/// A chat and text model the engine serves: the network, its tokenizer, its chat template and the
/// tokens that end a turn, with a generation engine that owns the cores for it. It comes from a GGUF
/// file or from a Hugging Face folder of a Llama (`config.json`, safetensors, `tokenizer.json`).
public final class GenerativeModel: Sendable {
    /// Where a generator's files are.
    public enum Source: Sendable, Equatable {
        case gguf(URL)
        case huggingFace(URL)

        public var path: String {
            switch self {
            case .gguf(let file): file.path
            case .huggingFace(let folder): folder.path
            }
        }
    }

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

    public init(source: Source, settings: GenerationEngine.Settings = .init()) throws {
        let parts = try Self.parts(of: source)
        (model, tokenizer, hasOwnTemplate, stopTokens) = (parts.model, parts.tokenizer, parts.templateSource != nil, parts.stops)
        template = parts.template
        engine = GenerationEngine(model: model, tokenizer: tokenizer, settings: settings)
    }

    public convenience init(file path: String, settings: GenerationEngine.Settings = .init()) throws {
        try self.init(source: .gguf(URL(fileURLWithPath: path)), settings: settings)
    }

    /// Checks that a source loads as a generator (architecture, tensors, tokenizer, chat template)
    /// without starting an engine for it; returns the model's shape.
    @discardableResult
    public static func check(_ source: Source) throws -> LlamaConfig {
        try parts(of: source).model.config
    }

    public static func check(file path: String) throws {
        try check(.gguf(URL(fileURLWithPath: path)))
    }

    private struct Parts {
        var model: LlamaModel
        var tokenizer: BPETokenizer
        var templateSource: String?
        var template: ChatTemplate
        var stops: Set<Int>
    }

    private static func parts(of source: Source) throws -> Parts {
        let model: LlamaModel, tokenizer: BPETokenizer, templateSource: String?, name: String
        var stops = Set<Int>()
        switch source {
        case .gguf(let file):
            name = file.lastPathComponent
            let gguf = try GGUFFile(path: file.path)
            model = try LlamaModel(gguf: gguf)
            tokenizer = try BPETokenizer(gguf: gguf)
            templateSource = gguf.metadata["tokenizer.chat_template"]?.string
            if let eot = gguf.metadata["tokenizer.ggml.eot_token_id"]?.int { stops.insert(eot) }
        case .huggingFace(let folder):
            name = "tokenizer_config.json"
            model = try LlamaModel(folder: folder)
            tokenizer = try BPETokenizer(folder: folder)
            templateSource = try huggingFaceTemplate(in: folder)
            let generation = try JSONFile.object(at: folder.appendingPathComponent("generation_config.json"), required: false)
            let eos = generation?["eos_token_id"]
            stops.formUnion((eos as? [Int]) ?? (eos as? Int).map { [$0] } ?? [])
        }
        guard tokenizer.vocabularySize <= model.config.vocabularySize else {
            throw ModelLoadError(name, "has a tokenizer of \(tokenizer.vocabularySize) tokens for a model of \(model.config.vocabularySize)")
        }
        let template: ChatTemplate
        do {
            template = try ChatTemplate(templateSource ?? chatML)
        } catch {
            throw ModelLoadError(name, "has a chat template that cannot be read: \(error)")
        }
        stops.formUnion(tokenizer.specialTokens.filter { endOfTurn.contains($0.text) }.map(\.id))
        if let eos = tokenizer.eos { stops.insert(eos) }
        return Parts(model: model, tokenizer: tokenizer, templateSource: templateSource, template: template, stops: stops.filter { $0 < model.config.vocabularySize })
    }

    /// A Hugging Face folder's chat template: `chat_template.jinja` (transformers 5), else the
    /// `chat_template` of `tokenizer_config.json` (a text, or named texts of which `default` is used).
    private static func huggingFaceTemplate(in folder: URL) throws -> String? {
        if let text = try? String(contentsOf: folder.appendingPathComponent("chat_template.jinja"), encoding: .utf8) { return text }
        let settings = try JSONFile.object(at: folder.appendingPathComponent("tokenizer_config.json"), required: false)
        switch settings?["chat_template"] {
        case let text as String: return text
        case let named as [[String: Any]]:
            return (named.first { $0["name"] as? String == "default" } ?? named.first)?["template"] as? String
        default: return nil
        }
    }

    /// The generator a model folder holds: its one `.gguf` file, or a Hugging Face Llama (a
    /// `config.json` of a causal language model); nil for other folders (sentence embedders).
    public static func source(in folder: URL) throws -> Source? {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".gguf") && !$0.hasPrefix(".") }.sorted()
        guard files.count <= 1 else {
            throw ModelLoadError(folder.lastPathComponent, "holds several GGUF files (\(files.joined(separator: ", "))); a model folder holds one")
        }
        if let file = files.first { return .gguf(folder.appendingPathComponent(file)) }
        guard let config = try JSONFile.object(at: folder.appendingPathComponent("config.json"), required: false) else { return nil }
        let architectures = config["architectures"] as? [String] ?? []
        if config["model_type"] as? String == "llama" || architectures.contains(where: { $0.hasSuffix("ForCausalLM") }) {
            return .huggingFace(folder)
        }
        return nil
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
