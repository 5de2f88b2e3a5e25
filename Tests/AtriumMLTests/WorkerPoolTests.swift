import Synchronization
import Testing

@testable import AtriumML

@Suite struct WorkerPoolTests {
    @Test func everyPartOfEveryStepRunsOnceAndRunWaitsForAll() {
        let pool = WorkerPool(threads: 3)
        defer { pool.shutdown() }
        let counts = Mutex([Int](repeating: 0, count: 3))
        for step in 0..<2_000 {
            let parts = step % 3 + 1
            pool.run(parts: parts) { part in counts.withLock { $0[part] += 1 } }
            // `run` returned: every part of this step is counted already.
            let seen = counts.withLock { $0 }
            #expect(seen[0] == step + 1)
        }
        let total = counts.withLock { $0 }
        #expect(total == [2_000, 1_333, 666])
    }

    @Test func workersThatSleptWakeForTheNextStep() async throws {
        let pool = WorkerPool(threads: 2)
        defer { pool.shutdown() }
        try await Task.sleep(for: .milliseconds(50))  // past the spinning, into sleep
        let ran = Mutex(Set<Int>())
        pool.run(parts: 2) { part in ran.withLock { _ = $0.insert(part) } }
        #expect(ran.withLock { $0 } == [0, 1])
    }
}
