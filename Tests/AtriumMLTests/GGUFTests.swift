import Foundation
import Testing

@testable import AtriumML

/// SmolLM2-135M-Instruct's GGUF and the reference values `tests/golden/make_smollm2_tensors.py` read
/// from it with llama.cpp's `gguf` package.
enum SmolLM2Golden {
    struct Tensor: Decodable {
        var name: String
        var type: String
        var shape: [Int]
        var first: [Float]
        var row7: [Float]
        var sum: Double
    }

    struct File: Decodable {
        var version: Int
        var tensor_count: Int
        var architecture: String
        var block_count: Int
        var rope_freq_base: Double
        var token_count: Int
        var tokens: [String: String]
        var merge_count: Int
        var merges: [String]
        var token_types: [Int]
        var chat_template: String
        var tensors: [Tensor]
    }

    static let golden: File = {
        let data = try! Data(contentsOf: MiniLMGolden.root.appendingPathComponent("tests/golden/smollm2_tensors.json"))
        return try! JSONDecoder().decode(File.self, from: data)
    }()

    /// The model file (`scripts/fetch-smollm2.sh` puts it there; `ATRIUM_SMOLLM2` points elsewhere), or
    /// nil with the reason printed. On CI its absence is a failure, not a skip.
    static var path: String? {
        let path = ProcessInfo.processInfo.environment["ATRIUM_SMOLLM2"]
            ?? MiniLMGolden.root.appendingPathComponent(".cache/smollm2-135m-instruct.Q4_1.gguf").path
        if FileManager.default.fileExists(atPath: path) { return path }
        if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("SmolLM2 is not at \(path): scripts/fetch-smollm2.sh fetches it") }
        print("note: the SmolLM2 tests are not run: SmolLM2 is not at \(path) (scripts/fetch-smollm2.sh fetches it)")
        return nil
    }
}

/// Writes GGUF files for tests: metadata of every value type and tensors of every type the engine reads.
struct GGUFBuilder {
    var version: UInt32 = 3
    var metadata: [(key: String, type: UInt32, payload: Data)] = []
    var tensors: [(name: String, shape: [UInt64], type: UInt32, data: Data)] = []
    var alignment = 32
    /// Added to every tensor's offset, to make a misaligned one.
    var offsetSkew: UInt64 = 0

    static func string(_ text: String) -> Data { uint64(UInt64(text.utf8.count)) + Data(text.utf8) }
    static func uint64(_ value: UInt64) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
    static func uint32(_ value: UInt32) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
    static func uint16(_ value: UInt16) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }

    mutating func add(_ key: String, uint32 value: UInt32) { metadata.append((key, 4, Self.uint32(value))) }
    mutating func add(_ key: String, string value: String) { metadata.append((key, 8, Self.string(value))) }
    mutating func add(_ key: String, strings values: [String]) {
        metadata.append((key, 9, Self.uint32(8) + Self.uint64(UInt64(values.count)) + values.reduce(Data()) { $0 + Self.string($1) }))
    }

    func build() -> Data {
        var out = Data("GGUF".utf8) + Self.uint32(version) + Self.uint64(UInt64(tensors.count)) + Self.uint64(UInt64(metadata.count))
        for entry in metadata { out += Self.string(entry.key) + Self.uint32(entry.type) + entry.payload }
        var offset: UInt64 = 0
        var layout: [UInt64] = []
        for tensor in tensors {
            layout.append(offset)
            offset += UInt64((tensor.data.count + alignment - 1) / alignment * alignment)
        }
        for (tensor, start) in zip(tensors, layout) {
            out += Self.string(tensor.name) + Self.uint32(UInt32(tensor.shape.count)) + tensor.shape.reduce(Data()) { $0 + Self.uint64($1) }
            out += Self.uint32(tensor.type) + Self.uint64(start + offsetSkew)
        }
        out += Data(count: (alignment - out.count % alignment) % alignment)
        for (index, tensor) in tensors.enumerated() {
            out += tensor.data
            if index < tensors.count - 1 { out += Data(count: (alignment - tensor.data.count % alignment) % alignment) }
        }
        return out
    }
}

@Suite struct GGUFTests {
    @Test func smolLM2MetadataAndTensorsMatchLlamaCppsReader() throws {
        guard let path = SmolLM2Golden.path else { return }
        let golden = SmolLM2Golden.golden
        let file = try GGUFFile(path: path)
        #expect(file.version == golden.version && file.tensors.count == golden.tensor_count && file.tensorNames.count == golden.tensor_count)
        #expect(file.metadata["general.architecture"]?.string == golden.architecture)
        #expect(try file.requiredInt("llama.block_count") == golden.block_count)
        #expect(file.metadata["llama.rope.freq_base"]?.double == golden.rope_freq_base)
        #expect(file.metadata["tokenizer.chat_template"]?.string == golden.chat_template)
        let tokens = try #require(file.metadata["tokenizer.ggml.tokens"]?.strings)
        #expect(tokens.count == golden.token_count)
        for (index, token) in golden.tokens { #expect(tokens[Int(index)!] == token) }
        let merges = try #require(file.metadata["tokenizer.ggml.merges"]?.strings)
        #expect(merges.count == golden.merge_count && Array(merges.prefix(5) + merges.suffix(2)) == golden.merges)
        #expect(file.metadata["tokenizer.ggml.token_type"]?.ints?.prefix(20).elementsEqual(golden.token_types) == true)
        for expected in golden.tensors {
            let info = try file.info(expected.name, shape: expected.shape)
            #expect(info.type.name == expected.type)
            #expect(info.offset % file.alignment == 0)
            let values = try file.floats(expected.name)
            #expect(values.shape == expected.shape.reversed())
            let row = expected.shape[0]
            #expect(Array(values.values.prefix(40)) == expected.first, "\(expected.name)")
            if !expected.row7.isEmpty { #expect(Array(values.values[(7 * row)..<(7 * row + 40)]) == expected.row7, "\(expected.name)") }
            let sum = values.values.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - expected.sum) <= 1e-9 * max(1, abs(expected.sum)) * Double(values.count), "\(expected.name): \(sum) vs \(expected.sum)")
        }
    }

    /// Every element type, both versions, every metadata value type.
    @Test(arguments: [UInt32(2), 3]) func everyTypeReadsBack(version: UInt32) throws {
        var builder = GGUFBuilder(version: version)
        builder.add("general.architecture", string: "llama")
        builder.add("llama.block_count", uint32: 2)
        builder.add("tokenizer.ggml.tokens", strings: ["a", "é", "<|im_end|>"])
        builder.metadata.append(("f64", 12, withUnsafeBytes(of: Double(2.5).bitPattern.littleEndian) { Data($0) }))
        builder.metadata.append(("i8", 1, Data([0xFE])))
        builder.metadata.append(("flag", 7, Data([1])))
        builder.metadata.append(("i64", 11, GGUFBuilder.uint64(UInt64(bitPattern: -7))))
        let floats: [Float] = [1, -2, 0.5, 3]
        builder.tensors.append(("f32", [4], 0, floats.reduce(Data()) { $0 + GGUFBuilder.uint32($1.bitPattern) }))
        builder.tensors.append(("f16", [2, 2], 1, [0x3C00, 0xC000, 0x3800, 0x4200].reduce(Data()) { $0 + GGUFBuilder.uint16($1) }))
        builder.tensors.append(("bf16", [2], 30, [0x3F80, 0xBF00].reduce(Data()) { $0 + GGUFBuilder.uint16($1) }))
        // Q8_0: d = 0.5, q = -16..15 → x = q / 2.
        builder.tensors.append(("q8_0", [32], 8, GGUFBuilder.uint16(0x3800) + Data((0..<32).map { UInt8(bitPattern: Int8($0 - 16)) })))
        // Q4_0: d = 2, nibbles j (low) and 15 − j (high) → x = 2·(q − 8).
        builder.tensors.append(("q4_0", [32], 2, GGUFBuilder.uint16(0x4000) + Data((0..<16).map { UInt8($0 | ((15 - $0) << 4)) })))
        // Q4_1: d = 0.5, m = −1 → x = q/2 − 1.
        builder.tensors.append(("q4_1", [32, 2], 3, (0..<2).reduce(Data()) { block, _ in
            block + GGUFBuilder.uint16(0x3800) + GGUFBuilder.uint16(0xBC00) + Data((0..<16).map { UInt8($0 | ((15 - $0) << 4)) })
        }))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("types-\(UUID().uuidString).gguf")
        try builder.build().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try GGUFFile(path: url.path)
        #expect(file.version == Int(version))
        #expect(file.metadata["general.architecture"] == .string("llama") && file.metadata["llama.block_count"]?.int == 2)
        #expect(file.metadata["tokenizer.ggml.tokens"]?.strings == ["a", "é", "<|im_end|>"])
        #expect(file.metadata["f64"]?.double == 2.5 && file.metadata["i8"]?.int == -2 && file.metadata["flag"]?.bool == true)
        #expect(file.metadata["i64"]?.int == -7)
        #expect(file.tensorNames == ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"])
        #expect(try file.floats("f32").values == floats)
        #expect(try file.floats("f16").values == [1, -2, 0.5, 3] && file.tensors["f16"]?.shape == [2, 2])
        #expect(try file.floats("bf16").values == [1, -0.5])
        #expect(try file.floats("q8_0").values == (0..<32).map { Float($0 - 16) / 2 })
        let q4 = (0..<16).map { Float($0) } + (0..<16).map { Float(15 - $0) }
        #expect(try file.floats("q4_0").values == q4.map { 2 * ($0 - 8) })
        let q41 = try file.floats("q4_1")
        #expect(q41.shape == [2, 32] && q41.values == (q4 + q4).map { $0 / 2 - 1 })
    }

    @Test func brokenFilesAreRefusedWithTheFileTensorAndProblem() throws {
        var builder = GGUFBuilder()
        builder.add("general.architecture", string: "llama")
        builder.tensors.append(("blk.0.attn_q.weight", [32, 2], 3, Data(count: 40)))
        let good = builder.build()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func problem(_ data: Data) -> String? {
            let url = directory.appendingPathComponent("model.gguf")
            try? data.write(to: url)
            do {
                _ = try GGUFFile(path: url.path)
                return nil
            } catch let error as ModelLoadError {
                #expect(error.file == "model.gguf")
                return error.problem
            } catch {
                Issue.record("not a ModelLoadError: \(error)")
                return "\(error)"
            }
        }
        #expect(problem(good) == nil)
        // Cut anywhere: refused, never a crash.
        for length in 0..<good.count {
            let cut = problem(good.prefix(length))
            #expect(cut != nil, "cut at \(length) of \(good.count)")
        }
        #expect(problem(good.prefix(good.count - 10))?.contains("blk.0.attn_q.weight") == true)
        #expect(problem(Data("GGML".utf8) + good.dropFirst(4))?.contains("not a GGUF file") == true)
        var old = builder
        old.version = 1
        #expect(problem(old.build())?.contains("version 1") == true)
        var k = builder
        k.tensors[0].type = 14
        #expect(problem(k.build()).map { $0.contains("blk.0.attn_q.weight") && $0.contains("Q6_K") } == true)
        var odd = builder
        odd.tensors[0].shape = [31, 2]
        #expect(problem(odd.build())?.contains("whole blocks") == true)
        var skewed = builder
        skewed.offsetSkew = 4
        #expect(problem(skewed.build())?.contains("alignment") == true)
        // A count no file could hold.
        var huge = good
        huge.replaceSubrange(8..<16, with: GGUFBuilder.uint64(1 << 60))
        #expect(problem(huge)?.contains("more than the file can hold") == true)
        var deep = GGUFBuilder()
        deep.metadata.append(("nested", 9, GGUFBuilder.uint32(9) + GGUFBuilder.uint64(1) + GGUFBuilder.uint32(9) + GGUFBuilder.uint64(0)))
        #expect(problem(deep.build())?.contains("nested") == true)
    }
}
