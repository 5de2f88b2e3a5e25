import CKernels
import Foundation
import Testing

/// `atr_attention_decode` (one generated position's grouped-query attention over a cache) on every
/// kernel it picks (AVX-512, AVX2, portable) against softmax(q·kᵀ·scale)·v in double: head sizes the
/// kernels specialise and one they do not, groups of query heads that do and do not fill a pass over
/// the values, and cache lengths around the 16 positions scored at a time.
@Suite struct AttentionKernelTests {
    /// softmax(q·kᵀ·scale)·v in double, query head h reading key/value head h / group.
    static func reference(q: [Float], k: [Float], v: [Float], ld: Int, length: Int, heads: Int, group: Int, headDim: Int, scale: Float) -> [Double] {
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
        return expected
    }

    /// Every kernel the dispatch can pick on this thread: the best the CPU has (AVX-512 where it has it),
    /// AVX2, and the portable loops.
    static let kernels = ["avx512", "avx2", "portable"]

    static func use(_ kernel: String) {
        atr_use_avx512_kernels(kernel == "avx512" ? 1 : 0)
        atr_use_portable_kernels(kernel == "portable" ? 1 : 0)
    }

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
            let expected = Self.reference(q: q, k: k, v: v, ld: ld, length: length, heads: heads, group: group, headDim: headDim, scale: scale)
            for kernel in Self.kernels {
                Self.use(kernel)
                defer { Self.use("avx512") }
                var scores = [Float](repeating: .nan, count: group * length)
                var out = [Float](repeating: .nan, count: heads * headDim)
                atr_attention_decode(q, k, v, ld, length, heads, kvHeads, headDim, scale, &scores, &out)
                let worst = zip(out, expected).map { abs(Double($0) - $1) }.max()!
                #expect(worst < 1e-5, "\(kernel), head size \(headDim), group \(group), length \(length): off by \(worst)")
            }
        }
    }

    /// The 16-bit cache: each position's head stored as integers of one scale (AVX-512, AVX2 and portable
    /// give the same integers, each within half a step of its float), and attention over it (every kernel)
    /// against the reference on the values the integers stand for; those are within 1e-4 of the floats'
    /// own attention.
    @Test(arguments: [(64, 3), (128, 3), (96, 7)]) func sixteenBitCacheMatchesTheReference(headDim: Int, group: Int) {
        var random = SystemRandomNumberGenerator()
        let kvHeads = 2, heads = kvHeads * group
        let ld = kvHeads * headDim + 16
        for length in [1, 15, 16, 17, 100] {
            let q = (0..<(heads * headDim)).map { _ in Float.random(in: -1...1, using: &random) }
            // A large value now and then, as keys have: the other values of its head keep 15 bits of it.
            let k = (0..<(length * ld)).map { i in Float.random(in: -1...1, using: &random) * (i % 37 == 0 ? 8 : 1) }
            let v = (0..<(length * ld)).map { _ in Float.random(in: -1...1, using: &random) }
            let scale = 1 / Float(headDim).squareRoot()
            func store(_ x: [Float]) -> (integers: [Int16], scales: [Float]) {
                var integers = [Int16](repeating: 0, count: length * ld), scales = [Float](repeating: .nan, count: kvHeads * length)
                for t in 0..<length {
                    x.withUnsafeBufferPointer { values in
                        integers.withUnsafeMutableBufferPointer { out in
                            scales.withUnsafeMutableBufferPointer { atr_kv16_store(values.baseAddress! + t * ld, kvHeads, headDim, out.baseAddress! + t * ld, $0.baseAddress! + t, length) }
                        }
                    }
                }
                return (integers, scales)
            }
            var stored: [(integers: [Int16], scales: [Float])] = []
            for kernel in Self.kernels {
                Self.use(kernel)
                defer { Self.use("avx512") }
                stored.append(store(k))
            }
            for other in stored.dropFirst() {
                #expect(stored[0].integers == other.integers && stored[0].scales == other.scales, "head size \(headDim): the stores differ")
            }
            let (k16, kScales) = stored[0]
            let (v16, vScales) = store(v)
            func widened(_ integers: [Int16], _ scales: [Float]) -> [Float] {
                (0..<(length * ld)).map { i in
                    let (t, column) = i.quotientAndRemainder(dividingBy: ld)
                    return column < kvHeads * headDim ? Float(integers[i]) * scales[column / headDim * length + t] : 0
                }
            }
            let kWide = widened(k16, kScales), vWide = widened(v16, vScales)
            for i in 0..<(length * ld) where i % ld < kvHeads * headDim {
                let step = kScales[i % ld / headDim * length + i / ld]
                // Half a step, and the rounding of the scaling: 32767·(1 ± 2⁻²³) is a few thousandths of a step from whole.
                #expect(abs(kWide[i] - k[i]) <= step * 0.505, "head size \(headDim): key \(i) off by more than half a step")
            }
            let expected = Self.reference(q: q, k: kWide, v: vWide, ld: ld, length: length, heads: heads, group: group, headDim: headDim, scale: scale)
            let exact = Self.reference(q: q, k: k, v: v, ld: ld, length: length, heads: heads, group: group, headDim: headDim, scale: scale)
            #expect(zip(expected, exact).map { abs($0 - $1) }.max()! < 1e-4, "head size \(headDim), length \(length): 16 bits are far from fp32")
            for kernel in Self.kernels {
                Self.use(kernel)
                defer { Self.use("avx512") }
                var out = [Float](repeating: .nan, count: heads * headDim)
                for kv in 0..<kvHeads {
                    var scores = [Float](repeating: .nan, count: group * length)
                    out.withUnsafeMutableBufferPointer { out in
                        atr_attention_group16(
                            Array(q[(kv * group * headDim)...]), Array(k16[(kv * headDim)...]), Array(kScales[(kv * length)...]), Array(v16[(kv * headDim)...]),
                            Array(vScales[(kv * length)...]), ld, length, group, headDim, scale, &scores, out.baseAddress! + kv * group * headDim)
                    }
                }
                let worst = zip(out, expected).map { abs(Double($0) - $1) }.max()!
                #expect(worst < 1e-5, "\(kernel), head size \(headDim), group \(group), length \(length): off by \(worst)")
            }
        }
    }
}
