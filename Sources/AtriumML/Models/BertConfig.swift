import Foundation

/// A BERT-family encoder's `config.json`, read as given.
public struct BertConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var layerNormEpsilon: Float
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var vocabularySize: Int

    public init(json url: URL) throws {
        let name = url.lastPathComponent
        guard let data = try? Data(contentsOf: url) else { throw ModelLoadError(name, "is missing") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ModelLoadError(name, "is not a JSON object") }
        func integer(_ key: String) throws -> Int {
            guard let value = object[key] as? Int, value > 0 else { throw ModelLoadError(name, "needs a positive \"\(key)\"") }
            return value
        }
        let family = ["bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "camembert", "electra"]
        let type = object["model_type"] as? String ?? "bert"
        guard type == "bert" else {
            let known = family.contains(type) ? " (a BERT relative with another layout, not read yet)" : ""
            throw ModelLoadError(name, "describes a \"\(type)\" model\(known); this engine reads BERT encoders")
        }
        let activation = object["hidden_act"] as? String ?? "gelu"
        guard activation == "gelu" else { throw ModelLoadError(name, "uses the activation \"\(activation)\"; only \"gelu\" is supported") }
        if let positions = object["position_embedding_type"] as? String, positions != "absolute" {
            throw ModelLoadError(name, "uses \"\(positions)\" position embeddings; only \"absolute\" is supported")
        }
        hiddenSize = try integer("hidden_size")
        layers = try integer("num_hidden_layers")
        heads = try integer("num_attention_heads")
        intermediateSize = try integer("intermediate_size")
        maxPositions = try integer("max_position_embeddings")
        vocabularySize = try integer("vocab_size")
        typeVocabularySize = object["type_vocab_size"] as? Int ?? 2
        layerNormEpsilon = Float(object["layer_norm_eps"] as? Double ?? 1e-12)
        guard hiddenSize % heads == 0 else { throw ModelLoadError(name, "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(heads)") }
    }
}
