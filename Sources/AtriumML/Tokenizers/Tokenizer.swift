import Foundation

/// Turns text into a model's token ids. WordPiece (BERT) lives here now; the byte-level BPE of chat
/// models goes beside it, read from the same `tokenizer.json`.
public protocol Tokenizer: Sendable {
    /// The ids of `text`, with the model's special tokens around them when `addSpecialTokens` is set,
    /// cut to at most `maxLength` ids (the special ones included) when one is given.
    func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int]
    /// Token ids framed with the special tokens `encode` adds.
    func addingSpecialTokens(_ ids: [Int]) -> [Int]
    var vocabularySize: Int { get }
    /// Ids that frame a sequence (`[CLS]` … `[SEP]`): how many `encode` adds.
    var specialTokenCount: Int { get }
}

public enum TokenizerLoader {
    /// The tokenizer of a Hugging Face model folder: `tokenizer.json` when there is one, else
    /// `vocab.txt` (read as BERT's, lowercasing as `tokenizer_config.json` says).
    public static func load(folder: URL) throws -> any Tokenizer {
        let json = folder.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) {
            return try load(tokenizerJSON: json)
        }
        let vocab = folder.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocab.path) else {
            throw ModelLoadError(folder.lastPathComponent, "has neither tokenizer.json nor vocab.txt")
        }
        var lowercase = true
        if let data = try? Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json")),
            let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let flag = config["do_lower_case"] as? Bool
        {
            lowercase = flag
        }
        return try WordPieceTokenizer(vocabFile: vocab, lowercase: lowercase)
    }

    public static func load(tokenizerJSON url: URL) throws -> any Tokenizer {
        let name = url.lastPathComponent
        let object: [String: Any]
        do {
            object = try JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any] ?? [:]
        } catch {
            throw ModelLoadError(name, "is not valid JSON (\(error.localizedDescription))")
        }
        guard let model = object["model"] as? [String: Any] else { throw ModelLoadError(name, "has no \"model\"") }
        switch model["type"] as? String {
        case "WordPiece":
            return try WordPieceTokenizer(tokenizerJSON: object, file: name)
        case let other:
            throw ModelLoadError(name, "uses a \(other ?? "missing") tokenizer model; this engine reads WordPiece tokenizers")
        }
    }
}
