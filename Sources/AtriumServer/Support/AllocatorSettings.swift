#if canImport(Glibc)
import Glibc
#endif

/// How the C allocator behaves in a long-running server.
///
/// glibc's malloc serves blocks past its mmap threshold (128 KiB) with their own mappings, and raises
/// the threshold to the size of each such block freed, up to 32 MiB. The engine frees large
/// activations all the time, so the threshold soon sat in the megabytes and those blocks came from the
/// heaps instead, where freed space between live chunks cannot go back to the system: under steady
/// mixed load resident memory crept up by about 3 MiB a minute with nothing live behind it (the soak:
/// anonymous memory 236 → 248 MiB in four minutes; `malloc_trim` every 30 s changed nothing). A fixed
/// threshold of 1 MiB keeps it flat (227 → 226 MiB), and left the engine's speed as it was (prompt and
/// decode within the run-to-run noise of `atrium models bench-generate`); 64 KiB slowed prompts by a
/// sixth with page faults.
///
/// A fixed mmap threshold also fixes glibc's trim threshold at its default of 128 KiB (glibc stops
/// adjusting it), so after each group commit the ledger thread's heap was handed back with
/// `madvise(MADV_DONTNEED)` and taken again by the next batch: page faults, and on two cores the TLB
/// shootdowns' interrupts, about 5 % of a proxied request's CPU at one connection. 4 MiB keeps a batch's
/// memory in the heap, which costs at most that much resident memory an arena.
public enum AllocatorSettings {
    public static let mmapThreshold = 1 << 20
    public static let trimThreshold = 4 << 20

    /// Fixes the mmap and trim thresholds (glibc only; elsewhere nothing). An operator's
    /// `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` in the environment wins.
    public static func apply() {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        // M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (malloc.h, not in Swift's Glibc module).
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil { _ = mallopt(-3, Int32(mmapThreshold)) }
        if getenv("MALLOC_TRIM_THRESHOLD_") == nil { _ = mallopt(-1, Int32(trimThreshold)) }
        #endif
    }
}
