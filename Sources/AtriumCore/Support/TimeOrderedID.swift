import Foundation
import Synchronization

/// UUIDs in the version 7 layout: the first 48 bits are the Unix time in milliseconds, so rows keyed
/// by them are appended at the end of the primary-key index instead of all over it (the usage ledger
/// takes thousands a second). The rest is a per-process counter and 48 random bits chosen when the
/// process starts, so two processes never make the same id and one process never repeats itself.
public enum TimeOrderedID {
    private static let processBits: UInt64 = UInt64.random(in: 0...UInt64.max)
    private static let counter = Atomic<UInt64>(0)

    public static func make(at date: Date = Date()) -> UUID {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let count = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let random = processBits
        return UUID(uuid: (
            UInt8(truncatingIfNeeded: milliseconds >> 40), UInt8(truncatingIfNeeded: milliseconds >> 32),
            UInt8(truncatingIfNeeded: milliseconds >> 24), UInt8(truncatingIfNeeded: milliseconds >> 16),
            UInt8(truncatingIfNeeded: milliseconds >> 8), UInt8(truncatingIfNeeded: milliseconds),
            0x70 | UInt8(truncatingIfNeeded: (count >> 24) & 0x0F), UInt8(truncatingIfNeeded: count >> 16),
            0x80 | UInt8(truncatingIfNeeded: (count >> 8) & 0x3F), UInt8(truncatingIfNeeded: count),
            UInt8(truncatingIfNeeded: random >> 40), UInt8(truncatingIfNeeded: random >> 32), UInt8(truncatingIfNeeded: random >> 24),
            UInt8(truncatingIfNeeded: random >> 16), UInt8(truncatingIfNeeded: random >> 8), UInt8(truncatingIfNeeded: random)
        ))
    }
}
