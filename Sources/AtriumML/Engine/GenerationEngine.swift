import Foundation

/// Serves a Llama model to many requests at once, on a thread of its own that owns the cores.
///
/// Continuous batching: every step runs one pass over all running sequences, a token each for those
/// decoding and a chunk of the prompt for those starting, so sequences join and leave the batch at any
/// step, and a long prompt is fed a chunk per step instead of stalling the streams beside it. Keys and
/// values live within a budget of positions: a request waits while the budget is full, the newest
/// sequence is set back to recompute later when a running one needs room, and the caches of finished
/// sequences are kept (while there is room) so that a request sharing their prompt's beginning (a
/// system prompt, a conversation's earlier turns) skips computing it.
public final class GenerationEngine: @unchecked Sendable {
    public struct Settings: Sendable {
        /// Sequences decoded together at most.
        public var maxRunning = 16
        /// Requests waiting at most; more are refused at once.
        public var maxQueued = 64
        /// Memory for keys and values, across every sequence.
        public var kvCacheBytes = 512 << 20
        /// Prompt tokens fed in one step at most, beside the decoding sequences' tokens.
        public var prefillChunk = 64
        /// Prompt tokens fed in one step at most when no sequence is decoding: no stream waits on them, and
        /// a prompt in fewer, larger steps comes sooner (its products take many rows at once).
        public var idlePrefillChunk = 256
        /// Finished sequences kept for their prompts' beginnings.
        public var prefixCacheEntries = 8
        /// Cores a pass is spread over: every core by default.
        public var threads = ProcessInfo.processInfo.activeProcessorCount

        public init() {}
    }

    /// One completion to generate: the prompt's token ids and how to continue it.
    public struct Request: Sendable {
        public var prompt: [Int]
        public var sampling: SamplingParameters
        /// Tokens to generate at most (the caller keeps prompt plus this within the context).
        public var maxTokens: Int
        /// Texts that end the completion, matched across tokens and never shown.
        public var stops: [String]
        /// Tokens that end the completion (end of text, end of turn), never shown.
        public var stopTokens: Set<Int>
        /// Set to score the prompt: every prompt token after the first gets its log-probability, with this
        /// many alternatives, in a `.prompt` event before the first generated token.
        public var promptLogprobs: Int?

        public init(
            prompt: [Int], sampling: SamplingParameters = SamplingParameters(), maxTokens: Int, stops: [String] = [], stopTokens: Set<Int> = [],
            promptLogprobs: Int? = nil
        ) {
            self.prompt = prompt
            self.sampling = sampling
            self.maxTokens = maxTokens
            self.stops = stops
            self.stopTokens = stopTokens
            self.promptLogprobs = promptLogprobs
        }
    }

    public enum FinishReason: String, Sendable {
        case stop, length
    }

    public enum Event: Sendable {
        /// The prompt's tokens after the first, scored (only when the request asks, `promptLogprobs`).
        case prompt([SampledToken])
        /// A generated token and the text it releases (often all of it, sometimes nothing yet).
        case token(SampledToken, text: String)
        /// The end: why, what the last token still released, the tokens generated (a stop token among
        /// them, though it has no event of its own) and the prompt tokens taken from a cached prefix
        /// rather than computed.
        case finished(FinishReason, text: String, generatedTokens: Int, cachedPromptTokens: Int)
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case overloaded(limit: Int)
        case tooLarge(positions: Int, budget: Int)
        case stopped
        /// No prompt token, or no token to generate.
        case emptyRequest

        public var description: String {
            switch self {
            case .overloaded(let limit): "the generation engine is busy (\(limit) requests waiting); retry shortly"
            case .tooLarge(let positions, let budget):
                "the request needs \(positions) positions of key/value cache and the engine has \(budget) in all"
            case .stopped: "the generation engine has stopped"
            case .emptyRequest: "a request needs at least one prompt token and one token to generate"
            }
        }
    }

    public let model: LlamaModel
    public let tokenizer: BPETokenizer
    public let settings: Settings
    /// The key/value budget in positions.
    public let budget: Int
    private let workers: WorkerPool
    private let condition = NSCondition()
    private var queue: [Sequence] = []
    private var running: [Sequence] = []
    private var prefixes: [Sequence] = []
    private var stopped = false
    private var counters = Statistics()

    public init(model: LlamaModel, tokenizer: BPETokenizer, settings: Settings = Settings()) {
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        budget = max(1, settings.kvCacheBytes / model.cacheBytesPerPosition)
        workers = WorkerPool(threads: settings.threads)
        let thread = Thread { [self] in run() }
        thread.name = "atrium-generation"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Starts generating; the stream yields the tokens as they come and ends with `.finished`. Ending
    /// the stream early (the client went away) stops the work at the next step.
    public func generate(_ request: Request) throws -> AsyncThrowingStream<Event, any Error> {
        let needed = request.prompt.count + 1
        guard needed <= budget else { throw Failure.tooLarge(positions: needed, budget: budget) }
        guard !request.prompt.isEmpty, request.maxTokens > 0 else { throw Failure.emptyRequest }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Event.self, throwing: (any Error).self)
        let sequence = Sequence(request: request, tokenizer: tokenizer, continuation: continuation)
        condition.lock()
        defer { condition.unlock() }
        if stopped { throw Failure.stopped }
        guard queue.count < settings.maxQueued else { throw Failure.overloaded(limit: settings.maxQueued) }
        queue.append(sequence)
        condition.signal()
        continuation.onTermination = { [weak self, weak sequence] termination in
            guard case .cancelled = termination, let self, let sequence else { return }
            self.condition.lock()
            sequence.cancelled = true
            self.condition.signal()
            self.condition.unlock()
        }
        return stream
    }

    public struct Statistics: Sendable {
        /// Steps run, tokens generated and prompt tokens computed or taken from cached prefixes.
        public var steps = 0
        public var generatedTokens = 0
        public var promptTokens = 0
        public var cachedPromptTokens = 0
        /// Sequences set back to free memory.
        public var preemptions = 0
        /// Now: requests waiting and sequences running.
        public var queued = 0
        public var running = 0
        /// Now: key/value positions held by running sequences and by kept prefixes.
        public var positionsInUse = 0
    }

    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var statistics = counters
        statistics.queued = queue.count
        statistics.running = running.count
        statistics.positionsInUse = positionsInUse
        return statistics
    }

    /// Refuses new work, fails what is waiting or running, and lets the thread end.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    // MARK: - The engine's thread

    /// A request on its way: its tokens so far (prompt, then what was generated), how many of them
    /// its cache holds, and what turns tokens into events. Touched by the engine's thread only, but for
    /// `cancelled`, which is guarded by the engine's lock (hence the unchecked Sendable: the cancelling
    /// closure reaches it only under that lock).
    private final class Sequence: @unchecked Sendable {
        let request: Request
        var tokens: [Int]
        var cache: LlamaModel.Cache?
        var sampler: Sampler
        var text: TextStream
        var generated = 0
        var cachedPromptTokens = 0
        /// The prompt's scores so far, while a request that asks for them is fed its prompt.
        var promptScores: [SampledToken]?
        var cancelled = false
        let continuation: AsyncThrowingStream<Event, any Error>.Continuation

        init(request: Request, tokenizer: BPETokenizer, continuation: AsyncThrowingStream<Event, any Error>.Continuation) {
            self.request = request
            tokens = request.prompt
            sampler = Sampler(request.sampling)
            text = TextStream(tokenizer: tokenizer, stops: request.stops)
            self.continuation = continuation
        }

        var fed: Int { cache?.count ?? 0 }
        var positions: Int { cache?.capacity ?? 0 }
    }

    private var positionsInUse: Int { (running + prefixes).reduce(0) { $0 + $1.positions } }

    private func run() {
        while let batch = nextStep() {
            step(batch)
        }
        condition.lock()
        let abandoned = queue + running
        queue.removeAll()
        running.removeAll()
        prefixes.removeAll()
        condition.unlock()
        for sequence in abandoned { sequence.continuation.finish(throwing: Failure.stopped) }
    }

    /// Waits for work; drops what was cancelled, admits what fits, and returns what each running
    /// sequence feeds this step. Nil once stopped.
    private func nextStep() -> [(sequence: Sequence, tokens: [Int])]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopped { return nil }
            for sequence in (queue + running) where sequence.cancelled { sequence.continuation.finish() }
            queue.removeAll { $0.cancelled }
            running.removeAll { $0.cancelled }
            admit()
            if !running.isEmpty { break }
            condition.wait()
        }
        // Decoding sequences first, a token each; then prompts, a chunk at a time within the step's share.
        var batch: [(sequence: Sequence, tokens: [Int])] = []
        for sequence in running where sequence.tokens.count - sequence.fed == 1 {
            batch.append((sequence, [sequence.tokens.last!]))
        }
        var promptShare = batch.isEmpty ? max(settings.prefillChunk, settings.idlePrefillChunk) : settings.prefillChunk
        for sequence in running where sequence.tokens.count - sequence.fed > 1 && promptShare > 0 {
            let chunk = Array(sequence.tokens[sequence.fed..<min(sequence.tokens.count, sequence.fed + promptShare)])
            promptShare -= chunk.count
            batch.append((sequence, chunk))
        }
        return makeRoom(for: batch)
    }

    /// Moves waiting requests into the batch while there are seats and memory for their prompts.
    private func admit() {
        while running.count < settings.maxRunning, let next = queue.first {
            let needed = next.tokens.count + 1
            while positionsInUse + needed > budget && !prefixes.isEmpty { prefixes.removeFirst() }
            guard positionsInUse + needed <= budget else { return }
            queue.removeFirst()
            let cache = model.makeCache(capacity: needed)
            // The longest beginning a kept sequence shares with this one, short of its last token (whose
            // logits are still to be computed).
            var best: (sequence: Sequence, length: Int)?
            for kept in prefixes {
                guard let keptCache = kept.cache else { continue }
                let limit = min(keptCache.count, next.tokens.count - 1)
                var length = 0
                while length < limit && kept.tokens[length] == next.tokens[length] { length += 1 }
                if length > (best?.length ?? 0) { best = (kept, length) }
            }
            // A prompt to score is computed whole: a kept prefix has no logits to score it with.
            next.promptScores = next.request.promptLogprobs != nil && next.generated == 0 ? [] : nil
            if let best, let keptCache = best.sequence.cache, best.length >= 16, next.promptScores == nil {
                cache.copyPrefix(of: keptCache, positions: best.length)
                if next.generated == 0 { next.cachedPromptTokens = best.length }
                counters.cachedPromptTokens += best.length
            }
            next.cache = cache
            running.append(next)
        }
    }

    /// Grows the caches of `batch` for this step, within the budget: kept prefixes go first, then the
    /// newest running sequences are set back to the queue's head (their cache dropped, to be recomputed
    /// later), and leave this step.
    private func makeRoom(for batch: [(sequence: Sequence, tokens: [Int])]) -> [(sequence: Sequence, tokens: [Int])] {
        var batch = batch
        func growth() -> Int {
            batch.reduce(0) { total, entry in
                let needed = entry.sequence.fed + entry.tokens.count
                let grown = needed <= entry.sequence.positions ? 0 : (max(needed, entry.sequence.positions * 3 / 2) + 63) / 64 * 64
                return total + (grown == 0 ? 0 : grown - entry.sequence.positions)
            }
        }
        while positionsInUse + growth() > budget {
            if !prefixes.isEmpty {
                prefixes.removeFirst()
            } else if running.count > 1, let newest = running.popLast() {
                newest.cache = nil
                queue.insert(newest, at: 0)
                batch.removeAll { $0.sequence === newest }
                counters.preemptions += 1
            } else {
                break  // one sequence alone: it may use the whole budget (`finish` ends it at the edge)
            }
        }
        return batch
    }

    private func step(_ batch: [(sequence: Sequence, tokens: [Int])]) {
        guard !batch.isEmpty else { return }
        for entry in batch {
            let needed = entry.sequence.fed + entry.tokens.count
            entry.sequence.cache!.reserve(needed, exactly: needed + 64 > budget)
        }
        let starts = batch.map(\.sequence.fed)
        let segments = batch.map { entry in
            LlamaModel.Segment(
                tokens: entry.tokens, cache: entry.sequence.cache!, generatedFrom: entry.sequence.request.prompt.count,
                allLogits: entry.sequence.promptScores != nil)
        }
        let logits = model.forward(segments, parallel: Parallel(pool: workers))
        let vocabulary = model.config.vocabularySize
        // Each entry's rows of logits: one, or one per token fed when its prompt is being scored.
        let lastRow = segments.reduce(into: [Int]()) { rows, segment in rows.append((rows.last ?? -1) + (segment.allLogits ? segment.tokens.count : 1)) }
        scorePrompts(batch, starts: starts, lastRow: lastRow, logits: logits)
        // The sequences whose prompt is all in sample a token each; they do so in parallel (a sampler
        // reads the whole vocabulary, and sixteen of them one after another would cost a step's time).
        let sampling = batch.indices.filter { batch[$0].sequence.fed == batch[$0].sequence.tokens.count }
        let sampled = SampledTokens(count: sampling.count)
        Parallel(pool: workers).tasks(sampling.count) { _, task in
            let index = sampling[task]
            let row = Array(UnsafeBufferPointer(start: logits.pointer + lastRow[index] * vocabulary, count: vocabulary))
            sampled.store(batch[index].sequence.sampler.next(row), at: task)
        }
        // The step is counted before its tokens are handed over, so whoever holds a token sees its step.
        let promptTokens = batch.reduce(0) { $0 + ($1.sequence.generated == 0 ? $1.tokens.count : 0) }
        condition.withLock {
            counters.steps += 1
            counters.promptTokens += promptTokens
            counters.generatedTokens += sampling.count
        }
        var finished: [Sequence] = []
        for (task, index) in sampling.enumerated() {
            let sequence = batch[index].sequence
            sequence.generated += 1
            if let reason = advance(sequence, with: sampled[task]) {
                sequence.continuation.yield(
                    .finished(reason, text: sequence.text.finish(), generatedTokens: sequence.generated, cachedPromptTokens: sequence.cachedPromptTokens))
                sequence.continuation.finish()
                finished.append(sequence)
            }
        }
        condition.lock()
        defer { condition.unlock() }
        running.removeAll { sequence in finished.contains { $0 === sequence } }
        for sequence in finished where settings.prefixCacheEntries > 0 {
            prefixes.append(sequence)
            if prefixes.count > settings.prefixCacheEntries { prefixes.removeFirst() }
        }
    }

    /// Scores the prompt tokens that this step's logits predict, for the sequences that asked, and hands
    /// the scores over once a prompt is all in.
    private func scorePrompts(_ batch: [(sequence: Sequence, tokens: [Int])], starts: [Int], lastRow: [Int], logits: Tensor) {
        let vocabulary = model.config.vocabularySize
        for (index, entry) in batch.enumerated() {
            let sequence = entry.sequence
            guard var scores = sequence.promptScores, let top = sequence.request.promptLogprobs else { continue }
            let prompt = sequence.request.prompt
            let firstRow = lastRow[index] - entry.tokens.count + 1
            // The logits at position p predict the token at p + 1.
            for offset in entry.tokens.indices where starts[index] + offset + 1 < prompt.count {
                let row = Array(UnsafeBufferPointer(start: logits.pointer + (firstRow + offset) * vocabulary, count: vocabulary))
                scores.append(Sampler.score(row, token: prompt[starts[index] + offset + 1], top: top))
            }
            if sequence.fed == sequence.tokens.count {
                sequence.continuation.yield(.prompt(scores))
                sequence.promptScores = nil
            } else {
                sequence.promptScores = scores
            }
        }
    }

    /// One slot per sampling sequence, each written by one parallel task: disjoint writes to storage
    /// allocated before the tasks start and read after they all end (`Parallel` waits for them).
    private final class SampledTokens: @unchecked Sendable {
        private let slots: UnsafeMutableBufferPointer<SampledToken?>

        init(count: Int) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: nil)
        }

        deinit {
            slots.deinitialize()
            slots.deallocate()
        }

        func store(_ token: SampledToken, at index: Int) { slots[index] = token }
        subscript(index: Int) -> SampledToken { slots[index]! }
    }

    /// Takes a sampled token into the sequence and says why it ends, if it does.
    private func advance(_ sequence: Sequence, with sampled: SampledToken) -> FinishReason? {
        if sequence.request.stopTokens.contains(sampled.token) { return .stop }
        let text = sequence.text.append(sampled.token)
        sequence.tokens.append(sampled.token)
        sequence.continuation.yield(.token(sampled, text: text))
        if sequence.text.stopped { return .stop }
        if sequence.generated >= sequence.request.maxTokens || sequence.tokens.count >= min(model.config.contextLength, budget) { return .length }
        return nil
    }
}
