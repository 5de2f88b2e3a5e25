import Foundation

extension LlamaModel {
    /// A Hugging Face folder of a `LlamaForCausalLM`: `config.json` and its safetensors, whose F32, F16 or
    /// BF16 matrices are used in place. Query and key rows stay in Hugging Face's order (rotary pairs half
    /// a head apart), so the logits equal those of a GGUF converted from the same folder.
    public convenience init(folder: URL, exact: Bool = false) throws {
        let config = try LlamaConfig(huggingFace: try JSONFile.object(at: folder.appendingPathComponent("config.json"))!, file: "config.json")
        let tensors = try SafeTensorsFolder(folder: folder)
        let d = config.hiddenSize
        func matrix(_ name: String, rows: Int, columns: Int) throws -> Matrix {
            let (entry, data) = try tensors.bytes(name, shape: [rows, columns])
            let types = ["F32": Int32(0), "F16": 1, "BF16": 30]
            guard let type = types[entry.dtype] else {
                throw ModelLoadError(tensors.fileName(of: name), "tensor \(name) is \(entry.dtype); the engine reads F32, F16 and BF16 weights")
            }
            return Matrix(type: type, data: data, rows: rows, columns: columns)
        }
        let embedding = try matrix("model.embed_tokens.weight", rows: config.vocabularySize, columns: d)
        let weights = Weights(
            embedding: embedding,
            output: tensors.contains("lm_head.weight") ? try matrix("lm_head.weight", rows: config.vocabularySize, columns: d) : embedding,
            outputNorm: try tensors.tensor("model.norm.weight", shape: [d]),
            layers: try (0..<config.layers).map { index in
                let base = "model.layers.\(index)."
                return Layer(
                    attentionNorm: try tensors.tensor(base + "input_layernorm.weight", shape: [d]),
                    query: try matrix(base + "self_attn.q_proj.weight", rows: d, columns: d),
                    key: try matrix(base + "self_attn.k_proj.weight", rows: config.kvDimension, columns: d),
                    value: try matrix(base + "self_attn.v_proj.weight", rows: config.kvDimension, columns: d),
                    output: try matrix(base + "self_attn.o_proj.weight", rows: d, columns: d),
                    feedForwardNorm: try tensors.tensor(base + "post_attention_layernorm.weight", shape: [d]),
                    gate: try matrix(base + "mlp.gate_proj.weight", rows: config.intermediateSize, columns: d),
                    up: try matrix(base + "mlp.up_proj.weight", rows: config.intermediateSize, columns: d),
                    down: try matrix(base + "mlp.down_proj.weight", rows: d, columns: config.intermediateSize))
            })
        self.init(config: config, weights: weights, adjacentRotaryPairs: false, storage: tensors.files, exact: exact)
    }
}
