import CKernels
import Foundation
import Testing

@testable import AtriumML

/// The packed linear kernel against a plain double-precision loop, on shapes that reach every edge:
/// a last panel with fewer than 16 outputs, an odd number of inputs, every block height from 1 to 6
/// rows, no bias, GELU, and parts that take disjoint panels.
enum PackedLinearCheck {
    static func worstError(outputs: Int, inputs: Int, rows: Int, bias: Bool, gelu: Bool, threads: Int) -> Double {
        var generator = SplitMix(seed: UInt64(outputs * 1_000_003 + inputs * 101 + rows))
        let weight = Tensor(zeros: [outputs, inputs])
        let biasTensor = Tensor(zeros: [outputs])
        let x = Tensor(zeros: [rows, inputs])
        for tensor in [weight, biasTensor, x] {
            for i in 0..<tensor.count { tensor.pointer[i] = generator.nextFloat() }
        }
        let linear = PackedLinear(weight: weight, bias: bias ? biasTensor : nil)
        let out = Tensor(zeros: [rows, outputs])
        linear.apply(x, rows: rows, into: out, gelu: gelu, parallel: Parallel(threads: threads))
        var worst = 0.0
        for i in 0..<rows {
            for j in 0..<outputs {
                var sum = bias ? Double(biasTensor.pointer[j]) : 0
                for q in 0..<inputs { sum += Double(x.pointer[i * inputs + q]) * Double(weight.pointer[j * inputs + q]) }
                if gelu { sum = 0.5 * sum * (1 + erf(sum / 2.0.squareRoot())) }
                worst = max(worst, abs(sum - Double(out.pointer[i * outputs + j])))
            }
        }
        return worst
    }

    /// `threads`: as given, or 1 and 2 in turn.
    static func checkEveryShape(threads: Int? = nil) {
        for (outputs, inputs) in [(16, 8), (40, 37), (384, 384), (7, 5), (1536, 64)] {
            for rows in [1, 2, 3, 4, 5, 6, 7, 13, 14, 50] {
                for (bias, gelu) in [(true, false), (false, false), (true, true)] {
                    let error = worstError(outputs: outputs, inputs: inputs, rows: rows, bias: bias, gelu: gelu, threads: threads ?? rows % 2 + 1)
                    #expect(error < 1e-4, "outputs \(outputs), inputs \(inputs), rows \(rows), bias \(bias), gelu \(gelu): off by \(error)")
                }
            }
        }
    }
}

/// A small deterministic generator of floats in [-1, 1).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

@Suite struct PackedLinearTests {
    @Test func packedLinearMatchesAPlainLoop() {
        PackedLinearCheck.checkEveryShape()
    }

    @Test func packingPadsTheLastPanelWithZeros() {
        #expect(atr_packed_size(40, 3) == 48 * 3)
        let weight = Tensor(zeros: [17, 2])
        for i in 0..<weight.count { weight.pointer[i] = Float(i + 1) }
        let packed = PackedLinear(weight: weight)
        // Panel 1 holds output 16 in its first column and zeros in the other 15.
        let second = Array(UnsafeBufferPointer(start: packed.packed.pointer + 32, count: 32))
        #expect(second[0] == 33 && second[16] == 34)
        #expect(second.enumerated().allSatisfy { $0.offset % 16 == 0 || $0.element == 0 })
    }
}
