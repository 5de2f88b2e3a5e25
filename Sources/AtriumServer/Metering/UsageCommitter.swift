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
    let isDatabaseUp: @Sendable () async -> Bool
    /// Set in shared mode, whose lapsed credit holds are purged now and then.
    let shared: (any SharedLimits)?
    /// Told which organizations each commit wrote usage for (the dashboard's charts go stale).
    let onCommitted: @Sendable (Set<OrganizationID>) -> Void

    /// Ends when `run` has returned, so that `drain` never commits at the same time as the loop, nor
    /// after the loop was cancelled midway through a database call.
    private let loopEnded: AsyncStream<Void>
    private let loopEndedContinuation: AsyncStream<Void>.Continuation
    private let loopStarted = Mutex(false)

    init(
        journal: UsageJournal, usage: any UsageRepository, credits: CreditGate, spend: SpendTracker, prices: PriceBook, interval: Duration,
        logger: Logger, metrics: ServerMetrics, shared: (any SharedLimits)?, isDatabaseUp: @escaping @Sendable () async -> Bool,
        onCommitted: @escaping @Sendable (Set<OrganizationID>) -> Void = { _ in }
    ) {
        self.shared = shared
        self.onCommitted = onCommitted
        self.isDatabaseUp = isDatabaseUp
        (loopEnded, loopEndedContinuation) = AsyncStream<Void>.makeStream()
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
    private let consecutiveFailures = Mutex(0)

    /// Commits what is pending now; false when the database refused (the records stay pending).
    /// Records that arrive during the commit wait for the next interval: going straight on with them
    /// made a busy server commit back to back in batches of a hundred or so, and each commit's fixed
    /// costs (its transaction, rewriting the same last pages of four B-trees into the log) were paid
    /// per hundred records instead of per interval's worth. Only a full batch (a backlog) goes on at once,
    /// and the last commit (`untilEmpty`) goes on until nothing is left.
    @discardableResult
    func commitPending(untilEmpty: Bool = false) async -> Bool {
        while true {
            let batch = journal.uncommitted()
            guard !batch.isEmpty else { return true }
            do {
                let debits = try await usage.commit(batch, mayRepeat: lastCommitFailed.withLock { $0 })
                lastCommitFailed.withLock { $0 = false }
                consecutiveFailures.withLock { $0 = 0 }
                applied(batch, debited: debits)
                journal.committed(batch.count)
                metrics.usageRecordsCommitted.increment(by: Int64(batch.count))
                if batch.count < UsageJournal.batchLimit && !untilEmpty { return true }
            } catch {
                lastCommitFailed.withLock { $0 = true }
                let failures = consecutiveFailures.withLock { $0 += 1; return $0 }
                logger.error(
                    "usage commit failed; the records stay in the journal",
                    metadata: ["error": "\(String(reflecting: error))", "records": "\(batch.count)", "attempt": "\(failures)"])
                if failures >= 3, await setAsidePoison(batch) { continue }
                return false
            }
        }
    }

    /// The in-memory books learn that a batch is in the ledger.
    private func applied(_ batch: [UsageRecord], debited: [OrganizationID: Micros]) {
        var costs: [UUID: Micros] = [:]
        var organizationCosts: [OrganizationID: Micros] = [:]
        for record in batch where record.costMicros > 0 {
            costs[record.organizationID.raw, default: 0] += record.costMicros
            costs[record.keyID.raw, default: 0] += record.costMicros
            organizationCosts[record.organizationID, default: 0] += record.costMicros
        }
        credits.committed(pending: organizationCosts, debited: debited)
        spend.committed(costs)
        onCommitted(Set(batch.map(\.organizationID)))
    }

    /// After repeated failures, while the database is up: the batch goes in one record at a time, and a
    /// record the database keeps refusing is set aside (kept in the journal directory's
    /// `rejected-usage.jsonl` and logged) instead of holding every later record back.
    private func setAsidePoison(_ batch: [UsageRecord]) async -> Bool {
        guard await isDatabaseUp() else { return false }
        for record in batch {
            do {
                applied([record], debited: try await usage.commit([record], mayRepeat: true))
            } catch {
                journal.setAside(record)
                applied([record], debited: [:])
                logger.critical(
                    "a usage record the database refuses was set aside",
                    metadata: ["request_id": "\(record.requestID)", "error": "\(String(reflecting: error))"])
            }
        }
        journal.committed(batch.count)
        lastCommitFailed.withLock { $0 = false }
        consecutiveFailures.withLock { $0 = 0 }
        return true
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
        loopStarted.withLock { $0 = true }
        defer { loopEndedContinuation.finish() }
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
                do {
                    try await shared?.purgeExpiredHolds()
                } catch {
                    logger.warning("could not purge lapsed credit holds", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// The last commit, once the server has stopped taking requests (and the loop has returned).
    func drain() async {
        if loopStarted.withLock({ $0 }) {
            for await _ in loopEnded {}
        }
        for attempt in 0..<5 {
            if await commitPending(untilEmpty: true) { break }
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
