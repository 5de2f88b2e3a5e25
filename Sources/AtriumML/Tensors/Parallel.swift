import Dispatch

/// Splits work across the engine's cores. BLAS runs single-threaded inside each part, so no thread
/// spins waiting for another, and the loops between the matrix products run in parallel too.
struct Parallel: Sendable {
    let threads: Int

    /// Calls `body` with each part's number (below `threads`) and its range of `0..<count`, in
    /// parallel; ranges start at multiples of `alignment`.
    func parts(_ count: Int, alignment: Int = 1, _ body: @Sendable (_ part: Int, _ range: Range<Int>) -> Void) {
        let parts = max(1, min(threads, count / max(alignment, 1)))
        guard parts > 1 else { return body(0, 0..<count) }
        let step = (count + parts - 1) / parts
        let aligned = (step + alignment - 1) / alignment * alignment
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let start = part * aligned
            let end = part == parts - 1 ? count : min(count, start + aligned)
            if start < end { body(part, start..<end) }
        }
    }

    /// Calls `body` with each part's range of `0..<count`, in parallel.
    func ranges(_ count: Int, alignment: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        parts(count, alignment: alignment) { _, range in body(range) }
    }
}
