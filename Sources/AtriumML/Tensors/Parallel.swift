import Dispatch
import Synchronization

/// Splits work across the engine's cores: fixed parts (`parts`, `ranges`) or tasks the cores take in
/// turn (`tasks`). Kernels, and BLAS where it is still called, run single-threaded inside each. With a
/// `WorkerPool` the parts run on its spinning workers; without, on Dispatch's.
public struct Parallel: Sendable {
    let threads: Int
    let pool: WorkerPool?

    public init(threads: Int) {
        self.threads = max(1, threads)
        self.pool = nil
    }

    public init(pool: WorkerPool) {
        self.threads = pool.threads
        self.pool = pool
    }

    /// Calls `body` with each part's number (below `threads`) and its range of `0..<count`, in
    /// parallel; ranges start at multiples of `alignment`.
    func parts(_ count: Int, alignment: Int = 1, _ body: @Sendable (_ part: Int, _ range: Range<Int>) -> Void) {
        let parts = max(1, min(threads, count / max(alignment, 1)))
        guard parts > 1 else { return body(0, 0..<count) }
        let step = (count + parts - 1) / parts
        let aligned = (step + alignment - 1) / alignment * alignment
        let run: @Sendable (Int) -> Void = { part in
            let start = part * aligned
            let end = part == parts - 1 ? count : min(count, start + aligned)
            if start < end { body(part, start..<end) }
        }
        if let pool {
            pool.run(parts: parts, run)
        } else {
            DispatchQueue.concurrentPerform(iterations: parts, execute: run)
        }
    }

    /// Calls `body` with each part's range of `0..<count`, in parallel.
    func ranges(_ count: Int, alignment: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        parts(count, alignment: alignment) { _, range in body(range) }
    }

    /// Calls `body(task)` for every task in `0..<count`, the parts taking the next one as each finishes
    /// its last: a part slowed down (a busy neighbour on a shared machine) then does fewer, rather than
    /// keeping the others waiting at the end of the step. `part` numbers the caller's scratch space.
    func tasks(_ count: Int, _ body: @Sendable (_ part: Int, _ task: Int) -> Void) {
        guard threads > 1 && count > 1 else {
            for task in 0..<count { body(0, task) }
            return
        }
        let next = TaskCounter()
        parts(threads) { part, _ in
            while case let task = next.take(), task < count { body(part, task) }
        }
    }
}

private final class TaskCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
