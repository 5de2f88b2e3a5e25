import CKernels

/// A BERT encoder on CPU: linear layers on packed weights (`PackedLinear`), attention and the rest in
/// C loops. A batch is packed, not padded: the sequences lie one after another, so no work goes to
/// padding, and attention looks only within each sequence.
public final class BertEncoder: @unchecked Sendable {
    public let config: BertConfig

    struct Layer {
        /// Query, key and value projections stacked: 3·hidden outputs.
        var qkv: PackedLinear
        var output: PackedLinear
        var attentionNorm: (gamma: Tensor, beta: Tensor)
        var intermediate: PackedLinear
        var feedForward: PackedLinear
        var outputNorm: (gamma: Tensor, beta: Tensor)
    }

    let wordEmbeddings: Tensor
    let positionEmbeddings: Tensor
    let tokenTypeEmbeddings: Tensor
    let embeddingNorm: (gamma: Tensor, beta: Tensor)
    let layers: [Layer]

    public init(config: BertConfig, weights: SafeTensors) throws {
        self.config = config
        let d = config.hiddenSize
        // Some checkpoints keep BERT's own `bert.` prefix (those saved with a task head).
        let prefix = weights.entries["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor { try weights.tensor(prefix + name, shape: shape) }
        func norm(_ name: String) throws -> (Tensor, Tensor) { (try tensor(name + ".weight", [d]), try tensor(name + ".bias", [d])) }

        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [config.vocabularySize, d])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [config.maxPositions, d])
        tokenTypeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [config.typeVocabularySize, d])
        embeddingNorm = try norm("embeddings.LayerNorm")
        layers = try (0..<config.layers).map { index in
            let base = "encoder.layer.\(index)."
            func linear(_ name: String, _ shape: [Int]) throws -> PackedLinear {
                PackedLinear(weight: try tensor(base + name + ".weight", shape), bias: try tensor(base + name + ".bias", [shape[0]]))
            }
            let parts = try ["query", "key", "value"].map { part in
                (try tensor(base + "attention.self.\(part).weight", [d, d]), try tensor(base + "attention.self.\(part).bias", [d]))
            }
            return Layer(
                qkv: PackedLinear(stacking: parts.map(\.0), biases: parts.map(\.1)),
                output: try linear("attention.output.dense", [d, d]),
                attentionNorm: try norm(base + "attention.output.LayerNorm"),
                intermediate: try linear("intermediate.dense", [config.intermediateSize, d]),
                feedForward: try linear("output.dense", [d, config.intermediateSize]),
                outputNorm: try norm(base + "output.LayerNorm"))
        }
    }

    /// The last hidden states of each sequence, packed: [total tokens, hidden]. Every id must be below
    /// the vocabulary size and every sequence no longer than the position table (callers check).
    /// `parallel` spreads the work over cores.
    public func forward(_ sequences: [[Int]], parallel: Parallel = Parallel(threads: 1)) -> Tensor {
        let d = config.hiddenSize
        let total = sequences.reduce(0) { $0 + $1.count }
        let hidden = Tensor(zeros: [total, d])
        let tokens = sequences.flatMap { $0.enumerated().map { (position: $0.offset, id: $0.element) } }
        parallel.ranges(total) { rows in
            for row in rows {
                atr_embed_token(
                    hidden.pointer + row * d, wordEmbeddings.pointer + tokens[row].id * d, positionEmbeddings.pointer + tokens[row].position * d,
                    tokenTypeEmbeddings.pointer, d)
            }
            atr_layer_norm(
                hidden.pointer + rows.lowerBound * d, nil, embeddingNorm.gamma.pointer, embeddingNorm.beta.pointer, rows.count, d,
                config.layerNormEpsilon)
        }
        let lengths = sequences.map(\.count)
        let scratch = Scratch(total: total, longest: lengths.max() ?? 0, threads: parallel.threads, config: config)
        for layer in layers {
            run(layer, on: hidden, lengths: lengths, scratch: scratch, parallel: parallel)
        }
        return hidden
    }

    private struct Scratch {
        var qkv: Tensor
        var context: Tensor
        var projected: Tensor
        var intermediate: Tensor
        /// One attention score matrix per thread.
        var scores: [Tensor]

        init(total: Int, longest: Int, threads: Int, config: BertConfig) {
            qkv = Tensor(zeros: [total, 3 * config.hiddenSize])
            context = Tensor(zeros: [total, config.hiddenSize])
            projected = Tensor(zeros: [total, config.hiddenSize])
            intermediate = Tensor(zeros: [total, config.intermediateSize])
            scores = (0..<threads).map { _ in Tensor(zeros: [longest, longest]) }
        }
    }

    private func run(_ layer: Layer, on hidden: Tensor, lengths: [Int], scratch: Scratch, parallel: Parallel) {
        let d = config.hiddenSize
        let total = hidden.shape[0]
        let headSize = d / config.heads
        layer.qkv.apply(hidden, rows: total, into: scratch.qkv, parallel: parallel)
        let scale = 1 / Float(headSize).squareRoot()
        let starts = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        // Each (sequence, head) pair is independent: the parts take them in turn.
        parallel.tasks(lengths.count * config.heads) { part, pair in
            let scores = scratch.scores[part].pointer
            let (sequence, head) = pair.quotientAndRemainder(dividingBy: config.heads)
            let length = lengths[sequence]
            let base = scratch.qkv.pointer + starts[sequence] * 3 * d
            let query = base + head * headSize
            let key = base + d + head * headSize
            let value = base + 2 * d + head * headSize
            let context = scratch.context.pointer + starts[sequence] * d + head * headSize
            if atr_attention_head(query, key, value, 3 * d, length, headSize, scale, scores, context, d) == 1 { return }
            BLAS.gemm(m: length, n: length, k: headSize, a: query, lda: 3 * d, b: key, ldb: 3 * d, transposeB: true, c: scores, ldc: length)
            for r in 0..<length { atr_softmax_prefix(scores + r * length, length, length, scale) }
            BLAS.gemm(m: length, n: headSize, k: length, a: scores, lda: length, b: value, ldb: 3 * d, transposeB: false, c: context, ldc: d)
        }
        layer.output.apply(scratch.context, rows: total, into: scratch.projected, parallel: parallel)
        addAndNormalize(hidden, scratch.projected, layer.attentionNorm, parallel: parallel)
        layer.intermediate.apply(hidden, rows: total, into: scratch.intermediate, gelu: true, parallel: parallel)
        layer.feedForward.apply(scratch.intermediate, rows: total, into: scratch.projected, parallel: parallel)
        addAndNormalize(hidden, scratch.projected, layer.outputNorm, parallel: parallel)
    }

    /// hidden = LayerNorm(hidden + residual), rows spread over the cores.
    private func addAndNormalize(_ hidden: Tensor, _ residual: Tensor, _ norm: (gamma: Tensor, beta: Tensor), parallel: Parallel) {
        let d = config.hiddenSize
        parallel.ranges(hidden.shape[0]) { rows in
            atr_layer_norm(
                hidden.pointer + rows.lowerBound * d, residual.pointer + rows.lowerBound * d, norm.gamma.pointer, norm.beta.pointer, rows.count, d,
                config.layerNormEpsilon)
        }
    }
}
