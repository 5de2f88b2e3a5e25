import CKernels

/// A linear layer, y = x·Wᵀ + b, whose weight (PyTorch's [outputs, inputs]) is packed once, at load,
/// into the panels of 16 outputs that the kernel reads front to back (see `linear.c`). The packed
/// copy replaces the weight: a model holds its linear weights once.
public struct PackedLinear: Sendable {
    public let outputs: Int
    public let inputs: Int
    let packed: Tensor
    let bias: Tensor?

    /// Packs the rows of `weights` stacked in order (one weight, or several that share an input, such
    /// as a layer's query, key and value), with their biases stacked alike.
    public init(stacking weights: [Tensor], biases: [Tensor]? = nil) {
        precondition(!weights.isEmpty && weights.allSatisfy { $0.shape.count == 2 && $0.shape[1] == weights[0].shape[1] })
        outputs = weights.reduce(0) { $0 + $1.shape[0] }
        inputs = weights[0].shape[1]
        let weight = weights.count == 1 ? weights[0] : Tensor(concatenating: weights, shape: [outputs, inputs])
        packed = Tensor(zeros: [atr_packed_size(outputs, inputs)])
        atr_pack_linear(weight.pointer, outputs, inputs, packed.pointer)
        if let biases {
            precondition(biases.reduce(0) { $0 + $1.count } == outputs)
            bias = biases.count == 1 ? biases[0] : Tensor(concatenating: biases, shape: [outputs])
        } else {
            bias = nil
        }
    }

    public init(weight: Tensor, bias: Tensor? = nil) {
        self.init(stacking: [weight], biases: bias.map { [$0] })
    }

    /// out[rows, outputs] = x[rows, inputs]·Wᵀ + b, then GELU (erf form) where asked. Rows of `x` are
    /// `inputs` floats apart and rows of `out` `outputs` apart. The work goes out in tasks of a chunk of
    /// rows (whose inputs stay in L2) by a group of output panels, taken in turn.
    public func apply(_ x: Tensor, rows: Int, into out: Tensor, gelu: Bool = false, parallel: Parallel) {
        precondition(x.count >= rows * inputs && out.count >= rows * outputs)
        let panels = (outputs + 15) / 16
        let chunk = atr_linear_chunk_rows(inputs)
        let rowTasks = (rows + chunk - 1) / chunk
        // At least four tasks per core, so that the last one to finish keeps the others waiting little.
        let groups = min(panels, max(1, (parallel.threads * 4 + rowTasks - 1) / rowTasks))
        let groupSize = (panels + groups - 1) / groups
        parallel.tasks(rowTasks * groups) { _, task in
            let (rowTask, group) = task.quotientAndRemainder(dividingBy: groups)
            let first = rowTask * chunk
            let panelStart = group * groupSize
            let panelEnd = min(panels, panelStart + groupSize)
            guard panelStart < panelEnd else { return }
            atr_linear_packed(
                x.pointer + first * inputs, inputs, min(chunk, rows - first), inputs, packed.pointer, outputs, panelStart, panelEnd,
                bias?.pointer, gelu ? 1 : 0, out.pointer + first * outputs, outputs)
        }
    }
}
