import AtriumCore
import Foundation
import NIOPosix
import Synchronization

/// The usage ledger's group commit on SQLite, on a connection of its own with statements prepared
/// once (`SQLiteHandle`): a batch of records, their credit debits and the month's spend go in one
/// `BEGIN IMMEDIATE` transaction, run on the ledger's own thread (`LedgerThread`) in one hop. Values are
/// stored exactly as Fluent stores them: UUIDs as uppercase text, dates as seconds, booleans as integers.
final class SQLiteLedgerWriter: Sendable {
    private let path: String
    /// Opened on the first commit (after the migrations).
    private let handle = Mutex<SQLiteHandle?>(nil)

    init(path: String) {
        self.path = path
    }

    func commit(_ records: [UsageRecord], mayRepeat: Bool, at now: Date) async throws -> [OrganizationID: Micros] {
        try await LedgerThread.pool.runIfActive { [self] in
            LedgerThread.yieldToRequests(records.count < LedgerThread.backlog)
            return try handle.withLock { handle in
                let database = try handle ?? SQLiteHandle(path: path)
                handle = database
                try database.execute("BEGIN IMMEDIATE")
                do {
                    let debits = try Self.write(records, mayRepeat: mayRepeat, at: now, on: database)
                    try database.execute("COMMIT")
                    return debits
                } catch {
                    try? database.execute("ROLLBACK")
                    throw error
                }
            }
        }
    }

    private static let insertRecord = """
        INSERT INTO usage_records (\(SQLUsageRepository.columns.joined(separator: ", "))) \
        VALUES (\(Array(repeating: "?", count: SQLUsageRepository.columns.count).joined(separator: ", ")))
        """

    private static let upsertDaily = """
        INSERT INTO usage_daily (organization_id, day, model, api_key_id, requests, prompt_tokens, completion_tokens, cost_micros) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_id, day, model, api_key_id) DO UPDATE SET \
        requests = usage_daily.requests + excluded.requests, prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
        completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, cost_micros = usage_daily.cost_micros + excluded.cost_micros
        """

    private static func write(_ records: [UsageRecord], mayRepeat: Bool, at now: Date, on database: SQLiteHandle) throws -> [OrganizationID: Micros] {
        let fresh = try !mayRepeat ? records : records.filter { record in
            try database.run("SELECT 1 FROM usage_records WHERE id = ?", [uuid(record.id)]).isEmpty
        }
        let insert = try database.statement(insertRecord)
        var days = UsageRecord.DayNames()
        for record in fresh {
            try database.run(insert, [
                uuid(record.id), .text(record.requestID), uuid(record.organizationID.raw), uuid(record.keyID.raw), .text(record.model),
                text(record.provider), .integer(Int64(record.promptTokens)), .integer(Int64(record.completionTokens)),
                .integer(Int64(record.totalTokens)), .integer(record.costMicros), record.priceID.map(uuid) ?? .null,
                .integer(Int64(record.status)), text(record.finishReason), .integer(record.streamed ? 1 : 0), .integer(record.estimated ? 1 : 0),
                .integer(Int64(record.latencyMilliseconds)), .text(days.name(of: record.createdAt)), date(record.createdAt), text(record.errorMessage),
            ])
        }
        let effects = LedgerEffects(fresh)
        for (key, totals) in effects.daily {
            try database.run(upsertDaily, [
                uuid(key.organization), .text(key.day), .text(key.model), uuid(key.key), .integer(totals.requests),
                .integer(totals.promptTokens), .integer(totals.completionTokens), .integer(totals.costMicros),
            ])
        }
        for (owner, cost) in effects.spend {
            let row = try database.run("""
                INSERT INTO monthly_spend (id, spent_micros) VALUES (?, ?) \
                ON CONFLICT (id) DO UPDATE SET spent_micros = monthly_spend.spent_micros + excluded.spent_micros RETURNING spent_micros
                """, [.text(owner.key), .integer(cost)]).first
            guard let spent = row?.first?.integer else { continue }
            let limits = owner.isKey
                ? try database.run("SELECT monthly_budget_micros, NULL FROM api_keys WHERE id = ?", [uuid(owner.id)]).first
                : try database.run("SELECT monthly_budget_micros, budget_alert_micros FROM billing_accounts WHERE id = ?", [uuid(owner.id)]).first
            for notice in LedgerEffects.notices(owner, before: spent - cost, spent: spent, budget: limits?[0].integer, alert: limits?[1].integer) {
                try database.run(
                    "INSERT INTO notifications (id, organization_id, kind, message, created_at) VALUES (?, ?, ?, ?, ?)",
                    [uuid(UUID()), uuid(owner.organization.raw), .text(notice.kind), .text(notice.message), date(now)])
            }
        }
        for (organization, debit) in effects.debits {
            let entry = LedgerEffects.debitEntry(organization, debit, at: now)
            try database.run(
                "INSERT INTO credit_entries (id, organization_id, kind, amount_micros, description, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [uuid(entry.id), uuid(organization.raw), .text(entry.kind.rawValue), .integer(entry.amountMicros), .text(entry.description), date(now)])
            let moved = try database.run(
                "UPDATE billing_accounts SET balance_micros = balance_micros + ? WHERE id = ? RETURNING balance_micros",
                [.integer(entry.amountMicros), uuid(organization.raw)])
            guard !moved.isEmpty else { throw AtriumError.notFound("No billing account for organization \(organization).") }
        }
        return effects.debits.mapValues(\.amount)
    }

    private static func uuid(_ id: UUID) -> SQLiteValue { .uuid(id) }
    private static func text(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }
    private static func date(_ date: Date) -> SQLiteValue { .real(date.timeIntervalSince1970) }
}

/// The group commit's thread. A commit takes a few milliseconds of CPU every interval; on a busy machine
/// the scheduler gave it a core an event loop was about to need, and the request in flight waited out
/// the commit (the gateway's p99 at one connection was nine times its median, the slow requests one per
/// commit). On Linux the thread runs under `SCHED_IDLE` while commits keep up, so it takes only CPU that
/// requests leave; a full batch (the commits falling behind a saturated machine) goes at normal
/// priority, so the ledger never starves. An interval's records at full speed (about 2,500) are not a
/// backlog: at normal priority such a commit preempted an event loop half-way through its turn, holding
/// its unflushed answers, and the other core sat idle (9 % of the machine at 16 connections).
enum LedgerThread {
    static let backlog = UsageJournal.batchLimit

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// Touched on the pool's one thread only.
    nonisolated(unsafe) private static var idle = false

    /// Sets the calling thread's (the pool's) scheduling policy, when it changes.
    static func yieldToRequests(_ yield: Bool) {
        guard yield != idle else { return }
        idle = yield
        #if os(Linux)
        var parameters = sched_param()
        parameters.sched_priority = 0
        // SCHED_IDLE is 5 in Linux's ABI; Glibc's module leaves it out (it sits behind _GNU_SOURCE).
        _ = sched_setscheduler(0, yield ? 5 : Int32(SCHED_OTHER), &parameters)
        #endif
    }
}
