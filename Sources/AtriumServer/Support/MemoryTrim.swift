#if canImport(Glibc)
import Glibc
#endif

/// Gives the C allocator's freed pages back to the system now and then.
///
/// glibc's malloc keeps memory a long-running server freed (its heaps only shrink from the top), and
/// raises its mmap threshold each time a large block is freed, so later large blocks (the engine's
/// activations, key/value rows) come from the heaps as well. Under steady mixed load the resident set
/// then crept up by megabytes a minute with nothing live behind it (the soak: anonymous memory 236 →
/// 248 MiB in four minutes; with a fixed threshold it stayed flat, but page faults slowed prompts by a
/// sixth). `malloc_trim(0)` hands back every free page inside the heaps, at a cost of a few
/// milliseconds of one thread per call, off the request paths.
enum MemoryTrim {
    static let interval = Duration.seconds(30)

    static func now() {
        trim?(0)
    }

    /// glibc's `malloc_trim`, looked up at run time (its header is not part of Swift's Glibc module);
    /// nil on other C libraries, where this does nothing.
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()
}
