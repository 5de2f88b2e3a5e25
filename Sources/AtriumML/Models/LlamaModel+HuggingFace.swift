import Foundation

extension LlamaModel {
    /// A Hugging Face folder of a `LlamaForCausalLM`: `config.json` and its safetensors, whose F32, F16 or
    /// BF16 matrices are used in place. Query and key rows stay in Hugging Face's order (rotary pairs half
    /// a head apart), so the logits equal those of a GGUF converted from the same folder.
    public convenience init(folder: URL, exact: Bool = false) throws {
        let config = try LlamaConfig(huggingFace: try JSONFile.object(at: folder.appendingPathComponent("config.json"))!, file: "config.json")
        let tensors = try SafeTensorsFolder(folder: folder)
        let types = ["F32": Int32(0), "F16": 1, "BF16": 30]
        let weights = try Self.weights(
            config, names: .huggingFace, has: tensors.contains,
            matrix: { name, rows, columns in
                let (entry, data) = try tensors.bytes(name, shape: [rows, columns])
                guard let type = types[entry.dtype] else {
                    throw ModelLoadError(tensors.fileName(of: name), "tensor \(name) is \(entry.dtype); the engine reads F32, F16 and BF16 weights")
                }
                return Matrix(type: type, data: data, rows: rows, columns: columns)
            },
            norm: { name, size in try tensors.tensor(name, shape: [size]) })
        self.init(config: config, weights: weights, adjacentRotaryPairs: false, storage: tensors.files, exact: exact)
    }
}
