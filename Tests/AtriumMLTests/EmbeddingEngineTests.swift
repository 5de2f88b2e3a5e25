import Foundation
import Testing

@testable import AtriumML

@Suite struct EmbeddingEngineTests {
    func engine(_ configure: (inout EmbeddingEngine.Settings) -> Void = { _ in }) throws -> EmbeddingEngine? {
        guard let folder = MiniLMGolden.folder else { return nil }
        var settings = EmbeddingEngine.Settings()
        configure(&settings)
        return EmbeddingEngine(embedder: try SentenceEmbedder(folder: folder), settings: settings)
    }

    @Test func concurrentRequestsShareBatchesAndGetTheirOwnAnswers() async throws {
        guard let engine = try engine({ $0.batchWindow = .milliseconds(20) }) else { return }
        defer { engine.shutdown() }
        let cases = Array(MiniLMGolden.cases.prefix(24))
        let results = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
            for (index, golden) in cases.enumerated() {
                group.addTask { (index, try await engine.embed([golden.ids])) }
            }
            return try await group.reduce(into: [Int: [Float]]()) { $0[$1.0] = $1.1[0] }
        }
        for (index, golden) in cases.enumerated() {
            let difference = zip(golden.vector, results[index]!).map { abs($0 - $1) }.max()!
            #expect(difference < 1e-5, "case \(index)")
        }
        let statistics = engine.statistics
        #expect(statistics.sequences == 24)
        #expect(statistics.batches < 24, "requests arriving together share batches")
    }

    @Test func aLongRequestRunsInSeveralPassesWithTheSameResult() async throws {
        guard let engine = try engine({ $0.maxBatchTokens = 64 }) else { return }
        defer { engine.shutdown() }
        let cases = Array(MiniLMGolden.cases.prefix(40))
        let vectors = try await engine.embed(cases.map(\.ids))
        for (golden, vector) in zip(cases, vectors) {
            #expect(zip(golden.vector, vector).map { abs($0 - $1) }.max()! < 1e-5)
        }
    }

    @Test func aFullQueueRefusesAndACancelledRequestNeverRuns() async throws {
        // The engine's first batch waits at this gate, so what is queued meanwhile stays queued however
        // slowly this test is scheduled.
        let gate = DispatchSemaphore(value: 0)
        let first = DispatchSemaphore(value: 1)
        guard let engine = try engine({
            $0.maxQueuedSequences = 40
            $0.batchWindow = .zero
            $0.beforeBatch = { if first.wait(timeout: .now()) == .success { gate.wait() } }
        }) else { return }
        defer {
            gate.signal()
            engine.shutdown()
        }
        let long = Array(repeating: [101, 7592, 2088, 102], count: 40)
        let busy = Task { try await engine.embed(long) }
        while engine.statistics.running == 0 { await Task.yield() }
        let waiting = Task { try await engine.embed(long) }
        while engine.statistics.queued < 40 { await Task.yield() }
        await #expect(throws: EmbeddingEngine.Failure.overloaded(limit: 40)) { try await engine.embed([[101, 102]]) }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        gate.signal()
        _ = try await busy.value
        #expect(try await engine.embed([[101, 7592, 2088, 102]]).count == 1)
        #expect(engine.statistics.sequences == 41, "the cancelled request's 40 sequences never ran")
    }

    @Test func aStoppedEngineSaysSo() async throws {
        guard let engine = try engine() else { return }
        engine.shutdown()
        await #expect(throws: EmbeddingEngine.Failure.stopped) { try await engine.embed([[101, 102]]) }
    }

    @Test func chunksKeepEverySequenceOnce() {
        let sequences = [[1, 2, 3], [4], [5, 6, 7, 8, 9], [10, 11], [12]]
        let chunks = EmbeddingEngine.chunks(sequences, maxTokens: 4)
        #expect(chunks.flatMap { $0 } == sequences)
        #expect(chunks.map(\.count) == [2, 1, 2])
    }
}
