import Foundation
import Synchronization
import Testing

@testable import AtriumML

/// The generation engine on SmolLM2-135M-Instruct: continuous batching gives every request the tokens
/// it would get alone, and the engine's limits (queue, key/value budget, cancellation) hold.
@Suite(.serialized) struct GenerationEngineTests {
    /// The model and tokenizer, loaded once for the suite (nil without the model file).
    static let loaded: (model: LlamaModel, tokenizer: BPETokenizer)? = {
        guard let path = SmolLM2Golden.path, let file = try? GGUFFile(path: path) else { return nil }
        guard let model = try? LlamaModel(gguf: file), let tokenizer = try? BPETokenizer(gguf: file) else { return nil }
        return (model, tokenizer)
    }()

    func engine(_ configure: (inout GenerationEngine.Settings) -> Void = { _ in }) -> GenerationEngine? {
        guard let loaded = Self.loaded else { return nil }
        var settings = GenerationEngine.Settings()
        settings.threads = 2
        configure(&settings)
        return GenerationEngine(model: loaded.model, tokenizer: loaded.tokenizer, settings: settings)
    }

    func prompt(_ text: String) -> [Int] {
        Self.loaded!.tokenizer.encode("<|im_start|>user\n\(text)<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true)
    }

    /// Runs a request to its end: the tokens, the text and why it finished.
    func collect(_ engine: GenerationEngine, _ request: GenerationEngine.Request) async throws
        -> (tokens: [Int], text: String, finish: GenerationEngine.FinishReason, cached: Int)
    {
        var tokens: [Int] = []
        var text = ""
        for try await event in try engine.generate(request) {
            switch event {
            case .token(let sampled, let piece):
                tokens.append(sampled.token)
                text += piece
            case .finished(let reason, let piece, _, let cached):
                return (tokens, text + piece, reason, cached)
            case .prompt:
                break
            }
        }
        throw CancellationError()
    }

    func sampled(_ seed: UInt64) -> SamplingParameters {
        var parameters = SamplingParameters()
        parameters.seed = seed
        parameters.temperature = 0.9
        return parameters
    }

    @Test func greedyTokensAreTheReferencesContinuation() async throws {
        guard let engine = engine() else { return }
        defer { engine.shutdown() }
        var greedy = SamplingParameters()
        greedy.temperature = 0
        for golden in LlamaModelTests.golden.cases.prefix(4) {
            let result = try await collect(engine, .init(prompt: golden.ids, sampling: greedy, maxTokens: golden.continuation.count))
            #expect(result.tokens == golden.continuation, "\(golden.text.suffix(60).debugDescription)")
            #expect(result.finish == .length)
        }
    }

    @Test func batchedRequestsGetWhatTheyGetAlone() async throws {
        guard let engine = engine({ $0.prefixCacheEntries = 0 }) else { return }
        defer { engine.shutdown() }
        let questions = ["What is the capital of France?", "Write a haiku about rain.", "Count from one to five.", "Name a colour.",
                         "What is 2 + 2?", "Say hello in Spanish.", "Describe a cat.", "Why is the sky blue?"]
        let requests = questions.enumerated().map { index, question in
            GenerationEngine.Request(prompt: prompt(question), sampling: sampled(UInt64(index)), maxTokens: 12 + index)
        }
        var alone: [[Int]] = []
        for request in requests { alone.append(try await collect(engine, request).tokens) }
        let together = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask { (index, try await collect(engine, request).tokens) }
            }
            var results = [[Int]](repeating: [], count: requests.count)
            for try await (index, tokens) in group { results[index] = tokens }
            return results
        }
        #expect(together == alone)
        #expect(engine.statistics.steps < alone.reduce(0) { $0 + $1.count } * 2, "the requests shared steps")
    }

    @Test func aSharedPromptBeginningIsComputedOnce() async throws {
        guard let engine = engine() else { return }
        defer { engine.shutdown() }
        let system = "<|im_start|>system\nYou are a helpful assistant who answers in one short sentence, politely and clearly.<|im_end|>\n"
        func request(_ question: String) -> GenerationEngine.Request {
            var greedy = SamplingParameters()
            greedy.temperature = 0
            let ids = Self.loaded!.tokenizer.encode(system + "<|im_start|>user\n\(question)<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true)
            return .init(prompt: ids, sampling: greedy, maxTokens: 8)
        }
        let first = try await collect(engine, request("What is the capital of Italy?"))
        let second = try await collect(engine, request("What is the capital of Spain?"))
        #expect(first.cached == 0 && second.cached >= 20)
        // The same question again: everything but the last prompt token comes from the cache, and the
        // answer is the same.
        let again = try await collect(engine, request("What is the capital of Italy?"))
        #expect(again.tokens == first.tokens)
        #expect(again.cached == request("What is the capital of Italy?").prompt.count - 1)
    }

    @Test func sequencesSetBackForMemoryStillGetTheirTokens() async throws {
        // Room for about two sequences' worth of positions: four requests at once must take turns.
        guard let engine = engine({ $0.kvCacheBytes = 160 * Self.loaded!.model.cacheBytesPerPosition; $0.prefixCacheEntries = 0 })
        else { return }
        defer { engine.shutdown() }
        let requests = (0..<4).map { GenerationEngine.Request(prompt: prompt("Tell me a story number \($0)."), sampling: sampled(UInt64($0)), maxTokens: 40) }
        var alone: [[Int]] = []
        for request in requests { alone.append(try await collect(engine, request).tokens) }
        let together = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (index, request) in requests.enumerated() { group.addTask { (index, try await collect(engine, request).tokens) } }
            var results = [[Int]](repeating: [], count: requests.count)
            for try await (index, tokens) in group { results[index] = tokens }
            return results
        }
        #expect(together == alone)
        #expect(engine.statistics.positionsInUse <= engine.budget)
    }

    @Test func limitsAreRefusedClearly() async throws {
        guard let engine = engine({ $0.kvCacheBytes = 64 * Self.loaded!.model.cacheBytesPerPosition; $0.maxQueued = 1; $0.maxRunning = 1 })
        else { return }
        defer { engine.shutdown() }
        #expect(throws: GenerationEngine.Failure.tooLarge(positions: 101, budget: 64)) {
            try engine.generate(.init(prompt: Array(repeating: 28, count: 100), maxTokens: 1))
        }
        // One running, one waiting: a third is turned away at once.
        let running = try engine.generate(.init(prompt: prompt("Hi"), maxTokens: 30))
        while engine.statistics.running == 0 { await Task.yield() }
        let waiting = try engine.generate(.init(prompt: prompt("Hello"), maxTokens: 30))
        #expect(throws: GenerationEngine.Failure.overloaded(limit: 1)) { try engine.generate(.init(prompt: prompt("Hey"), maxTokens: 1)) }
        for try await _ in running {}
        for try await _ in waiting {}
        // A sequence that reaches the budget's edge ends with `length`.
        let long = try await collect(engine, .init(prompt: prompt("Write a long essay about the sea."), maxTokens: 1_000))
        #expect(long.finish == .length && prompt("Write a long essay about the sea.").count + long.tokens.count <= 64)
    }

    @Test func aStreamDroppedByItsClientFreesItsSeat() async throws {
        guard let engine = engine({ $0.maxRunning = 1 }) else { return }
        defer { engine.shutdown() }
        let abandoned = Task {
            var seen = 0
            for try await _ in try engine.generate(.init(prompt: prompt("Write a very long poem."), maxTokens: 10_000)) {
                seen += 1
                if seen == 3 { break }  // the client goes away
            }
        }
        try await abandoned.value
        // The only seat is free again: the next request runs to its end.
        let next = try await collect(engine, .init(prompt: prompt("Say yes."), sampling: sampled(1), maxTokens: 5))
        #expect(!next.tokens.isEmpty)
        #expect(engine.statistics.generatedTokens < 100, "the abandoned request stopped generating")
    }

    @Test func aLongPromptDoesNotStallTheRunningStreams() async throws {
        guard let engine = engine({ $0.prefillChunk = 32 }) else { return }
        defer { engine.shutdown() }
        // What each client sees, in the order it sees it.
        let log = EventLog()
        let running = Task {
            var seen = 0
            for try await event in try engine.generate(.init(prompt: prompt("Write a very long poem."), maxTokens: 60)) {
                guard case .token = event else { continue }
                seen += 1
                log.append("running")
                if seen == 3 {
                    // A prompt of about 450 tokens arrives while the first stream runs: 15 steps of 32.
                    let long = prompt(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 45))
                    Task {
                        log.append("long arrives")
                        for try await event in try engine.generate(.init(prompt: long, maxTokens: 2)) {
                            if case .token = event { log.append("long's first token") }
                            break
                        }
                    }
                }
            }
        }
        try await running.value
        let events = log.entries.withLock { $0 }
        let arrived = try #require(events.firstIndex(of: "long arrives"))
        let answered = try #require(events.firstIndex(of: "long's first token"))
        // Fed whole, the long prompt would take one step, between two of the stream's tokens; fed a chunk a
        // step beside the stream's tokens, the stream goes on meanwhile.
        let meanwhile = events[arrived..<answered].count { $0 == "running" }
        #expect(meanwhile >= 8, "the running stream got \(meanwhile) tokens while the long prompt was computed: \(events)")
    }

    /// With no stream decoding, nothing waits on a prompt: it goes in as few steps as the idle chunk allows.
    @Test func anIdleEngineTakesAPromptInLargerSteps() async throws {
        guard let engine = engine({ $0.prefillChunk = 32; $0.idlePrefillChunk = 256 }) else { return }
        defer { engine.shutdown() }
        let long = prompt(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 15))
        #expect(long.count > 100 && long.count <= 256)
        _ = try await collect(engine, .init(prompt: long, maxTokens: 1))
        // One step for the whole prompt (its logits give the one token), where chunks of 32 took four or more.
        #expect(engine.statistics.steps == 1 && engine.statistics.promptTokens == long.count, "\(engine.statistics)")
    }

    @Test func stopSequencesAndStopTokensEndTheText() async throws {
        guard let engine = engine() else { return }
        defer { engine.shutdown() }
        var greedy = SamplingParameters()
        greedy.temperature = 0
        let question = prompt("What is the capital of France?")
        let full = try await collect(engine, .init(prompt: question, sampling: greedy, maxTokens: 40, stopTokens: [2]))
        #expect(full.finish == .stop && full.text.contains("Paris"), "\(full.text)")
        let cut = try await collect(engine, .init(prompt: question, sampling: greedy, maxTokens: 40, stops: ["Paris"], stopTokens: [2]))
        #expect(cut.finish == .stop && !cut.text.contains("Paris") && full.text.hasPrefix(cut.text))
    }
}

/// What the clients of a test see, in the order they see it.
final class EventLog: Sendable {
    let entries = Mutex<[String]>([])
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
}
