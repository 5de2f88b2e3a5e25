import Foundation

extension BPETokenizer {
    /// The tokenizer of a Hugging Face folder: `tokenizer.json` (a byte-level BPE model with one of the
    /// pre-tokenizer chains the engine knows), and the begin and end tokens `tokenizer_config.json` names.
    /// Every added token is matched whole, as Hugging Face matches them.
    public convenience init(folder: URL) throws {
        let file = "tokenizer.json"
        let object = try JSONFile.object(at: folder.appendingPathComponent(file))!
        let settings = try JSONFile.object(at: folder.appendingPathComponent("tokenizer_config.json"), required: false) ?? [:]
        guard let model = object["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw ModelLoadError(file, "is not a BPE tokenizer (its model is \((object["model"] as? [String: Any])?["type"] as? String ?? "missing"))")
        }
        guard model["byte_fallback"] as? Bool != true, model["ignore_merges"] as? Bool != true else {
            throw ModelLoadError(file, "uses byte fallback or ignores merges; this engine reads GPT-2-style byte-level BPE")
        }
        guard object["normalizer"] == nil || object["normalizer"] is NSNull else {
            throw ModelLoadError(file, "has a normalizer; byte-level BPE tokenizers of the GPT-2 family have none")
        }
        let preTokenizer = try Self.preTokenizer(object["pre_tokenizer"], file: file)
        guard let vocabulary = model["vocab"] as? [String: Int] else { throw ModelLoadError(file, "has no vocabulary") }
        let added = (object["added_tokens"] as? [[String: Any]] ?? []).compactMap { token -> (id: Int, text: String)? in
            guard let id = token["id"] as? Int, let text = token["content"] as? String else { return nil }
            return (id, text)
        }
        let count = (vocabulary.values.max() ?? -1) + 1
        let size = max(count, (added.map(\.id).max() ?? -1) + 1)
        guard size <= 4_000_000, vocabulary.values.allSatisfy({ $0 >= 0 }), added.allSatisfy({ $0.id >= 0 }) else {
            throw ModelLoadError(file, "has token ids out of range")
        }
        var tokens = [String](repeating: "", count: size)
        for (token, id) in vocabulary { tokens[id] = token }
        for token in added { tokens[token.id] = token.text }
        let merges = try (model["merges"] as? [Any] ?? []).enumerated().map { index, merge -> (String, String) in
            if let pair = merge as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let line = merge as? String, let space = line.firstIndex(of: " ") {
                return (String(line[..<space]), String(line[line.index(after: space)...]))
            }
            throw ModelLoadError(file, "merge \(index) is not two tokens")
        }
        func id(_ key: String) -> Int? {
            let value = settings[key]
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String
            return text.flatMap { text in vocabulary[text] ?? added.first { $0.text == text }?.id }
        }
        let bos = id("bos_token")
        let addsBOS = settings["add_bos_token"] as? Bool ?? Self.postProcessorStarts(object["post_processor"], with: bos.map { tokens[$0] })
        try self.init(
            tokens: tokens, merges: merges, special: added.map(\.id), preTokenizer: preTokenizer, bos: bos, eos: id("eos_token"),
            addsBOS: addsBOS, file: file)
    }

    /// Whether a `TemplateProcessing` post-processor (alone or in a `Sequence`, as Llama 3 has it) puts
    /// the token `text` before a single sequence.
    static func postProcessorStarts(_ value: Any?, with text: String?) -> Bool {
        guard let text, let step = value as? [String: Any] else { return false }
        if step["type"] as? String == "Sequence" {
            return (step["processors"] as? [Any] ?? []).contains { postProcessorStarts($0, with: text) }
        }
        guard step["type"] as? String == "TemplateProcessing", let first = (step["single"] as? [[String: Any]])?.first else { return false }
        return (first["SpecialToken"] as? [String: Any])?["id"] as? String == text
    }

    /// The pre-tokenizer a `tokenizer.json` describes, when it is one of those the engine implements.
    static func preTokenizer(_ value: Any?, file: String) throws -> PreTokenizer {
        func byteLevel(_ step: [String: Any]) -> Bool {
            step["type"] as? String == "ByteLevel" && step["add_prefix_space"] as? Bool != true && step["use_regex"] as? Bool != false
        }
        let step = value as? [String: Any] ?? [:]
        if byteLevel(step) { return .gpt2 }
        if step["type"] as? String == "Sequence", let steps = step["pretokenizers"] as? [[String: Any]], steps.count == 2,
            steps[0]["type"] as? String == "Digits", steps[0]["individual_digits"] as? Bool == true, byteLevel(steps[1])
        {
            return .digitsThenGPT2
        }
        let described = (try? JSONSerialization.data(withJSONObject: value ?? NSNull(), options: [.sortedKeys, .fragmentsAllowed]))
            .flatMap { String(data: $0, encoding: .utf8) } ?? "?"
        throw ModelLoadError(
            file, "has the pre-tokenizer \(described.prefix(200)); this engine knows GPT-2's byte-level one, alone or after splitting digits")
    }
}
