import Foundation

/// Runs a sentence embedder on a thread of its own, which owns the cores: requests queue, and the
/// thread takes whatever is waiting (after a short window, so requests arriving together share a
/// batch) and runs it as one packed batch. A request whose caller went away is dropped before it
/// runs; a full queue refuses new work at once instead of letting latency grow without bound.
public final class EmbeddingEngine: @unchecked Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The queue holds `limit` sequences already.
        case overloaded(limit: Int)
        case stopped

        public var description: String {
            switch self {
            case .overloaded(let limit): "the embedding engine is busy (\(limit) sequences queued); retry shortly"
            case .stopped: "the embedding engine has stopped"
            }
        }
    }

    public struct Settings: Sendable {
        /// Sequences waiting at most, across all requests.
        public var maxQueuedSequences = 4_096
        /// How long the thread waits for company before running a lone request.
        public var batchWindow: Duration = .milliseconds(2)
        /// Tokens in one forward pass at most (a request with more runs in several), which bounds the
        /// engine's scratch memory (about 15 KB a token for MiniLM).
        public var maxBatchTokens = 4_096
        /// Cores a batch is spread over: every core by default.
        public var threads = ProcessInfo.processInfo.activeProcessorCount
        /// Called on the engine's thread before each batch runs (tests hold the engine busy with it).
        var beforeBatch: (@Sendable () -> Void)?

        public init() {}
    }

    private final class Job {
        let sequences: [[Int]]
        var continuation: CheckedContinuation<[[Float]], any Error>?
        init(sequences: [[Int]], continuation: CheckedContinuation<[[Float]], any Error>) {
            self.sequences = sequences
            self.continuation = continuation
        }
    }

    public let embedder: SentenceEmbedder
    public let settings: Settings
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var queuedSequences = 0
    private var runningSequences = 0
    private var stopped = false
    private var thread: Thread?
    private let workers: WorkerPool
    /// Counters for `/metrics` and tests.
    private var batchesRun = 0
    private var sequencesRun = 0

    public init(embedder: SentenceEmbedder, settings: Settings = Settings()) {
        self.embedder = embedder
        self.settings = settings
        self.workers = WorkerPool(threads: settings.threads)
        // The thread holds the engine until `shutdown`.
        let thread = Thread { [self] in self.run() }
        thread.name = "atrium-embeddings"
        thread.stackSize = 8 << 20
        self.thread = thread
        // The engine splits the work itself; BLAS runs single-threaded inside each part.
        BLAS.setThreads(1)
        thread.start()
    }

    /// Embeds sequences of token ids, each within the model's vocabulary and `maxSequenceLength` (the
    /// caller checks: the embedded provider refuses other inputs with a 400).
    public func embed(_ sequences: [[Int]]) async throws -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        let box = JobBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let job = Job(sequences: sequences, continuation: continuation)
                condition.lock()
                defer { condition.unlock() }
                if stopped { return continuation.resume(throwing: Failure.stopped) }
                if Task.isCancelled { return continuation.resume(throwing: CancellationError()) }
                guard queuedSequences + sequences.count <= settings.maxQueuedSequences || queue.isEmpty else {
                    return continuation.resume(throwing: Failure.overloaded(limit: settings.maxQueuedSequences))
                }
                queue.append(job)
                queuedSequences += sequences.count
                box.job = job
                condition.signal()
            }
        } onCancel: {
            cancel(box)
        }
    }

    public struct Statistics: Sendable {
        /// Batches run and sequences embedded so far.
        public var batches: Int
        public var sequences: Int
        /// Sequences waiting, and being embedded, now.
        public var queued: Int
        public var running: Int
    }

    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return Statistics(batches: batchesRun, sequences: sequencesRun, queued: queuedSequences, running: runningSequences)
    }

    /// Refuses new work, fails what is queued, and lets the thread end.
    public func shutdown() {
        condition.lock()
        stopped = true
        let waiting = queue
        queue.removeAll()
        queuedSequences = 0
        condition.broadcast()
        condition.unlock()
        workers.shutdown()
        for job in waiting { job.continuation?.resume(throwing: Failure.stopped) }
    }

    // MARK: - The engine's thread

    private final class JobBox: @unchecked Sendable {
        var job: Job?
    }

    private func cancel(_ box: JobBox) {
        condition.lock()
        guard let job = box.job, let index = queue.firstIndex(where: { $0 === job }) else {
            condition.unlock()
            return  // running already (its result is dropped by the caller's task) or not queued yet
        }
        queue.remove(at: index)
        queuedSequences -= job.sequences.count
        let continuation = job.continuation
        job.continuation = nil
        condition.unlock()
        continuation?.resume(throwing: CancellationError())
    }

    private func run() {
        while let batch = nextBatch() {
            guard !batch.isEmpty else { continue }
            settings.beforeBatch?()
            var embeddings: [[Float]] = []
            for chunk in Self.chunks(batch.flatMap(\.sequences), maxTokens: settings.maxBatchTokens) {
                embeddings += embedder.embed(tokenized: chunk, parallel: Parallel(pool: workers))
            }
            condition.lock()
            batchesRun += 1
            sequencesRun += embeddings.count
            runningSequences = 0
            var results: [(CheckedContinuation<[[Float]], any Error>, [[Float]])] = []
            var start = 0
            for job in batch {
                let count = job.sequences.count
                if let continuation = job.continuation { results.append((continuation, Array(embeddings[start..<(start + count)]))) }
                job.continuation = nil
                start += count
            }
            condition.unlock()
            for (continuation, embeddings) in results { continuation.resume(returning: embeddings) }
        }
    }

    /// Waits for work, then takes queued jobs up to the batch's token budget (at least one whole job);
    /// nil once stopped.
    private func nextBatch() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopped { condition.wait() }
        if stopped { return nil }
        // A lone request waits briefly for others to share its batch.
        if queuedTokens() < settings.maxBatchTokens / 4 {
            let deadline = Date().addingTimeInterval(Double(settings.batchWindow.components.attoseconds) / 1e18 + Double(settings.batchWindow.components.seconds))
            while !stopped && queuedTokens() < settings.maxBatchTokens / 4 && condition.wait(until: deadline) {}
            if stopped || queue.isEmpty { return stopped ? nil : [] }
        }
        var batch: [Job] = []
        var tokens = 0
        while let job = queue.first {
            let size = job.sequences.reduce(0) { $0 + $1.count }
            if !batch.isEmpty && tokens + size > settings.maxBatchTokens { break }
            batch.append(queue.removeFirst())
            queuedSequences -= job.sequences.count
            runningSequences += job.sequences.count
            tokens += size
        }
        return batch
    }

    /// Consecutive runs of sequences with at most `maxTokens` tokens each (or one longer sequence).
    static func chunks(_ sequences: [[Int]], maxTokens: Int) -> [ArraySlice<[Int]>] {
        var chunks: [ArraySlice<[Int]>] = []
        var start = 0
        var tokens = 0
        for (index, sequence) in sequences.enumerated() {
            if index > start && tokens + sequence.count > maxTokens {
                chunks.append(sequences[start..<index])
                (start, tokens) = (index, 0)
            }
            tokens += sequence.count
        }
        if start < sequences.count { chunks.append(sequences[start...]) }
        return chunks
    }

    private func queuedTokens() -> Int {
        queue.reduce(0) { total, job in total + job.sequences.reduce(0) { $0 + $1.count } }
    }
}
