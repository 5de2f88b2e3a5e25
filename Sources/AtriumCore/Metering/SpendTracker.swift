import Foundation
import Synchronization

/// What organizations and keys have spent this calendar month (UTC), for their budgets, without a
/// database round trip on the hot path: the committed spend (read once, then kept up to date by the
/// group commits and re-read between them) plus what finished here and is not committed yet.
public final class SpendTracker: Sendable {
    struct Entry {
        var month: String
        var committed: Micros
        var pending: Micros = 0
    }

    private let repository: any CreditRepository
    private let clock: any TimeSource
    private let entries = Mutex<[UUID: Entry]>([:])

    public init(repository: any CreditRepository, clock: any TimeSource = SystemTimeSource()) {
        self.repository = repository
        self.clock = clock
    }

    private var month: String { String(UsageRecord.day(of: clock.now()).prefix(7)) }

    /// This month's spend of an owner; nil when it is not in memory yet (`load` it).
    public func spent(_ owner: UUID) -> Micros? {
        let month = month
        return entries.withLock { entries in
            guard let entry = entries[owner], entry.month == month else { return nil }
            return entry.committed + entry.pending
        }
    }

    public func load(_ owners: [UUID]) async throws {
        let month = month
        let missing = entries.withLock { entries in owners.filter { entries[$0]?.month != month } }
        guard !missing.isEmpty else { return }
        let spent = try await repository.monthlySpend(missing, month: month)
        entries.withLock { entries in
            for owner in missing where entries[owner]?.month != month {
                entries[owner] = Entry(month: month, committed: spent[owner] ?? 0)
            }
        }
    }

    /// A request finished here and costs `cost`, charged to each owner.
    public func add(_ cost: Micros, to owners: [UUID]) {
        guard cost > 0 else { return }
        entries.withLock { entries in
            for owner in owners {
                // Read and written back: changing it in place through the optional subscript heap-allocated
                // the accessor's frame.
                guard var entry = entries[owner] else { continue }
                entry.pending += cost
                entries[owner] = entry
            }
        }
    }

    /// Costs reached the ledger (and `monthly_spend`).
    public func committed(_ costs: [UUID: Micros]) {
        entries.withLock { entries in
            for (owner, cost) in costs {
                // Spend finished before the owner was loaded was never pending here.
                guard var entry = entries[owner] else { continue }
                entry.pending = max(0, entry.pending - cost)
                entry.committed += cost
                entries[owner] = entry
            }
        }
    }

    /// Re-reads the committed spend of the owners in memory (other instances spend too). Call it
    /// between two commits, from the task that commits.
    public func refresh() async throws {
        let month = month
        let owners = entries.withLock { Array($0.keys) }
        for slice in owners.chunks(of: 500) {
            let chunk = Array(slice)
            let spent = try await repository.monthlySpend(chunk, month: month)
            entries.withLock { entries in
                for owner in chunk {
                    if entries[owner]?.month == month {
                        entries[owner]?.committed = spent[owner] ?? 0
                    } else {
                        entries[owner] = Entry(month: month, committed: spent[owner] ?? 0)  // a new month began
                    }
                }
            }
        }
    }
}
