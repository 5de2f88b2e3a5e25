import ArgumentParser
import AtriumML
import Foundation

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

        func run() async throws {
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
                let cache = LlamaModel.Cache(config: model.config, capacity: promptTokens + newTokens)
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
            print(String(format: "prompt %.1f tokens/s, decode %.1f tokens/s", prompts.sorted()[prompts.count / 2], decodes.sorted()[decodes.count / 2]))
        }

        private func seconds(since start: ContinuousClock.Instant) -> Double {
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
    }
}
