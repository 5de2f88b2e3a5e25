import CKernels
import Foundation
import Testing

@testable import AtriumML

/// SmolLM2-135M-Instruct from its GGUF against transformers in fp32 on the same weights dequantized
/// (`tests/golden/make_smollm2_logits_golden.py`): the same greedy continuation, token for token, and
/// the top-5 log-probabilities of every step within 0.01 on the default path, 1e-3 on the exact one
/// (fp32 activations and cache); the default path on the AVX2 kernels too, as a CPU without AVX-512
/// runs it.
@Suite struct LlamaModelTests {
    struct Golden: Decodable {
        struct Step: Decodable {
            var top_ids: [Int]
            var top_logprobs: [Double]
        }
        struct Case: Decodable {
            var text: String
            var ids: [Int]
            var continuation: [Int]
            var steps: [Step]
        }
        var cases: [Case]
    }

    static let golden: Golden = {
        let data = try! Data(contentsOf: MiniLMGolden.root.appendingPathComponent("tests/golden/smollm2_logits.json"))
        return try! JSONDecoder().decode(Golden.self, from: data)
    }()

    static func logSoftmax(_ logits: [Float]) -> [Double] {
        let top = Double(logits.max()!)
        let sum = logits.reduce(0.0) { $0 + exp(Double($1) - top) }
        return logits.map { Double($0) - top - log(sum) }
    }

    @Test(arguments: [(false, "auto"), (true, "auto"), (false, "avx2")]) func greedyContinuationsAndTopLogprobsMatchTransformers(exact: Bool, kernels: String) throws {
        guard let path = SmolLM2Golden.path else { return }
        guard kernels == "auto" || atr_has_avx2() != 0 else {
            print("SmolLM2 on the AVX2 kernels: skipped, this machine has no AVX2")
            return
        }
        // The switch holds on this thread only, so the AVX2 run computes on it alone.
        atr_use_avx512_kernels(kernels == "avx2" ? 0 : 1)
        defer { atr_use_avx512_kernels(1) }
        let file = try GGUFFile(path: path)
        let model = try LlamaModel(gguf: file, exact: exact)
        let tokenizer = try BPETokenizer(gguf: file)
        #expect(model.config.layers == 30 && model.config.kvHeads == 3 && model.config.headDimension == 64)
        let parallel = Parallel(threads: kernels == "avx2" ? 1 : 2)
        var worst = 0.0
        #expect(Self.golden.cases.count >= 20)
        for golden in Self.golden.cases {
            #expect(tokenizer.encode(golden.text, parseSpecial: true) == golden.ids)
            let cache = model.makeCache(capacity: golden.ids.count + golden.steps.count)
            var logits = model.forward(golden.ids, cache: cache, parallel: parallel)
            var continuation: [Int] = []
            for step in golden.steps {
                let logprobs = Self.logSoftmax(logits.values)
                let next = logprobs.indices.max { logprobs[$0] < logprobs[$1] }!
                for (id, expected) in zip(step.top_ids, step.top_logprobs) {
                    worst = max(worst, abs(logprobs[id] - expected))
                }
                continuation.append(next)
                guard next == step.top_ids[0] else { break }
                logits = model.forward([next], cache: cache, parallel: parallel)
            }
            #expect(continuation == golden.continuation, "\(golden.text.suffix(60).debugDescription)")
        }
        print("SmolLM2 \(exact ? "exact" : "default") path (\(kernels) kernels) against transformers fp32: worst top-5 log-probability difference \(worst)")
        #expect(worst <= (exact ? 1e-3 : 0.01))
    }

    /// The decode kernels for CPUs with AVX-512 VNNI and for those with AVX2 only: their products give
    /// the same floats (QuantizedLinearTests), their attention sums in another order, so their
    /// log-probabilities agree far inside the fast path's own distance from fp32 (0.01), with the same
    /// greedy token, for a batch of rows. (A kernel that got a block wrong would be off by whole units.)
    @Test func avx512AndAVX2DecodeKernelsAgree() throws {
        guard let path = SmolLM2Golden.path, atr_has_avx512_vnni() != 0 else { return }
        let model = try LlamaModel(gguf: GGUFFile(path: path))
        let prompts = Self.golden.cases.prefix(3).map(\.ids)
        func decode() -> [[Float]] {
            let caches = prompts.map { model.makeCache(capacity: $0.count + 2) }
            for (prompt, cache) in zip(prompts, caches) { _ = model.forward(prompt, cache: cache) }
            // Three sequences decode a token each in one pass (generated rows: the decode kernels).
            let logits = model.forward(zip(prompts, caches).map { .init(tokens: [$0.0.last!], cache: $0.1, generatedFrom: $0.1.count) })
            return (0..<prompts.count).map { Array(logits.values[($0 * model.config.vocabularySize)..<(($0 + 1) * model.config.vocabularySize)]) }
        }
        let wide = decode()
        atr_use_avx512_kernels(0)
        defer { atr_use_avx512_kernels(1) }
        let narrow = decode()
        for (a, b) in zip(wide, narrow) {
            let (la, lb) = (Self.logSoftmax(a), Self.logSoftmax(b))
            let top = la.indices.sorted { la[$0] > la[$1] }.prefix(5)
            let worst = top.map { abs(la[$0] - lb[$0]) }.max()!
            print("AVX-512 against AVX2 decode kernels: worst top-5 log-probability difference \(worst)")
            #expect(worst < 3e-3 && top.first == lb.indices.max { lb[$0] < lb[$1] })
        }
    }

    /// The tiled matrices lie in one allocation aligned for huge pages, one after another in the order a
    /// pass reads them (each layer's, then the output matrix), so a pass streams through it from start to end.
    @Test func tilesLieInOneArenaInTheOrderAPassReadsThem() throws {
        guard let path = SmolLM2Golden.path else { return }
        guard atr_has_avx2() != 0 else {
            print("SmolLM2 tiles: skipped, this machine has no AVX2 (its matrices are never tiled)")
            return
        }
        let model = try LlamaModel(gguf: GGUFFile(path: path))
        let matrices = model.layers.flatMap(\.matrices) + [model.output]
        #expect(matrices.allSatisfy { $0.isTiled })
        let starts = matrices.map { Int(bitPattern: $0.data) }
        #expect(starts[0] % (2 << 20) == 0)
        for (index, matrix) in matrices.enumerated().dropLast() {
            let bytes = (atr_tiles_bytes(matrix.type & ~Int32(ATR_TILED), matrix.rows, matrix.columns) + 63) / 64 * 64
            #expect(starts[index + 1] == starts[index] + bytes, "matrix \(index) is followed by the next one")
        }
    }

    /// A cache that grows as the tokens come (its keys, values and their scales copied into larger
    /// storage), and one that takes another's first positions (a shared prompt beginning), give the same
    /// logits bit for bit as a cache made large enough at once.
    @Test func growingAndSharedCachesGiveTheSameLogits() throws {
        guard let path = SmolLM2Golden.path else { return }
        let model = try LlamaModel(gguf: GGUFFile(path: path))
        #expect(model.cachePrecision == .int16)
        let tokens = Array(Self.golden.cases.flatMap(\.ids).prefix(150))
        let presized = model.makeCache(capacity: tokens.count), growing = model.makeCache(capacity: 1)
        var expected: [[Float]] = []
        for cache in [presized, growing] {
            var logits = [model.forward(Array(tokens.prefix(10)), cache: cache).values]
            for token in tokens[10...] { logits.append(model.forward([token], cache: cache).values) }
            if expected.isEmpty {
                expected = logits
            } else {
                let same = logits == expected  // compared apart, so that a failure does not print every logit
                #expect(same, "a growing cache changed the logits")
            }
        }
        #expect(growing.capacity >= tokens.count && growing.capacity < 2 * tokens.count)
        let shared = model.makeCache(capacity: 1)
        shared.copyPrefix(of: presized, positions: 120)
        for (index, token) in tokens[120...].enumerated() {
            let same = model.forward([token], cache: shared).values == expected[120 - 10 + index + 1]
            #expect(same, "a shared beginning changed the logits at position \(120 + index)")
        }
    }
}
