import CKernels
import Foundation
import Testing

@testable import AtriumML

@Suite struct SentenceEmbedderTests {
    /// Cosine ≥ 0.99999 and no component off by more than 1e-5, against sentence-transformers.
    @Test func embeddingsMatchSentenceTransformersOnTheGoldenCorpus() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let embedder = try SentenceEmbedder(folder: folder)
        #expect(embedder.maxSequenceLength == 256 && embedder.dimensions == 384 && embedder.normalize && embedder.pooling == .mean)
        var worstCosine: Float = 1
        var worstDifference: Float = 0
        let cases = MiniLMGolden.cases
        for batch in stride(from: 0, to: cases.count, by: 32).map({ cases[$0..<min($0 + 32, cases.count)] }) {
            let embeddings = embedder.embed(tokenized: batch.map(\.ids))
            for (golden, embedding) in zip(batch, embeddings) {
                let expected = golden.vector
                let cosine = zip(expected, embedding).reduce(0) { $0 + $1.0 * $1.1 }
                    / ((expected.reduce(0) { $0 + $1 * $1 }).squareRoot() * (embedding.reduce(0) { $0 + $1 * $1 }).squareRoot())
                worstCosine = min(worstCosine, cosine)
                worstDifference = max(worstDifference, zip(expected, embedding).map { abs($0 - $1) }.max() ?? 0)
            }
        }
        print("MiniLM against sentence-transformers: worst cosine \(worstCosine), worst difference \(worstDifference)")
        #expect(worstCosine >= 0.99999)
        #expect(worstDifference <= 1e-5)
    }

    @Test func aBatchGivesWhatEachSentenceGivesAlone() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let embedder = try SentenceEmbedder(folder: folder)
        let texts = ["hello world", "a much longer sentence about the embedded engine and its batches", "短い"]
        let together = embedder.embed(texts)
        for (text, embedding) in zip(texts, together) {
            let alone = embedder.embed([text])[0]
            #expect(zip(alone, embedding).allSatisfy { abs($0 - $1) < 1e-6 })
        }
        let hello = together[0]
        #expect(abs(hello[0] - -0.034477) < 1e-5 && abs(hello[1] - 0.031023) < 1e-5)
    }

    @Test func brokenFoldersNameTheFileAndTheProblem() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("broken-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: copy) }
        for file in ["config.json", "tokenizer.json", "modules.json"] {
            try FileManager.default.copyItem(at: folder.appendingPathComponent(file), to: copy.appendingPathComponent(file))
        }
        #expect { try SentenceEmbedder(folder: copy) } throws: { ($0 as? ModelLoadError)?.file == "model.safetensors" }
        // A truncated weights file.
        let weights = try Data(contentsOf: folder.appendingPathComponent("model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: copy.appendingPathComponent("model.safetensors"))
        #expect { try SentenceEmbedder(folder: copy) } throws: { error in
            guard let error = error as? ModelLoadError else { return false }
            return error.file == "model.safetensors" && error.problem.contains("does not fit")
        }
        // Garbage.
        try Data(repeating: 0xFF, count: 64).write(to: copy.appendingPathComponent("model.safetensors"))
        #expect { try SentenceEmbedder(folder: copy) } throws: { "\($0)".contains("not a safetensors file") }
        // A config for another architecture.
        try FileManager.default.copyItem(at: folder.appendingPathComponent("model.safetensors"), to: copy.appendingPathComponent("weights.tmp"))
        try FileManager.default.removeItem(at: copy.appendingPathComponent("model.safetensors"))
        try FileManager.default.moveItem(at: copy.appendingPathComponent("weights.tmp"), to: copy.appendingPathComponent("model.safetensors"))
        try Data(#"{"model_type":"gpt2","hidden_size":8}"#.utf8).write(to: copy.appendingPathComponent("config.json"))
        #expect { try SentenceEmbedder(folder: copy) } throws: { error in
            (error as? ModelLoadError)?.file == "config.json" && "\(error)".contains("gpt2")
        }
    }

    @Test func halfPrecisionWeightsWiden() throws {
        // 1.0, -2.0, 65504 (largest half), a subnormal, and bfloat16's 1.0 and -0.5.
        let halves: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001]
        let bfloats: [UInt16] = [0x3F80, 0xBF00]
        var body = Data()
        for value in halves + bfloats { withUnsafeBytes(of: value.littleEndian) { body.append(contentsOf: $0) } }
        let header = #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}"#
        var file = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(Data(header.utf8))
        file.append(body)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("halves-\(UUID().uuidString).safetensors")
        try file.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let tensors = try SafeTensors(path: url.path)
        #expect(try tensors.tensor("h").values == [1, -2, 65504, Float(5.9604645e-8)])
        #expect(try tensors.tensor("b").values == [1, -0.5])
        #expect { try tensors.tensor("h", shape: [2, 2]) } throws: { "\($0)".contains("config says") }
    }
}

/// The portable loops (what a CPU without AVX2 runs) give the same embeddings. The switch holds for the
/// test's own thread, so these compute on one thread.
@Suite struct PortableKernelTests {
    @Test func portableKernelsMatchTheGoldenEmbeddings() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let embedder = try SentenceEmbedder(folder: folder)
        atr_use_portable_kernels(1)
        defer { atr_use_portable_kernels(0) }
        let cases = Array(MiniLMGolden.cases.prefix(64))
        for (golden, embedding) in zip(cases, embedder.embed(tokenized: cases.map(\.ids), parallel: Parallel(threads: 1))) {
            #expect(zip(golden.vector, embedding).map { abs($0 - $1) }.max()! <= 1e-5)
        }
    }

    @Test func portablePackedLinearMatchesAPlainLoop() {
        atr_use_portable_kernels(1)
        defer { atr_use_portable_kernels(0) }
        PackedLinearCheck.checkEveryShape(threads: 1)
    }
}
