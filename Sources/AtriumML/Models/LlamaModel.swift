import CKernels
import Foundation

/// The Llama architecture's shape, as GGUF metadata gives it.
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
        guard layers > 0, heads > 0, kvHeads > 0, heads % kvHeads == 0, hiddenSize % heads == 0, vocabularySize > 0, contextLength > 0,
            ropeDimensions <= headDimension, ropeDimensions % 2 == 0
        else {
            throw ModelLoadError(
                file, "has an inconsistent llama shape (\(layers) layers, \(hiddenSize) wide, \(heads) heads, \(kvHeads) key/value heads, rope \(ropeDimensions))")
        }
    }
}

/// A Llama-family decoder on CPU, its weights used in place from the GGUF file (quantized blocks and
/// all). The KV cache is fp32. Activations are fp32 on the exact path; on the default one, a token
/// being decoded meets the quantized weights as 16-bit integers with a scale per block of 32.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    /// fp32 activations everywhere (slower; within float rounding of a fp32 reference).
    public let exact: Bool
    let file: GGUFFile

    /// A [rows][columns] matrix of a GGML type, in the mapped file.
    struct Matrix: @unchecked Sendable {
        var type: Int32
        var data: UnsafeRawPointer
        var rows: Int
        var columns: Int
    }

    struct Layer {
        var attentionNorm: Tensor
        var query: Matrix
        var key: Matrix
        var value: Matrix
        var output: Matrix
        var feedForwardNorm: Tensor
        var gate: Matrix
        var up: Matrix
        var down: Matrix
    }

    let embedding: Matrix
    let output: Matrix
    let outputNorm: Tensor
    let layers: [Layer]

    public init(gguf: GGUFFile, exact: Bool = false) throws {
        file = gguf
        self.exact = exact
        let config = try LlamaConfig(gguf: gguf)
        self.config = config
        let d = config.hiddenSize
        func matrix(_ name: String, rows: Int, columns: Int) throws -> Matrix {
            let info = try gguf.info(name, shape: [columns, rows])
            return Matrix(type: Int32(info.type.rawValue), data: gguf.data(info), rows: rows, columns: columns)
        }
        embedding = try matrix("token_embd.weight", rows: config.vocabularySize, columns: d)
        // Tied embeddings where the file has no separate output matrix.
        output = gguf.tensors["output.weight"] == nil ? embedding : try matrix("output.weight", rows: config.vocabularySize, columns: d)
        outputNorm = try gguf.floats("output_norm.weight", shape: [d])
        layers = try (0..<config.layers).map { index in
            let base = "blk.\(index)."
            return Layer(
                attentionNorm: try gguf.floats(base + "attn_norm.weight", shape: [d]),
                query: try matrix(base + "attn_q.weight", rows: d, columns: d),
                key: try matrix(base + "attn_k.weight", rows: config.kvDimension, columns: d),
                value: try matrix(base + "attn_v.weight", rows: config.kvDimension, columns: d),
                output: try matrix(base + "attn_output.weight", rows: d, columns: d),
                feedForwardNorm: try gguf.floats(base + "ffn_norm.weight", shape: [d]),
                gate: try matrix(base + "ffn_gate.weight", rows: config.intermediateSize, columns: d),
                up: try matrix(base + "ffn_up.weight", rows: config.intermediateSize, columns: d),
                down: try matrix(base + "ffn_down.weight", rows: d, columns: config.intermediateSize))
        }
    }

    /// One sequence's keys and values, every layer, up to `capacity` positions.
    public final class Cache: @unchecked Sendable {
        public let capacity: Int
        public internal(set) var count = 0
        let keys: [Tensor]
        let values: [Tensor]

        public init(config: LlamaConfig, capacity: Int) {
            self.capacity = capacity
            keys = (0..<config.layers).map { _ in Tensor(zeros: [capacity, config.kvDimension]) }
            values = (0..<config.layers).map { _ in Tensor(zeros: [capacity, config.kvDimension]) }
        }
    }

    /// Runs `tokens` after what `cache` holds, appends their keys and values to it, and returns the
    /// logits of the last token ([vocabulary]), or of every token ([tokens, vocabulary]) when
    /// `allLogits` is set. Every id must be below the vocabulary size and the cache must have room.
    public func forward(_ tokens: [Int], cache: Cache, allLogits: Bool = false, parallel: Parallel = Parallel(threads: 1)) -> Tensor {
        precondition(!tokens.isEmpty && cache.count + tokens.count <= cache.capacity)
        let c = config
        let n = tokens.count
        let d = c.hiddenSize
        let hidden = Tensor(zeros: [n, d])
        for (row, token) in tokens.enumerated() {
            let rowBytes = embedding.data + token * Self.rowBytes(embedding)
            atr_dequantize_row(embedding.type, rowBytes, hidden.pointer + row * d, d)
        }
        let normed = Tensor(zeros: [n, d])
        let query = Tensor(zeros: [n, d])
        let attended = Tensor(zeros: [n, d])
        let projected = Tensor(zeros: [n, d])
        let gate = Tensor(zeros: [n, c.intermediateSize])
        let up = Tensor(zeros: [n, c.intermediateSize])
        let start = cache.count
        let scale = 1 / Float(c.headDimension).squareRoot()
        for (index, layer) in layers.enumerated() {
            let keys = cache.keys[index], values = cache.values[index]
            for row in 0..<n {
                atr_rms_norm(hidden.pointer + row * d, layer.attentionNorm.pointer, normed.pointer + row * d, d, c.rmsEpsilon)
            }
            linear(
                [
                    (layer.query, query.pointer, d), (layer.key, keys.pointer + start * c.kvDimension, c.kvDimension),
                    (layer.value, values.pointer + start * c.kvDimension, c.kvDimension),
                ], normed, rows: n, parallel: parallel)
            for row in 0..<n {
                atr_rope(query.pointer + row * d, c.heads, c.headDimension, c.ropeDimensions, start + row, c.ropeBase, 1)
                atr_rope(keys.pointer + (start + row) * c.kvDimension, c.kvHeads, c.headDimension, c.ropeDimensions, start + row, c.ropeBase, 1)
            }
            // Each (token, key/value head) pair is a task: its group of query heads shares that head's cache.
            let group = c.heads / c.kvHeads
            parallel.tasks(n * c.kvHeads) { _, task in
                let (row, kvHead) = task.quotientAndRemainder(dividingBy: c.kvHeads)
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: start + row + 1)
                defer { scores.deallocate() }
                let headOffset = kvHead * group * c.headDimension
                atr_attention_decode(
                    query.pointer + row * d + headOffset, keys.pointer + kvHead * c.headDimension, values.pointer + kvHead * c.headDimension,
                    c.kvDimension, start + row + 1, group, 1, c.headDimension, scale, scores, attended.pointer + row * d + headOffset)
            }
            linear(layer.output, attended, rows: n, into: projected.pointer, ldo: d, parallel: parallel)
            for i in 0..<(n * d) { hidden.pointer[i] += projected.pointer[i] }
            for row in 0..<n {
                atr_rms_norm(hidden.pointer + row * d, layer.feedForwardNorm.pointer, normed.pointer + row * d, d, c.rmsEpsilon)
            }
            linear([(layer.gate, gate.pointer, c.intermediateSize), (layer.up, up.pointer, c.intermediateSize)], normed, rows: n, parallel: parallel)
            atr_silu_mul(gate.pointer, up.pointer, n * c.intermediateSize)
            linear(layer.down, gate, rows: n, into: projected.pointer, ldo: d, parallel: parallel)
            for i in 0..<(n * d) { hidden.pointer[i] += projected.pointer[i] }
        }
        cache.count += n
        let first = allLogits ? 0 : n - 1
        let rows = n - first
        for row in first..<n {
            atr_rms_norm(hidden.pointer + row * d, outputNorm.pointer, normed.pointer + (row - first) * d, d, c.rmsEpsilon)
        }
        let logits = Tensor(zeros: allLogits ? [rows, c.vocabularySize] : [c.vocabularySize])
        linear(output, normed, rows: rows, into: logits.pointer, ldo: c.vocabularySize, parallel: parallel)
        return logits
    }

    /// out[i][r] = x[i] · W[r] for every row of W, the cores splitting the rows.
    private func linear(_ matrix: Matrix, _ x: Tensor, rows: Int, into out: UnsafeMutablePointer<Float>, ldo: Int, parallel: Parallel) {
        linear([(matrix, out, ldo)], x, rows: rows, parallel: parallel)
    }

    /// Several products of the same input (query, key and value; gate and up) in one parallel step, so
    /// that a decoded token pays for one hand-over to the cores rather than one per matrix.
    private func linear(
        _ products: [(matrix: Matrix, out: UnsafeMutablePointer<Float>, ldo: Int)], _ x: Tensor, rows: Int, parallel: Parallel
    ) {
        // About four tasks per core in all, in whole panels of 16 rows.
        let total = products.reduce(0) { $0 + $1.matrix.rows }
        let chunk = max(16, (total / (parallel.threads * 4) + 15) / 16 * 16)
        let tasks = products.enumerated().flatMap { index, product in
            stride(from: 0, to: product.matrix.rows, by: chunk).map { (product: index, begin: $0, end: min(product.matrix.rows, $0 + chunk)) }
        }
        let targets = products.map { (matrix: $0.matrix, out: UnsafeMutablePointerBox($0.out), ldo: $0.ldo) }
        let exact: Int32 = self.exact ? 1 : 0
        parallel.tasks(tasks.count) { _, index in
            let task = tasks[index]
            let target = targets[task.product]
            atr_qlinear(
                target.matrix.type, target.matrix.data, target.matrix.columns, task.begin, task.end, x.pointer, target.matrix.columns, rows,
                target.out.pointer, target.ldo, exact)
        }
    }

    static func rowBytes(_ matrix: Matrix) -> Int {
        GGMLType(rawValue: UInt32(matrix.type))!.byteCount(shape: [matrix.columns])!
    }
}

/// A raw pointer carried into parallel tasks that write disjoint parts of it.
struct UnsafeMutablePointerBox: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
