import CKernels
import Foundation
import Testing

/// `atr_qlinear` on every weight type the engine reads, every kernel (prompt and decode, fast and
/// exact, AVX-512 and not), against the weights dequantized and multiplied in double: shapes that are
/// not multiples of the kernels' blocks, and a row's result the same whatever rows are beside it.
@Suite struct QuantizedLinearTests {
    /// GGML type, bytes per block of 32.
    static let types: [(name: String, type: Int32, blockBytes: Int)] = [
        ("F32", 0, 128), ("F16", 1, 64), ("BF16", 30, 64), ("Q4_0", 2, 18), ("Q4_1", 3, 20), ("Q8_0", 8, 34),
    ]

    static func weights(type: Int32, blockBytes: Int, rows: Int, k: Int, random: inout SystemRandomNumberGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        func half(_ value: Float) -> [UInt8] {
            let bits = Float16(value).bitPattern
            return [UInt8(bits & 0xff), UInt8(bits >> 8)]
        }
        for _ in 0..<(rows * k / 32) {
            switch type {
            case 0:
                for _ in 0..<32 { withUnsafeBytes(of: Float.random(in: -1...1, using: &random).bitPattern.littleEndian) { bytes += $0 } }
            case 1:
                for _ in 0..<32 { bytes += half(Float.random(in: -1...1, using: &random)) }
            case 30:
                for _ in 0..<32 {
                    let bits = Float.random(in: -1...1, using: &random).bitPattern >> 16
                    bytes += [UInt8(bits & 0xff), UInt8(bits >> 8)]
                }
            default:
                bytes += half(Float.random(in: 0.01...0.1, using: &random))
                if type == 3 { bytes += half(Float.random(in: -0.5...0, using: &random)) }
                let quants = type == 8 ? 32 : 16
                for _ in 0..<quants { bytes.append(UInt8.random(in: 0...255, using: &random)) }
            }
        }
        precondition(bytes.count == rows * k / 32 * blockBytes)
        return bytes
    }

    /// Widths of 3 blocks (quads only), 18 (a wide group of 16 and a short quad) and 33 (two wide groups
    /// and a quad of one), by 9 rows of x, a whole run of 16 and a run and a half.
    static let shapes = [(k: 96, m: 9), (k: 576, m: 16), (k: 1056, m: 21)]

    @Test(arguments: types.map(\.name), shapes.indices) func everyKernelMatchesTheDequantizedProduct(name: String, shape: Int) {
        let (_, type, blockBytes) = Self.types.first { $0.name == name }!
        var random = SystemRandomNumberGenerator()
        let rows = 37, (k, m) = Self.shapes[shape]
        let w = Self.weights(type: type, blockBytes: blockBytes, rows: rows, k: k, random: &random)
        let x = (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &random) }
        var dequantized = [Float](repeating: 0, count: rows * k)
        w.withUnsafeBytes { raw in
            for r in 0..<rows { atr_dequantize_row(type, raw.baseAddress! + r * k / 32 * blockBytes, &dequantized[r * k], k) }
        }
        func reference(_ i: Int, _ r: Int) -> (value: Double, scale: Double) {
            (0..<k).reduce((0.0, 0.0)) { sum, q in
                let product = Double(x[i * k + q]) * Double(dequantized[r * k + q])
                return (sum.0 + product, sum.1 + abs(product))
            }
        }
        func run(mode: Int32, m: Int, r0: Int = 0, r1: Int = rows) -> [Float] {
            var out = [Float](repeating: .nan, count: m * rows)
            w.withUnsafeBytes { raw in atr_qlinear(type, raw.baseAddress!, k, r0, r1, x, k, m, &out, rows, mode) }
            return out
        }
        for avx512 in [true, false] {
            atr_use_avx512_kernels(avx512 ? 1 : 0)
            defer { atr_use_avx512_kernels(1) }
            for mode in [Int32(ATR_PROMPT), Int32(ATR_PROMPT | ATR_EXACT), 0, Int32(ATR_EXACT)] {
                // The fast decode path rounds x to 16-bit integers per block of 32: about 1e-4 of the sum's scale.
                let tolerance = mode == 0 ? 2e-4 : 1e-6
                let out = run(mode: mode, m: m)
                for i in 0..<m {
                    for r in 0..<rows {
                        let (value, scale) = reference(i, r)
                        #expect(abs(Double(out[i * rows + r]) - value) <= tolerance * scale + 1e-6, "\(name) k \(k) mode \(mode) avx512 \(avx512) [\(i)][\(r)]")
                    }
                }
                // A row alone, or a task's share of the weight rows, gives the same floats as in the batch.
                let alone = run(mode: mode, m: 1)
                #expect(Array(alone.prefix(rows)) == Array(out.prefix(rows)), "\(name) k \(k) mode \(mode) avx512 \(avx512): row 0 alone")
                let share = run(mode: mode, m: m, r0: 5, r1: 29)
                #expect((0..<m).allSatisfy { i in (5..<29).allSatisfy { share[i * rows + $0] == out[i * rows + $0] } })
            }
        }
    }

    /// Weight tiles (16 rows side by side a block) hold the file's blocks exactly, and every path gives
    /// what the file's layout gives: the decode kernels (AVX-512 VNNI and AVX2) within the same bound of
    /// the reference and the same floats as each other, a row's result the same alone or beside others
    /// and in a task's share of tiles; the other paths, which read the tiles back into the file's layout,
    /// the same floats.
    /// The tiles' memory (`atr_streamed_alloc`): aligned to 2 MiB, so that where the kernel grants huge
    /// pages each one holds tiles from its first byte, and all of it usable; nothing for no bytes.
    @Test func streamedMemoryIsAlignedForHugePages() {
        #expect(atr_streamed_alloc(0) == nil)
        let bytes = (3 << 20) + 5
        guard let memory = atr_streamed_alloc(bytes) else {
            Issue.record("no memory for \(bytes) bytes")
            return
        }
        defer { free(memory) }
        #expect(Int(bitPattern: memory) % (2 << 20) == 0)
        memset(memory, 0xA5, bytes)
        #expect(memory.load(fromByteOffset: 0, as: UInt8.self) == 0xA5 && memory.load(fromByteOffset: bytes - 1, as: UInt8.self) == 0xA5)
    }

    @Test(arguments: ["Q4_0", "Q4_1", "Q8_0"], shapes.indices) func tiledMatricesGiveTheFilesProducts(name: String, shape: Int) {
        let (_, type, blockBytes) = Self.types.first { $0.name == name }!
        let rows = 48, (k, m) = Self.shapes[shape]
        guard atr_tiles_supported(type, rows, k) != 0 else {
            print("tiled \(name): skipped, this machine has no AVX2 (its matrices are never tiled)")
            return
        }
        var random = SystemRandomNumberGenerator()
        let w = Self.weights(type: type, blockBytes: blockBytes, rows: rows, k: k, random: &random)
        let x = (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &random) }
        var tiles = [UInt8](repeating: 0, count: atr_tiles_bytes(type, rows, k))
        atr_tiles_pack(type, w, rows, k, &tiles)
        // Q4_1 and Q8_0 tiles take the memory of their blocks; Q4_0's carry a minimum too (20 bytes a block, not 18).
        #expect(tiles.count == (type == 2 ? w.count / 18 * 20 : w.count))
        var back = [UInt8](repeating: 0, count: w.count)
        atr_tiles_unpack(type, tiles, k, 0, rows, &back)
        #expect(back == w, "\(name): the tiles hold the file's blocks")
        var dequantized = [Float](repeating: 0, count: rows * k)
        for r in 0..<rows { atr_dequantize_row(type, Array(w[(r * k / 32 * blockBytes)...]), &dequantized[r * k], k) }
        func run(_ type: Int32, _ weights: [UInt8], mode: Int32, m: Int, r0: Int = 0, r1: Int = rows) -> [Float] {
            var out = [Float](repeating: .nan, count: m * rows)
            atr_qlinear(type, weights, k, r0, r1, x, k, m, &out, rows, mode)
            return out
        }
        let tiled = type | Int32(ATR_TILED)
        var decodedBy: [Bool: [Float]] = [:]
        for avx512 in [true, false] where !avx512 || atr_has_avx512_vnni() != 0 {
            atr_use_avx512_kernels(avx512 ? 1 : 0)
            defer { atr_use_avx512_kernels(1) }
            for mode in [Int32(ATR_PROMPT), Int32(ATR_PROMPT | ATR_EXACT), 0, Int32(ATR_EXACT)] {
                let out = run(tiled, tiles, mode: mode, m: m)
                if mode == 0 { decodedBy[avx512] = out }
                guard mode == 0 else {
                    #expect(out == run(type, w, mode: mode, m: m), "\(name) k \(k) mode \(mode) avx512 \(avx512)")
                    continue
                }
                for i in 0..<m {
                    for r in 0..<rows {
                        let (value, scale) = (0..<k).reduce((0.0, 0.0)) { sum, q in
                            let product = Double(x[i * k + q]) * Double(dequantized[r * k + q])
                            return (sum.0 + product, sum.1 + abs(product))
                        }
                        #expect(abs(Double(out[i * rows + r]) - value) <= 2e-4 * scale + 1e-6, "\(name) k \(k) tiled avx512 \(avx512) [\(i)][\(r)]")
                    }
                }
                #expect(Array(run(tiled, tiles, mode: mode, m: 1).prefix(rows)) == Array(out.prefix(rows)), "\(name) k \(k): row 0 alone")
                let share = run(tiled, tiles, mode: mode, m: m, r0: 16, r1: 32)
                #expect((0..<m).allSatisfy { i in (16..<32).allSatisfy { share[i * rows + $0] == out[i * rows + $0] } })
                // The prepared-input entry point gives the same floats.
                var input = atr_decode_input()
                #expect(atr_decode_input_prepare(&input, x, k, m, k, 0) == 1)
                var decoded = [Float](repeating: .nan, count: m * rows)
                atr_qlinear_decode(tiled, tiles, 0, rows, &input, &decoded, rows)
                atr_decode_input_free(&input)
                #expect(decoded == out)
            }
        }
        // Both decode kernels multiply the same integers and apply the scales in the same order, lane by lane.
        if let wide = decodedBy[true], let narrow = decodedBy[false] {
            #expect(wide == narrow, "\(name) k \(k): the AVX-512 and AVX2 tile kernels differ")
        }
    }
}
