import CKernels
import Foundation

/// A Llama-family decoder on CPU, its weights used in place from the mapped file (quantized blocks,
/// F16 and BF16 and all). Activations and the KV cache are fp32 on the exact path; on the default one, a
/// token being decoded meets quantized weights as 16-bit integers with a scale per block of 32, and the
/// cache holds 16-bit integers with a scale per head and position (see `Cache`).
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    /// fp32 activations everywhere (slower; within float rounding of a fp32 reference).
    public let exact: Bool
    /// Where each head's rotary pairs lie: adjacent (GGUF, whose converters permute the query and key
    /// rows for it) or half a head apart (Hugging Face's layout).
    let adjacentRotaryPairs: Bool
    /// The mapped files the weights point into.
    let storage: [AnyObject]

    /// A [rows][columns] matrix of a GGML type, in the mapped file, or repacked into weight tiles
    /// (`type` then carries `ATR_TILED`; see `Tiles`).
    struct Matrix: @unchecked Sendable {
        var type: Int32
        var data: UnsafeRawPointer
        var rows: Int
        var columns: Int

        /// The GGML type of its blocks, however they are laid out.
        var blockType: Int32 { type & ~Int32(ATR_TILED) }
        var isTiled: Bool { type & Int32(ATR_TILED) != 0 }
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

        /// Its matrices in the order a pass multiplies them.
        var matrices: [Matrix] { [query, key, value, output, gate, up, down] }
    }

    /// The weights of every layer, whichever file layout they come from.
    struct Weights {
        var embedding: Matrix
        var output: Matrix
        var outputNorm: Tensor
        var layers: [Layer]
    }

    let embedding: Matrix
    let output: Matrix
    let outputNorm: Tensor
    let layers: [Layer]
    /// Every layer's matrices are of the types the decode kernels multiply as they lie, so a pass can
    /// prepare their inputs as the cores produce them.
    let layersQuantized: Bool
    /// Every layer's matrices are weight tiles (see `Tiles`), so their inputs need no other layout.
    let layersTiled: Bool

    init(config: LlamaConfig, weights: Weights, adjacentRotaryPairs: Bool, storage: [AnyObject], exact: Bool) {
        self.config = config
        self.exact = exact
        self.adjacentRotaryPairs = adjacentRotaryPairs
        self.storage = storage
        embedding = weights.embedding
        output = weights.output
        outputNorm = weights.outputNorm
        layers = weights.layers
        let matrices = weights.layers.flatMap(\.matrices)
        layersQuantized = matrices.allSatisfy { Self.quantizedTypes.contains($0.blockType) }
        layersTiled = matrices.allSatisfy(\.isTiled)
    }

    /// The names a file layout gives the weights; a layer's are its prefix (`prefix(index)`) and a suffix.
    struct WeightNames {
        var embedding, output, outputNorm: String
        var prefix: @Sendable (Int) -> String
        var attentionNorm, query, key, value, attentionOutput, feedForwardNorm, gate, up, down: String

        static let gguf = WeightNames(
            embedding: "token_embd.weight", output: "output.weight", outputNorm: "output_norm.weight", prefix: { "blk.\($0)." },
            attentionNorm: "attn_norm.weight", query: "attn_q.weight", key: "attn_k.weight", value: "attn_v.weight",
            attentionOutput: "attn_output.weight", feedForwardNorm: "ffn_norm.weight", gate: "ffn_gate.weight", up: "ffn_up.weight",
            down: "ffn_down.weight")
        static let huggingFace = WeightNames(
            embedding: "model.embed_tokens.weight", output: "lm_head.weight", outputNorm: "model.norm.weight", prefix: { "model.layers.\($0)." },
            attentionNorm: "input_layernorm.weight", query: "self_attn.q_proj.weight", key: "self_attn.k_proj.weight",
            value: "self_attn.v_proj.weight", attentionOutput: "self_attn.o_proj.weight", feedForwardNorm: "post_attention_layernorm.weight",
            gate: "mlp.gate_proj.weight", up: "mlp.up_proj.weight", down: "mlp.down_proj.weight")
    }

    /// Every weight, by a layout's names through its loaders (`matrix(name, rows, columns)`, `norm(name,
    /// size)`); where the file has no output matrix, the embedding serves (tied embeddings).
    static func weights(
        _ c: LlamaConfig, names: WeightNames, has: (String) -> Bool, matrix: (String, Int, Int) throws -> Matrix, norm: (String, Int) throws -> Tensor
    ) throws -> Weights {
        let d = c.hiddenSize
        let embedding = try matrix(names.embedding, c.vocabularySize, d)
        return Weights(
            embedding: embedding,
            output: has(names.output) ? try matrix(names.output, c.vocabularySize, d) : embedding,
            outputNorm: try norm(names.outputNorm, d),
            layers: try (0..<c.layers).map { index in
                let base = names.prefix(index)
                return Layer(
                    attentionNorm: try norm(base + names.attentionNorm, d),
                    query: try matrix(base + names.query, d, d),
                    key: try matrix(base + names.key, c.kvDimension, d),
                    value: try matrix(base + names.value, c.kvDimension, d),
                    output: try matrix(base + names.attentionOutput, d, d),
                    feedForwardNorm: try norm(base + names.feedForwardNorm, d),
                    gate: try matrix(base + names.gate, c.intermediateSize, d),
                    up: try matrix(base + names.up, c.intermediateSize, d),
                    down: try matrix(base + names.down, d, c.intermediateSize))
            })
    }

    public convenience init(gguf: GGUFFile, exact: Bool = false) throws {
        let config = try LlamaConfig(gguf: gguf)
        let weights = try Self.weights(
            config, names: .gguf, has: { gguf.tensors[$0] != nil },
            matrix: { name, rows, columns in
                let info = try gguf.info(name, shape: [columns, rows])
                return Matrix(type: Int32(info.type.rawValue), data: gguf.data(info), rows: rows, columns: columns)
            },
            norm: { name, size in try gguf.floats(name, shape: [size]) })
        // On the default path the layers' and the output's matrices are tiled for the decode kernel and
        // their mapped pages handed back; the embedding rows are still read from the file.
        let tiles = exact ? nil : Tiles(weights)
        self.init(config: config, weights: tiles?.weights ?? weights, adjacentRotaryPairs: true, storage: [gguf] + (tiles.map { [$0] } ?? []), exact: exact)
    }

    /// A cache for one sequence of this model (see `cachePrecision`).
    public func makeCache(capacity: Int) -> Cache {
        Cache(config: config, capacity: capacity, precision: cachePrecision)
    }

    /// The cache keeps the precision of the activations: 16 bits where the decode kernels take them at
    /// 16 bits (the default path on quantized layers), fp32 where they stay fp32 (the exact path, and
    /// layers of F32, F16 or BF16 weights).
    public var cachePrecision: Cache.Precision { !exact && layersQuantized ? .int16 : .float32 }

    /// Bytes this model's caches use per position, across every layer.
    public var cacheBytesPerPosition: Int { Cache.bytesPerPosition(config, precision: cachePrecision) }

    /// Runs `tokens` after what `cache` holds, appends their keys and values to it, and returns the
    /// logits of the last token ([vocabulary]), or of every token ([tokens, vocabulary]) when
    /// `allLogits` is set. Every id must be below the vocabulary size. A single token after a filled
    /// cache is taken as generated (the decode kernels), anything else as prompt.
    public func forward(_ tokens: [Int], cache: Cache, allLogits: Bool = false, parallel: Parallel = Parallel(threads: 1)) -> Tensor {
        let generatedFrom = tokens.count == 1 && cache.count > 0 ? cache.count : cache.count + tokens.count
        let logits = forward([Segment(tokens: tokens, cache: cache, generatedFrom: generatedFrom)], allLogits: allLogits, parallel: parallel)
        return allLogits ? logits : Tensor(shape: [config.vocabularySize], storage: logits.storage)
    }

    /// Tokens of one sequence for a pass, following what its cache holds.
    public struct Segment {
        public var tokens: [Int]
        public var cache: Cache
        /// Positions from here on hold generated tokens and take the decode kernels; those before it are
        /// prompt. Kernels go by position, never by what else is in the pass, so a sequence computes the
        /// same numbers alone or batched, and again when it is recomputed after being set back.
        public var generatedFrom: Int
        /// Logits for every token of the segment, not only its last.
        public var allLogits: Bool

        public init(tokens: [Int], cache: Cache, generatedFrom: Int, allLogits: Bool = false) {
            self.tokens = tokens
            self.cache = cache
            self.generatedFrom = generatedFrom
            self.allLogits = allLogits
        }
    }

    /// Runs several sequences' next tokens in one pass (the rows of every matrix product shared, so the
    /// weights are read once for all). Returns the logits of each segment's last token, or of every
    /// token of the segments that ask (of all segments when `allLogits` is set): [rows, vocabulary], in
    /// the order of `segments`. Caches grow as needed.
    public func forward(_ segments: [Segment], allLogits: Bool = false, parallel: Parallel = Parallel(threads: 1)) -> Tensor {
        precondition(!segments.isEmpty && segments.allSatisfy { !$0.tokens.isEmpty && $0.cache.precision == cachePrecision })
        let c = config
        let d = c.hiddenSize
        let kv = c.kvDimension
        // Row r of the pass is `tokens[r]` at `positions[r]` of segment `owners[r]`; generated tokens'
        // rows come first, so that each kind of kernel meets one block of rows.
        var rows: [(owner: Int, position: Int, token: Int, generated: Bool)] = []
        for (index, segment) in segments.enumerated() {
            segment.cache.reserve(segment.cache.count + segment.tokens.count)
            for (offset, token) in segment.tokens.enumerated() {
                let position = segment.cache.count + offset
                rows.append((index, position, token, position >= segment.generatedFrom))
            }
        }
        rows = rows.filter(\.generated) + rows.filter { !$0.generated }
        let owners = rows.map(\.owner), positions = rows.map(\.position)
        let decodeRows = rows.count { $0.generated }
        let caches = segments.map(\.cache)
        let n = rows.count
        let hidden = Tensor(zeros: [n, d])
        for (row, entry) in rows.enumerated() {
            let rowBytes = embedding.data + entry.token * Self.rowBytes(embedding)
            atr_dequantize_row(embedding.type, rowBytes, hidden.pointer + row * d, d)
        }
        let normed = Tensor(zeros: [n, d])
        let query = Tensor(zeros: [n, d])
        let newKeys = Tensor(zeros: [n, kv])
        let newValues = Tensor(zeros: [n, kv])
        let attended = Tensor(zeros: [n, d])
        let projected = Tensor(zeros: [n, d])
        let gate = Tensor(zeros: [n, c.intermediateSize])
        let up = Tensor(zeros: [n, c.intermediateSize])
        let scale = 1 / Float(c.headDimension).squareRoot()
        let longest = positions.max()! + 1
        let pairs: Int32 = adjacentRotaryPairs ? 1 : 0
        // Each row's rotary angles, once for every layer.
        let angles = Tensor(zeros: [n, c.ropeDimensions])
        for row in 0..<n { atr_rope_angles(c.ropeDimensions, positions[row], c.ropeBase, angles.pointer + row * c.ropeDimensions) }
        // On the fast decode path the generated rows' inputs to the layers' products are rounded to 16 bits
        // by the cores, as they normalize and gate the rows and after the attention, once for every task
        // of the product.
        let preparesInputs = !exact && layersQuantized && decodeRows > 0
        let narrowInput = DecodeInput(rows: decodeRows, k: d, served: preparesInputs, arranged: !layersTiled)
        let wideInput = DecodeInput(rows: decodeRows, k: c.intermediateSize, served: preparesInputs, arranged: !layersTiled)
        defer {
            narrowInput.free()
            wideInput.free()
        }
        // A pass whose every sequence feeds one token rotates and stores each row's keys in its attention
        // tasks; with several tokens of a sequence in the pass, a row attends to the others' keys, so they
        // are all stored first.
        let oneRowPerSequence = segments.allSatisfy { $0.tokens.count == 1 }
        let group = c.heads / c.kvHeads
        // Each core's attention scores, one allocation for the pass (there are thousands of tasks).
        let scoreSpace = Tensor(uninitialized: [parallel.threads, group * longest])
        for (index, layer) in layers.enumerated() {
            // The previous layer's feed-forward output joins the residual stream as the rows are normalized.
            normalize(hidden, adding: index == 0 ? nil : projected, layer.attentionNorm, into: normed, rows: n, preparing: narrowInput, parallel: parallel)
            linear([(layer.query, query.pointer, d), (layer.key, newKeys.pointer, kv), (layer.value, newValues.pointer, kv)], normed, rows: n, decodeRows: decodeRows, prepared: narrowInput, parallel: parallel)
            @Sendable func rotateAndStore(row: Int, kvHeads: Range<Int>) {
                let position = positions[row], rowAngles = angles.pointer + row * c.ropeDimensions
                let heads = kvHeads.count, offset = kvHeads.lowerBound * c.headDimension
                atr_rope_rotate(query.pointer + row * d + offset * group, heads * group, c.headDimension, c.ropeDimensions, rowAngles, pairs)
                atr_rope_rotate(newKeys.pointer + row * kv + offset, heads, c.headDimension, c.ropeDimensions, rowAngles, pairs)
                caches[owners[row]].store(
                    layer: index, position: position, kvHeads: kvHeads, keys: newKeys.pointer + row * kv + offset, values: newValues.pointer + row * kv + offset)
            }
            if !oneRowPerSequence {
                for row in 0..<n { rotateAndStore(row: row, kvHeads: 0..<c.kvHeads) }
            }
            // Each (token, key/value head) pair is a task: its group of query heads shares that head's cache.
            parallel.tasks(n * c.kvHeads) { part, task in
                let (row, kvHead) = task.quotientAndRemainder(dividingBy: c.kvHeads)
                if oneRowPerSequence { rotateAndStore(row: row, kvHeads: kvHead..<(kvHead + 1)) }
                let scores = scoreSpace.pointer + part * group * longest
                let headOffset = kvHead * group * c.headDimension
                caches[owners[row]].attend(
                    layer: index, kvHead: kvHead, query: query.pointer + row * d + headOffset, length: positions[row] + 1, group: group, scale: scale,
                    scores: scores, into: attended.pointer + row * d + headOffset)
            }
            if narrowInput.prepared != nil {
                parallel.ranges(decodeRows) { range in narrowInput.fill(attended, rows: range) }
            }
            linear(layer.output, attended, rows: n, decodeRows: decodeRows, prepared: narrowInput, into: projected.pointer, ldo: d, parallel: parallel)
            normalize(hidden, adding: projected, layer.feedForwardNorm, into: normed, rows: n, preparing: narrowInput, parallel: parallel)
            linear([(layer.gate, gate.pointer, c.intermediateSize), (layer.up, up.pointer, c.intermediateSize)], normed, rows: n, decodeRows: decodeRows, prepared: narrowInput, parallel: parallel)
            let width = c.intermediateSize
            parallel.ranges(n) { range in
                atr_silu_mul(gate.pointer + range.lowerBound * width, up.pointer + range.lowerBound * width, range.count * width)
                wideInput.fill(gate, rows: range.clamped(to: 0..<decodeRows))
            }
            linear(layer.down, gate, rows: n, decodeRows: decodeRows, prepared: wideInput, into: projected.pointer, ldo: d, parallel: parallel)
        }
        // The last layer's feed-forward output, still to be added to the residual stream.
        for i in 0..<(n * d) { hidden.pointer[i] += projected.pointer[i] }
        for segment in segments { segment.cache.count += segment.tokens.count }
        // The rows whose logits are wanted, in the order they are returned: every row of each segment, or
        // its last. They pass the output matrix generated ones first, as above.
        let rowOf = Dictionary(uniqueKeysWithValues: rows.enumerated().map { row, entry in (Pair(entry.owner, entry.position), row) })
        let wanted = segments.enumerated().flatMap { index, segment in
            let end = segment.cache.count
            return (allLogits || segment.allLogits ? (end - segment.tokens.count)..<end : (end - 1)..<end).map { rowOf[Pair(index, $0)]! }
        }
        let order = wanted.indices.filter { wanted[$0] < decodeRows } + wanted.indices.filter { wanted[$0] >= decodeRows }
        for (slot, index) in order.enumerated() {
            atr_rms_norm(hidden.pointer + wanted[index] * d, outputNorm.pointer, normed.pointer + slot * d, d, c.rmsEpsilon)
        }
        let vocabulary = c.vocabularySize
        let computed = Tensor(uninitialized: [wanted.count, vocabulary])  // the output matrix writes every logit
        let decodeSlots = wanted.count { $0 < decodeRows }
        linear(output, normed, rows: wanted.count, decodeRows: decodeSlots, into: computed.pointer, ldo: vocabulary, parallel: parallel)
        if order == Array(wanted.indices) { return computed }
        let logits = Tensor(uninitialized: [wanted.count, vocabulary])
        for (slot, index) in order.enumerated() {
            (logits.pointer + index * vocabulary).update(from: computed.pointer + slot * vocabulary, count: vocabulary)
        }
        return logits
    }

    /// RMSNorm of the first `rows` rows of x, after adding `adding`'s rows to them (a residual), the cores
    /// taking a share of the rows each; the generated ones among them are prepared as `preparing`'s input.
    private func normalize(_ x: Tensor, adding: Tensor? = nil, _ weight: Tensor, into out: Tensor, rows: Int, preparing: DecodeInput, parallel: Parallel) {
        let d = config.hiddenSize, epsilon = config.rmsEpsilon
        parallel.ranges(rows) { range in
            for row in range {
                let values = x.pointer + row * d
                if let adding {
                    let residual = adding.pointer + row * d
                    for i in 0..<d { values[i] += residual[i] }
                }
                atr_rms_norm(values, weight.pointer, out.pointer + row * d, d, epsilon)
            }
            preparing.fill(out, rows: range.clamped(to: 0..<preparing.rows))
        }
    }

    private struct Pair: Hashable {
        var owner: Int, position: Int
        init(_ owner: Int, _ position: Int) { (self.owner, self.position) = (owner, position) }
    }

    /// out[i][r] = x[i] · W[r] for every row of W, the cores splitting the rows.
    private func linear(
        _ matrix: Matrix, _ x: Tensor, rows: Int, decodeRows: Int, prepared: DecodeInput? = nil, into out: UnsafeMutablePointer<Float>, ldo: Int, parallel: Parallel
    ) {
        linear([(matrix, out, ldo)], x, rows: rows, decodeRows: decodeRows, prepared: prepared, parallel: parallel)
    }

    /// Several products of the same input (query, key and value; gate and up) in one parallel step, so
    /// that a decoded token pays for one hand-over to the cores rather than one per matrix. The first
    /// `decodeRows` rows of x are generated tokens, the rest prompt positions (see `Segment`); `prepared`
    /// holds the generated rows already prepared for the decode kernels, else they are prepared here.
    private func linear(
        _ products: [(matrix: Matrix, out: UnsafeMutablePointer<Float>, ldo: Int)], _ x: Tensor, rows: Int, decodeRows: Int, prepared: DecodeInput? = nil,
        parallel: Parallel
    ) {
        let tasks = Self.tasks(products.map(\.matrix.rows), threads: parallel.threads)
        let targets = products.map { (matrix: $0.matrix, out: UnsafeMutablePointerBox($0.out), ldo: $0.ldo) }
        let exact = self.exact ? Int32(ATR_EXACT) : 0
        // On the fast decode path the generated rows are rounded to 16 bits once, for every task.
        let given = prepared?.prepared == nil ? nil : prepared
        let decodeInput = given ?? DecodeInput(
            x, rows: decodeRows, k: products[0].matrix.columns, served: !self.exact && products.allSatisfy { Self.quantizedTypes.contains($0.matrix.blockType) },
            arranged: !products.allSatisfy(\.matrix.isTiled))
        defer { if given == nil { decodeInput.free() } }
        parallel.tasks(tasks.count) { _, index in
            let task = tasks[index]
            let target = targets[task.product]
            let matrix = target.matrix, k = matrix.columns
            if let prepared = decodeInput.prepared {
                atr_qlinear_decode(matrix.type, matrix.data, task.begin, task.end, prepared, target.out.pointer, target.ldo)
            } else if decodeRows > 0 {
                atr_qlinear(matrix.type, matrix.data, matrix.columns, task.begin, task.end, x.pointer, k, decodeRows, target.out.pointer, target.ldo, exact)
            }
            if rows > decodeRows {
                atr_qlinear(
                    matrix.type, matrix.data, matrix.columns, task.begin, task.end, x.pointer + decodeRows * k, k, rows - decodeRows,
                    target.out.pointer + decodeRows * target.ldo, target.ldo, exact | Int32(ATR_PROMPT))
            }
        }
    }

    /// The products' weight rows as tasks (product, rows), in whole panels of 16 rows: large ones first and
    /// smaller towards the end (each what is left over four tasks a core), so the cores take the bulk in
    /// few hand-overs and finish together.
    static func tasks(_ rows: [Int], threads: Int) -> [(product: Int, begin: Int, end: Int)] {
        var tasks: [(product: Int, begin: Int, end: Int)] = []
        var remaining = rows.reduce(0, +)
        for (product, count) in rows.enumerated() {
            var begin = 0
            while begin < count {
                let size = min(count - begin, max(16, (remaining / (threads * 4) + 15) / 16 * 16))
                tasks.append((product, begin, begin + size))
                begin += size
                remaining -= size
            }
        }
        return tasks
    }

    /// Q4_0, Q4_1 and Q8_0: the types the decode kernels multiply as they lie.
    static let quantizedTypes: Set<Int32> = [2, 3, 8]

    static func rowBytes(_ matrix: Matrix) -> Int {
        GGMLType(rawValue: UInt32(matrix.type))!.byteCount(shape: [matrix.columns])!
    }
}

/// Generated rows of x prepared for the fast decode kernels (`atr_decode_input`), shared read-only by
/// the tasks of one product; nil where that path does not serve them.
struct DecodeInput: @unchecked Sendable {
    let prepared: UnsafeMutablePointer<atr_decode_input>?
    let rows: Int

    /// Room for `rows` rows of `k`, filled in later (`fill`), by the cores that produce them.
    /// `arranged`: also laid out for matrices in the file's layout (see `atr_decode_input_prepare`).
    init(rows: Int, k: Int, served: Bool, arranged: Bool = true) {
        self.rows = rows
        guard served, rows > 0 else {
            prepared = nil
            return
        }
        let input = UnsafeMutablePointer<atr_decode_input>.allocate(capacity: 1)
        if atr_decode_input_alloc(input, rows, k, arranged ? 1 : 0) != 0 {
            prepared = input
        } else {
            input.deallocate()
            prepared = nil
        }
    }

    /// The first `rows` rows of x, prepared at once.
    init(_ x: Tensor, rows: Int, k: Int, served: Bool, arranged: Bool = true) {
        self.init(rows: rows, k: k, served: served, arranged: arranged)
        fill(x, rows: 0..<rows)
    }

    /// Rows `range` of x (k floats apart) prepared; each row's part lies apart from the others'.
    func fill(_ x: Tensor, rows range: Range<Int>) {
        guard let prepared, !range.isEmpty else { return }
        atr_decode_input_rows(prepared, x.pointer, prepared.pointee.k, range.lowerBound, range.upperBound)
    }

    func free() {
        guard let prepared else { return }
        atr_decode_input_free(prepared)
        prepared.deallocate()
    }
}

/// A raw pointer carried into parallel tasks that write disjoint parts of it.
struct UnsafeMutablePointerBox: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
