import Foundation

/// The Llama architecture's shape, as GGUF metadata or a Hugging Face `config.json` gives it.
public struct LlamaConfig: Sendable, Equatable {
    public var layers: Int
    public var hiddenSize: Int
    public var heads: Int
    public var kvHeads: Int
    public var intermediateSize: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var ropeBase: Float
    public var ropeDimensions: Int
    public var rmsEpsilon: Float

    public var headDimension: Int { hiddenSize / heads }
    public var kvDimension: Int { kvHeads * headDimension }

    public init(gguf: GGUFFile) throws {
        let file = (gguf.path as NSString).lastPathComponent
        let architecture = try gguf.required("general.architecture").string ?? ""
        guard architecture == "llama" else {
            throw ModelLoadError(file, "is a \(architecture) model; this engine runs the llama architecture")
        }
        func int(_ key: String) throws -> Int { try gguf.requiredInt("llama." + key) }
        layers = try int("block_count")
        hiddenSize = try int("embedding_length")
        heads = try int("attention.head_count")
        kvHeads = gguf.metadata["llama.attention.head_count_kv"]?.int ?? heads
        intermediateSize = try int("feed_forward_length")
        contextLength = try int("context_length")
        ropeBase = Float(gguf.metadata["llama.rope.freq_base"]?.double ?? 10_000)
        rmsEpsilon = Float(gguf.metadata["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5)
        let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.array?.count
        vocabularySize = gguf.metadata["llama.vocab_size"]?.int ?? tokens ?? 0
        ropeDimensions = gguf.metadata["llama.rope.dimension_count"]?.int ?? hiddenSize / max(1, heads)
        try check(file)
    }

    /// From a Hugging Face `config.json` of a `LlamaForCausalLM`. Both spellings of the rotary base are
    /// read (`rope_theta`, and transformers 5's `rope_parameters`); rotary scaling, biases and an
    /// activation other than SiLU are refused, since the engine would compute another model.
    public init(huggingFace object: [String: Any], file: String) throws {
        let modelType = object["model_type"] as? String ?? "unknown"
        guard modelType == "llama" else {
            throw ModelLoadError(file, "describes a \(modelType) model; this engine runs the llama architecture")
        }
        func int(_ key: String) throws -> Int {
            guard let value = object[key] as? Int else { throw ModelLoadError(file, "has no whole number \(key)") }
            return value
        }
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        layers = try int("num_hidden_layers")
        hiddenSize = try int("hidden_size")
        heads = try int("num_attention_heads")
        kvHeads = object["num_key_value_heads"] as? Int ?? heads
        intermediateSize = try int("intermediate_size")
        vocabularySize = try int("vocab_size")
        contextLength = try int("max_position_embeddings")
        rmsEpsilon = Float(number("rms_norm_eps") ?? 1e-6)
        let rope = object["rope_parameters"] as? [String: Any] ?? object["rope_scaling"] as? [String: Any] ?? [:]
        let ropeType = rope["rope_type"] as? String ?? rope["type"] as? String ?? "default"
        guard ropeType == "default" else {
            throw ModelLoadError(file, "uses \(ropeType) rotary scaling; this engine runs the default rotary positions only")
        }
        ropeBase = Float((rope["rope_theta"] as? NSNumber)?.doubleValue ?? number("rope_theta") ?? 10_000)
        ropeDimensions = hiddenSize / max(1, heads)
        if let headDimension = object["head_dim"] as? Int, headDimension != ropeDimensions {
            throw ModelLoadError(file, "has head_dim \(headDimension) where hidden_size / num_attention_heads is \(ropeDimensions); this engine needs them equal")
        }
        if object["attention_bias"] as? Bool == true || object["mlp_bias"] as? Bool == true {
            throw ModelLoadError(file, "has biases in its attention or feed-forward layers; this engine runs Llama without them")
        }
        if let activation = object["hidden_act"] as? String, activation != "silu" {
            throw ModelLoadError(file, "uses the \(activation) activation; Llama's is silu")
        }
        try check(file)
    }

    private func check(_ file: String) throws {
        guard layers > 0, heads > 0, kvHeads > 0, heads % kvHeads == 0, hiddenSize % heads == 0, vocabularySize > 0, contextLength > 0,
            intermediateSize > 0, ropeDimensions <= headDimension, ropeDimensions % 2 == 0
        else {
            throw ModelLoadError(
                file, "has an inconsistent llama shape (\(layers) layers, \(hiddenSize) wide, \(heads) heads, \(kvHeads) key/value heads, rope \(ropeDimensions))")
        }
    }
}
