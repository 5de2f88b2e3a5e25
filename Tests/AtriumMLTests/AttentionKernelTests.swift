import CKernels
import Foundation
import Testing

/// `atr_attention_decode` (one generated position's grouped-query attention over a cache) on every
/// kernel it picks (AVX-512, AVX2, portable) against softmax(q·kᵀ·scale)·v in double: head sizes the
/// kernels specialise and one they do not, groups of query heads that do and do not fill a pass over
/// the values, and cache lengths around the 16 positions scored at a time.
@Suite struct AttentionKernelTests {
    @Test(arguments: [(64, 3), (64, 4), (128, 3), (96, 7)]) func everyKernelMatchesTheReference(headDim: Int, group: Int) {
        var random = SystemRandomNumberGenerator()
        let kvHeads = 2, heads = kvHeads * group
        // Rows of the cache hold every kv head, with room left over, as the model's caches do.
        let ld = kvHeads * headDim + 16
        for length in [1, 15, 16, 17, 100] {
            let q = (0..<(heads * headDim)).map { _ in Float.random(in: -1...1, using: &random) }
            let k = (0..<(length * ld)).map { _ in Float.random(in: -1...1, using: &random) }
            let v = (0..<(length * ld)).map { _ in Float.random(in: -1...1, using: &random) }
            let scale = 1 / Float(headDim).squareRoot()
            var expected = [Double](repeating: 0, count: heads * headDim)
            for h in 0..<heads {
                let kv = h / group
                let scores = (0..<length).map { t in
                    (0..<headDim).reduce(0.0) { $0 + Double(q[h * headDim + $1]) * Double(k[t * ld + kv * headDim + $1]) } * Double(scale)
                }
                let top = scores.max()!
                let weights = scores.map { exp($0 - top) }
                let total = weights.reduce(0, +)
                for d in 0..<headDim {
                    expected[h * headDim + d] = (0..<length).reduce(0.0) { $0 + weights[$1] / total * Double(v[$1 * ld + kv * headDim + d]) }
                }
            }
            for kernel in ["avx512", "avx2", "portable"] {
                atr_use_avx512_kernels(kernel == "avx512" ? 1 : 0)
                atr_use_portable_kernels(kernel == "portable" ? 1 : 0)
                defer {
                    atr_use_avx512_kernels(1)
                    atr_use_portable_kernels(0)
                }
                var scores = [Float](repeating: .nan, count: group * length)
                var out = [Float](repeating: .nan, count: heads * headDim)
                atr_attention_decode(q, k, v, ld, length, heads, kvHeads, headDim, scale, &scores, &out)
                let worst = zip(out, expected).map { abs(Double($0) - $1) }.max()!
                #expect(worst < 1e-5, "\(kernel), head size \(headDim), group \(group), length \(length): off by \(worst)")
            }
        }
    }
}
