import AtriumTemplates
import Foundation
import Testing

@testable import AtriumML

/// A tiny random Llama written by `tests/golden/make_tiny_llama.py` as a Hugging Face folder
/// (bfloat16 safetensors, `tokenizer.json`) and as the GGUF made from it, against transformers in
/// fp32: both layouts load, tokenize as Hugging Face `tokenizers` does, and give transformers' logits.
@Suite struct HuggingFaceLlamaTests {
    struct Golden: Decodable {
        struct Text: Decodable {
            var text: String
            var ids: [Int]
        }
        struct Prompt: Decodable {
            var text: String
            var ids: [Int]
            var logits: [[Float]]
        }
        var strings: [Text]
        var prompts: [Prompt]
    }

    static let root = MiniLMGolden.root
    static let folder = root.appendingPathComponent("tests/fixtures/tiny-llama/hf")
    static let gguf = root.appendingPathComponent("tests/fixtures/tiny-llama/tiny-llama.gguf")
    static let golden: Golden = {
        let data = try! Data(contentsOf: root.appendingPathComponent("tests/golden/tiny_llama.json"))
        return try! JSONDecoder().decode(Golden.self, from: data)
    }()

    @Test func tokenizerJSONAndGGUFTokenizeAsHuggingFace() throws {
        let fromJSON = try BPETokenizer(folder: Self.folder)
        let fromGGUF = try BPETokenizer(gguf: GGUFFile(path: Self.gguf.path))
        #expect(fromJSON.preTokenizer == .digitsThenGPT2)
        #expect(fromJSON.bos == fromGGUF.bos && fromJSON.eos == fromGGUF.eos && fromJSON.eos != nil)
        #expect(fromJSON.specialTokens.map(\.id).sorted() == fromGGUF.specialTokens.map(\.id).sorted())
        for golden in Self.golden.strings {
            #expect(fromJSON.encode(golden.text, parseSpecial: true) == golden.ids, "\(golden.text.debugDescription)")
            #expect(fromGGUF.encode(golden.text, parseSpecial: true) == golden.ids, "\(golden.text.debugDescription)")
            #expect(fromJSON.decode(golden.ids) == golden.text)
        }
    }

    /// Every position's logits of every prompt, both layouts, both paths; and the two layouts agree with
    /// each other far closer than with the reference (the same bfloat16 values, rotary pairs laid out
    /// two ways).
    @Test(arguments: [false, true]) func bothLayoutsGiveTransformersLogits(exact: Bool) throws {
        let hf = try LlamaModel(folder: Self.folder, exact: exact)
        let fromGGUF = try LlamaModel(gguf: GGUFFile(path: Self.gguf.path), exact: exact)
        #expect(hf.config == fromGGUF.config)
        #expect(hf.config.layers == 2 && hf.config.kvHeads == 2 && hf.config.ropeBase == 50_000)
        var worst = 0.0, apart = 0.0
        for prompt in Self.golden.prompts {
            let reference = prompt.logits.flatMap { $0 }
            func logits(_ model: LlamaModel) -> [Float] {
                let cache = model.makeCache(capacity: prompt.ids.count)
                return model.forward(prompt.ids, cache: cache, allLogits: true).values
            }
            let a = logits(hf), b = logits(fromGGUF)
            #expect(a.count == reference.count)
            for i in reference.indices {
                worst = max(worst, Double(abs(a[i] - reference[i])), Double(abs(b[i] - reference[i])))
                apart = max(apart, Double(abs(a[i] - b[i])))
            }
        }
        print("tiny Llama (\(exact ? "exact" : "default")): worst logit difference from transformers \(worst), between the layouts \(apart)")
        #expect(worst < 1e-4)
        #expect(apart < 1e-5)
    }

    /// A token decoded after its prompt (the generated-row kernels) gives the logits of the prompt's
    /// last position computed whole.
    @Test func decodedTokenMatchesThePromptPass() throws {
        let model = try LlamaModel(folder: Self.folder)
        let prompt = Self.golden.prompts[0]
        let cache = model.makeCache(capacity: prompt.ids.count)
        _ = model.forward(Array(prompt.ids.dropLast()), cache: cache)
        let decoded = model.forward([prompt.ids.last!], cache: cache).values
        let expected = prompt.logits.last!
        #expect(zip(decoded, expected).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func generatorFromEitherLayoutRendersTheSamePrompt() throws {
        let fromFolder = try GenerativeModel.source(in: Self.folder)
        #expect(fromFolder == .huggingFace(Self.folder))
        let hf = try GenerativeModel(source: #require(fromFolder))
        let gguf = try GenerativeModel(file: Self.gguf.path)
        defer {
            hf.shutdown()
            gguf.shutdown()
        }
        #expect(hf.hasOwnTemplate && gguf.hasOwnTemplate)
        let messages: [TemplateValue] = [.object(["role": "user", "content": "Hello, world! <|im_end|>"])]
        let prompt = try hf.chatPrompt(messages: messages)
        #expect(prompt == (try gguf.chatPrompt(messages: messages)))
        #expect(prompt.first == hf.tokenizer.bos)
        #expect(hf.stopTokens == gguf.stopTokens && hf.stopTokens.contains(hf.tokenizer.eos!))
    }

    /// The fixture's tensors split over two shards that `model.safetensors.index.json` names (as
    /// `save_pretrained` writes a large model) load as the single file does, to the same floats; an index
    /// whose shards overlap, or that names a file outside the folder, is refused with the reason.
    @Test func shardedSafetensorsLoadAsOneFile() throws {
        let manager = FileManager.default
        let single = try Data(contentsOf: Self.folder.appendingPathComponent("model.safetensors"))
        let headerSize = single.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: single.subdata(in: 8..<(8 + headerSize))) as! [String: Any]
        let dataStart = 8 + headerSize
        let names = header.keys.filter { $0 != "__metadata__" }.sorted()
        /// A safetensors file of `names`, their bytes copied from the single file.
        func shard(_ names: [String]) throws -> Data {
            var entries: [String: Any] = [:], body = Data()
            for name in names {
                let entry = header[name] as! [String: Any]
                let offsets = entry["data_offsets"] as! [Int]
                let begin = body.count
                body.append(single.subdata(in: (dataStart + offsets[0])..<(dataStart + offsets[1])))
                entries[name] = ["dtype": entry["dtype"]!, "shape": entry["shape"]!, "data_offsets": [begin, body.count]]
            }
            let json = try JSONSerialization.data(withJSONObject: entries, options: .sortedKeys)
            var size = UInt64(json.count).littleEndian
            return Data(bytes: &size, count: 8) + json + body
        }
        func folder(_ shards: [(file: String, names: [String])], index: [String: String]) throws -> URL {
            let copy = manager.temporaryDirectory.appendingPathComponent("tiny-llama-shards-\(UUID().uuidString)")
            try manager.copyItem(at: Self.folder, to: copy)
            try manager.removeItem(at: copy.appendingPathComponent("model.safetensors"))
            for (file, names) in shards { try shard(names).write(to: copy.appendingPathComponent(file)) }
            let object: [String: Any] = ["metadata": ["total_size": single.count - dataStart], "weight_map": index]
            try JSONSerialization.data(withJSONObject: object).write(to: copy.appendingPathComponent("model.safetensors.index.json"))
            return copy
        }
        let half = names.count / 2
        let first = Array(names[..<half]), second = Array(names[half...])
        let files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        let index = Dictionary(uniqueKeysWithValues: first.map { ($0, files[0]) } + second.map { ($0, files[1]) })
        let sharded = try folder([(files[0], first), (files[1], second)], index: index)
        defer { try? manager.removeItem(at: sharded) }
        let prompt = Self.golden.prompts[1].ids
        func logits(_ model: LlamaModel) -> [Float] {
            model.forward(prompt, cache: model.makeCache(capacity: prompt.count), allLogits: true).values
        }
        #expect(logits(try LlamaModel(folder: sharded)) == logits(try LlamaModel(folder: Self.folder)))

        let overlapping = try folder([(files[0], first + [second[0]]), (files[1], second)], index: index)
        defer { try? manager.removeItem(at: overlapping) }
        let outside = try folder([(files[0], first), (files[1], second)], index: index.mapValues { _ in "../model.safetensors" })
        defer { try? manager.removeItem(at: outside) }
        for (folder, reason) in [(overlapping, "holds tensor \(second[0]), which another shard holds too"), (outside, "names a shard outside the folder")] {
            do {
                _ = try LlamaModel(folder: folder)
                Issue.record("a folder whose index \(reason) loaded")
            } catch let error as ModelLoadError {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
    }

    /// Folders the engine cannot run faithfully are refused with the file and the reason.
    @Test func unsupportedFoldersAreRefusedWithTheReason() throws {
        let manager = FileManager.default
        func variant(_ change: (URL) throws -> Void) throws -> URL {
            let copy = manager.temporaryDirectory.appendingPathComponent("tiny-llama-\(UUID().uuidString)")
            try manager.copyItem(at: Self.folder, to: copy)
            try change(copy)
            return copy
        }
        func editConfig(_ folder: URL, _ edit: (inout [String: Any]) -> Void) throws {
            let url = folder.appendingPathComponent("config.json")
            var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            edit(&object)
            try JSONSerialization.data(withJSONObject: object).write(to: url)
        }
        let cases: [(String, (URL) throws -> Void)] = [
            ("llama3 rotary scaling", { try editConfig($0) { $0["rope_parameters"] = ["rope_type": "llama3", "rope_theta": 500_000.0] } }),
            ("biases", { try editConfig($0) { $0["attention_bias"] = true } }),
            ("no tensor model.layers.2.", { try editConfig($0) { $0["num_hidden_layers"] = 3 } }),
            ("has shape [160, 64], the config says [128, 64]", { try editConfig($0) { $0["intermediate_size"] = 128 } }),
            ("pre-tokenizer", { folder in
                let url = folder.appendingPathComponent("tokenizer.json")
                var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                object["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁"]
                try JSONSerialization.data(withJSONObject: object).write(to: url)
            }),
            ("model.safetensors: not a safetensors file", { try Data("not a model".utf8).write(to: $0.appendingPathComponent("model.safetensors")) }),
        ]
        for (reason, change) in cases {
            let folder = try variant(change)
            defer { try? manager.removeItem(at: folder) }
            do {
                _ = try GenerativeModel(source: .huggingFace(folder))
                Issue.record("a folder with \(reason) loaded")
            } catch let error as ModelLoadError {
                #expect("\(error)".contains(reason), "\(reason): \(error)")
            }
        }
    }
}

/// Scoring a prompt (`echo` with `logprobs`) in the engine, on the tiny Llama: fed in chunks beside
/// another sequence, every prompt token after the first gets the log-probability that the model's
/// logits of the position before give it, and a kept prefix is not taken in place of computing it.
@Suite struct PromptScoringTests {
    @Test func promptScoresAreTheModelsLogSoftmax() async throws {
        let model = try LlamaModel(gguf: GGUFFile(path: HuggingFaceLlamaTests.gguf.path))
        let tokenizer = try BPETokenizer(gguf: GGUFFile(path: HuggingFaceLlamaTests.gguf.path))
        var settings = GenerationEngine.Settings()
        settings.threads = 2
        settings.prefillChunk = 7
        settings.idlePrefillChunk = 7
        let engine = GenerationEngine(model: model, tokenizer: tokenizer, settings: settings)
        defer { engine.shutdown() }
        let prompt = HuggingFaceLlamaTests.golden.prompts[3].ids
        let expected = HuggingFaceLlamaTests.golden.prompts[3].logits.map { LlamaModelTests.logSoftmax($0) }
        var greedy = SamplingParameters()
        greedy.temperature = 0
        for _ in 0..<2 {  // the second time, the first run's cache is kept and must not be used
            let beside = try engine.generate(.init(prompt: HuggingFaceLlamaTests.golden.prompts[2].ids, sampling: greedy, maxTokens: 8))
            var scores: [SampledToken]?
            var generated = 0
            for try await event in try engine.generate(.init(prompt: prompt, sampling: greedy, maxTokens: 3, promptLogprobs: 2)) {
                switch event {
                case .prompt(let received):
                    #expect(scores == nil && generated == 0, "the scores come once, before any token")
                    scores = received
                case .token: generated += 1
                case .finished(_, _, _, let cached): #expect(cached == 0)
                }
            }
            for try await _ in beside {}
            let received = try #require(scores)
            #expect(received.count == prompt.count - 1)
            for (index, score) in received.enumerated() {
                let reference = expected[index]
                #expect(score.token == prompt[index + 1])
                #expect(abs(Double(score.logprob) - reference[score.token]) < 1e-4)
                let best = reference.indices.sorted { reference[$0] > reference[$1] }.prefix(2)
                #expect(score.top.map(\.token) == Array(best))
            }
        }
    }
}
