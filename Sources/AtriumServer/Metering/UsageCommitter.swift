import AtriumCore
import AtriumPersistence
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Moves usage records from the journal into the database in group commits: whatever finished since
/// the last commit goes in one transaction (with its credit debits). Between commits it re-reads the
/// balances in memory (changes by other instances and the CLI) and takes over journals of dead
/// instances. On shutdown it commits everything left, after the server has drained.
final class UsageCommitter: Sendable {
    let journal: UsageJournal
    let usage: any UsageRepository
    let credits: CreditGate
    let spend: SpendTracker
    let prices: PriceBook
    let interval: Duration
    let logger: Logger
    let metrics: ServerMetrics

    static let batchLimit = 5_000

    init(
        journal: UsageJournal, usage: any UsageRepository, credits: CreditGate, spend: SpendTracker, prices: PriceBook, interval: Duration,
        logger: Logger, metrics: ServerMetrics
    ) {
        self.journal = journal
        self.spend = spend
        self.usage = usage
        self.credits = credits
        self.prices = prices
        self.interval = interval
        self.logger = logger
        self.metrics = metrics
    }

    /// Set when a commit failed: the next attempt may find some of its records already in (the
    /// transaction may have committed before the error reached us), so it looks first.
    private let lastCommitFailed = Mutex(false)

    /// Commits what is pending now; false when the database refused (the records stay pending).
    @discardableResult
    func commitPending() async -> Bool {
        while true {
            let batch = journal.uncommitted(limit: Self.batchLimit)
            guard !batch.isEmpty else { return true }
            do {
                let debits = try await usage.commit(batch, mayRepeat: lastCommitFailed.withLock { $0 })
                lastCommitFailed.withLock { $0 = false }
                credits.committed(debits)
                var costs: [UUID: Micros] = [:]
                for record in batch where record.costMicros > 0 {
                    costs[record.organizationID.raw, default: 0] += record.costMicros
                    costs[record.keyID.raw, default: 0] += record.costMicros
                }
                spend.committed(costs)
                journal.committed(batch.count)
                metrics.usageRecordsCommitted.increment(by: Int64(batch.count))
            } catch {
                lastCommitFailed.withLock { $0 = true }
                logger.error("usage commit failed; the records stay in the journal", metadata: ["error": "\(String(reflecting: error))", "records": "\(batch.count)"])
                return false
            }
        }
    }

    /// Takes over the journals of instances that died, committing their records (once each).
    func recoverOrphans() async {
        for orphan in journal.orphans() {
            do {
                let debits = try await usage.commit(orphan.records, mayRepeat: true)
                credits.replayed(debits)
                orphan.discard()
                logger.notice(
                    "recovered the usage journal of a stopped instance",
                    metadata: ["file": "\(orphan.path)", "records": "\(orphan.records.count)", "unreadable_lines": "\(orphan.damagedLines)"])
            } catch {
                orphan.release()
                logger.error("could not recover a usage journal", metadata: ["file": "\(orphan.path)", "error": "\(error)"])
            }
        }
    }

    func run() async {
        await recoverOrphans()
        var sinceRefresh = ContinuousClock.now
        var sinceOrphanScan = ContinuousClock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            let healthy = await commitPending()
            if !healthy { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } }
            if ContinuousClock.now - sinceRefresh > .seconds(2) {
                sinceRefresh = .now
                do {
                    try await credits.refresh()
                    try await spend.refresh()
                    try await prices.reload()
                } catch {
                    logger.warning("could not refresh balances and prices", metadata: ["error": "\(error)"])
                }
            }
            if ContinuousClock.now - sinceOrphanScan > .seconds(30) {
                sinceOrphanScan = .now
                await recoverOrphans()
            }
        }
    }

    /// The last commit, once the server has stopped taking requests.
    func drain() async {
        for attempt in 0..<5 {
            if await commitPending() { break }
            try? await Task.sleep(for: .milliseconds(200 * (attempt + 1)))
        }
        journal.close()
    }
}

/// The committer's loop as a service of the application (its final drain runs in the shutdown hook,
/// after the server has stopped).
struct UsageCommitterService: Service {
    let committer: UsageCommitter
    func run() async throws { await committer.run() }
}
