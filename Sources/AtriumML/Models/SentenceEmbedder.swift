import CKernels
import Foundation

/// A sentence-transformers model in the Hugging Face folder layout: a BERT encoder, its tokenizer,
/// the pooling of `modules.json` (mean or CLS) and, when listed, L2 normalisation.
public final class SentenceEmbedder: Sendable {
    public enum Pooling: String, Sendable {
        case mean
        case cls
    }

    public let encoder: BertEncoder
    public let tokenizer: any Tokenizer
    public let pooling: Pooling
    public let normalize: Bool
    /// The longest input in tokens, special ones included (sentence-transformers' `max_seq_length`).
    public let maxSequenceLength: Int
    public var dimensions: Int { encoder.config.hiddenSize }

    public init(folder: URL) throws {
        let folderName = folder.lastPathComponent
        guard FileManager.default.fileExists(atPath: folder.path) else { throw ModelLoadError(folderName, "no such folder") }
        let config = try BertConfig(json: folder.appendingPathComponent("config.json"))
        let weightsPath = folder.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            let pytorch = FileManager.default.fileExists(atPath: folder.appendingPathComponent("pytorch_model.bin").path)
            throw ModelLoadError(
                "model.safetensors", pytorch ? "is missing; only pytorch_model.bin is there, and pickled weights are not loaded (convert them to safetensors)" : "is missing")
        }
        encoder = try BertEncoder(config: config, weights: SafeTensors(path: weightsPath))
        tokenizer = try TokenizerLoader.load(folder: folder)
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            throw ModelLoadError("tokenizer.json", "has \(tokenizer.vocabularySize) tokens, more than the model's \(config.vocabularySize)")
        }
        (pooling, normalize) = try Self.modules(folder)
        var maxLength = config.maxPositions
        if let data = try? Data(contentsOf: folder.appendingPathComponent("sentence_bert_config.json")),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let length = object["max_seq_length"] as? Int, length > 0
        {
            maxLength = min(length, config.maxPositions)
        }
        maxSequenceLength = maxLength
    }

    /// The pooling and normalisation that `modules.json` lists (mean pooling alone when it is absent).
    private static func modules(_ folder: URL) throws -> (Pooling, Bool) {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("modules.json")) else { return (.mean, false) }
        guard let modules = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw ModelLoadError("modules.json", "is not a JSON array of modules")
        }
        var pooling = Pooling.mean
        var normalize = false
        for module in modules {
            let type = module["type"] as? String ?? ""
            if type.hasSuffix(".Pooling") {
                let path = module["path"] as? String ?? "1_Pooling"
                let file = folder.appendingPathComponent(path).appendingPathComponent("config.json")
                guard let data = try? Data(contentsOf: file), let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                    throw ModelLoadError("\(path)/config.json", "is missing or not JSON")
                }
                if config["pooling_mode_cls_token"] as? Bool == true {
                    pooling = .cls
                } else if config["pooling_mode_mean_tokens"] as? Bool == true {
                    pooling = .mean
                } else {
                    throw ModelLoadError("\(path)/config.json", "asks for a pooling other than mean or CLS, which is not supported")
                }
            } else if type.hasSuffix(".Normalize") {
                normalize = true
            } else if !type.hasSuffix(".Transformer") {
                throw ModelLoadError("modules.json", "lists the module \(type), which this engine does not run")
            }
        }
        return (pooling, normalize)
    }

    /// Token ids of a text as the model sees it (special tokens included, cut to the maximum).
    public func tokenize(_ text: String) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: true, maxLength: maxSequenceLength)
    }

    /// One embedding per sequence of token ids (each already valid for the model: see `check`).
    public func embed<Sequences: Collection<[Int]>>(tokenized sequences: Sequences, parallel: Parallel = Parallel(threads: 1)) -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        let hidden = encoder.forward(Array(sequences), parallel: parallel)
        let d = dimensions
        var embeddings: [[Float]] = []
        embeddings.reserveCapacity(sequences.count)
        var start = 0
        for sequence in sequences {
            var embedding = [Float](repeating: 0, count: d)
            embedding.withUnsafeMutableBufferPointer { out in
                atr_mean_pool(hidden.pointer + start * d, pooling == .mean ? sequence.count : min(1, sequence.count), d, d, out.baseAddress!, normalize ? 1 : 0)
            }
            embeddings.append(embedding)
            start += sequence.count
        }
        return embeddings
    }

    public func embed(_ texts: [String], parallel: Parallel = Parallel(threads: 1)) -> [[Float]] {
        embed(tokenized: texts.map(tokenize), parallel: parallel)
    }
}
