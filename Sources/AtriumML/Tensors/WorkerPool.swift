import CKernels
import Foundation
import Synchronization

/// The engine's threads for one forward pass: workers that spin between the pass's parallel steps
/// (dozens per pass, microseconds apart), so no step waits for a thread to wake, and sleep when the
/// engine is idle. The calling thread takes part 0 of every step. Waiting threads yield their core
/// after a short spin, so that on a busy machine (the server's event loops and its clients share the
/// cores) the thread they wait for, or anyone else, can run.
public final class WorkerPool: @unchecked Sendable {
    public let threads: Int
    /// The step's number times `partsLimit` plus its part count, in one word: a worker that sees a step
    /// move reads that step's part count, never a later one's.
    private let generation = Atomic<Int>(0)
    private static let partsLimit = 1 << 16
    private let remaining = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let sleeper = NSCondition()
    /// The step being run: set before `generation` moves, read by workers after they see it move.
    private var step: ((Int) -> Void)?

    /// About half a millisecond of waiting (spinning, then yielding) before a worker sleeps.
    static let spinsBeforeSleep = 20_000
    /// Spins before a waiting thread starts yielding its core.
    static let spinsBeforeYield = 2_000

    public init(threads: Int) {
        self.threads = min(max(1, threads), Self.partsLimit - 1)
        for index in 1..<self.threads {
            let thread = Thread { [self] in work(index) }
            thread.name = "atrium-engine-\(index)"
            thread.start()
        }
    }

    /// Runs `body(part)` for each part in `0..<parts` (at most `threads`), in parallel; returns when all
    /// are done.
    public func run(parts: Int, _ body: (Int) -> Void) {
        let parts = min(parts, threads)
        guard parts > 1 else {
            if parts == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            step = body
            remaining.store(parts - 1, ordering: .relaxed)
            let next = (generation.load(ordering: .relaxed) / Self.partsLimit + 1) * Self.partsLimit + parts
            sleeper.lock()
            generation.store(next, ordering: .releasing)
            sleeper.broadcast()
            sleeper.unlock()
            body(0)
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 { Self.wait(&spins) }
            step = nil
        }
    }

    /// One round of waiting: a pause, or after a while a yield of the core to whoever needs it.
    private static func wait(_ spins: inout Int) {
        spins += 1
        if spins < spinsBeforeYield { atr_cpu_relax() } else { sched_yield() }
    }

    /// Lets the workers end.
    public func shutdown() {
        sleeper.lock()
        stopped.store(true, ordering: .relaxed)
        sleeper.broadcast()
        sleeper.unlock()
    }

    private func work(_ index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if stopped.load(ordering: .relaxed) { return }
                if spins < Self.spinsBeforeSleep {
                    Self.wait(&spins)
                } else {
                    sleeper.lock()
                    while generation.load(ordering: .acquiring) == seen && !stopped.load(ordering: .relaxed) { sleeper.wait() }
                    sleeper.unlock()
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if index < current % Self.partsLimit {
                // The step is let go before the caller hears it is done: it must not outlive `run`.
                do {
                    let step = self.step!
                    step(index)
                }
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }
}
