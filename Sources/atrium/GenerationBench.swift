import ArgumentParser
import AtriumML
import Foundation

extension KernelSet: ExpressibleByArgument {}

extension Models {
    struct BenchGenerate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench-generate",
            abstract: "Measure a GGUF chat model's speed on this machine: prompt and decode tokens per second, in-process.")

        @Argument(help: "A GGUF file.") var file: String
        @Option(help: "Prompt tokens.") var promptTokens = 128
        @Option(help: "New tokens decoded after the prompt (greedy).") var newTokens = 128
        @Option(help: "Cores to use (default: all).") var threads: Int?
        @Flag(help: "fp32 activations everywhere (the exact path).") var exact = false
        @Option(help: "Repetitions; the median is printed.") var repetitions = 3
        @Option(help: "Also decode this many sequences together, a pass per token for all (aggregate tokens/s).") var streams = 0
        @Option(help: "The engine's kernels: auto (every kind this CPU has) or avx2 (AVX2 at most, as on a CPU without AVX-512).")
        var kernels: KernelSet = .auto

        func run() async throws {
            KernelSet.use(kernels)
            let model: LlamaModel
            do {
                model = try LlamaModel(gguf: GGUFFile(path: file), exact: exact)
            } catch let error as ModelLoadError {
                throw ValidationError("Cannot load \(file): \(error)")
            }
            guard promptTokens > 0, newTokens >= 0, promptTokens + newTokens <= model.config.contextLength, repetitions > 0 else {
                throw ValidationError("Give at least one prompt token, and no more tokens in all than the model's context (\(model.config.contextLength)).")
            }
            let pool = WorkerPool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            defer { pool.shutdown() }
            let parallel = Parallel(pool: pool)
            // A prompt of ordinary tokens (ids past the special ones), the same every run.
            let prompt = (0..<promptTokens).map { 100 + ($0 * 7919) % (model.config.vocabularySize - 100) }
            var prompts: [Double] = []
            var decodes: [Double] = []
            for _ in 0..<repetitions {
                let cache = model.makeCache(capacity: promptTokens + newTokens)
                var start = ContinuousClock.now
                var logits = model.forward(prompt, cache: cache, parallel: parallel)
                prompts.append(Double(promptTokens) / seconds(since: start))
                start = ContinuousClock.now
                for _ in 0..<newTokens {
                    let values = logits.values
                    let next = values.indices.max { values[$0] < values[$1] }!
                    logits = model.forward([next], cache: cache, parallel: parallel)
                }
                decodes.append(Double(newTokens) / seconds(since: start))
            }
            if streams > 0 {
                print(String(format: "%d streams %.1f tokens/s", streams, batchedDecode(model, prompt: prompt, parallel: parallel)))
            }
            print(String(format: "prompt %.1f tokens/s, decode %.1f tokens/s", prompts.sorted()[prompts.count / 2], decodes.sorted()[decodes.count / 2]))
        }

        /// `streams` sequences with distinct prompts decode greedily together, one pass a step: the engine's
        /// steps without its scheduling and sampling.
        private func batchedDecode(_ model: LlamaModel, prompt: [Int], parallel: Parallel) -> Double {
            var caches: [LlamaModel.Cache] = []
            var next: [Int] = []
            for stream in 0..<streams {
                let cache = model.makeCache(capacity: promptTokens + newTokens)
                let values = model.forward(Array(prompt.dropFirst(stream % prompt.count)) + [stream + 200], cache: cache, parallel: parallel).values
                caches.append(cache)
                next.append(values.indices.max { values[$0] < values[$1] }!)
            }
            let vocabulary = model.config.vocabularySize
            let start = ContinuousClock.now
            for _ in 0..<newTokens {
                let segments = zip(next, caches).map { LlamaModel.Segment(tokens: [$0], cache: $1, generatedFrom: 0) }
                let logits = model.forward(segments, parallel: parallel).values
                next = (0..<streams).map { stream in
                    let row = logits[(stream * vocabulary)..<((stream + 1) * vocabulary)]
                    return row.indices.max { row[$0] < row[$1] }! - stream * vocabulary
                }
            }
            return Double(streams * newTokens) / seconds(since: start)
        }

        private func seconds(since start: ContinuousClock.Instant) -> Double {
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
    }
}
