import AtriumCore
import Foundation

/// What a batch of new usage records changes beyond its own rows, whichever database holds them: one
/// debit per organization, and the month's spend of each organization and key.
struct LedgerEffects {
    struct Debit {
        var amount: Micros = 0
        var requests = 0

        mutating func add(_ cost: Micros) {
            amount += cost
            requests += 1
        }
    }

    /// An organization or a key, in one month.
    struct SpendOwner: Hashable {
        var id: UUID
        var month: String
        var organization: OrganizationID
        var isKey: Bool

        /// `monthly_spend`'s key.
        var key: String { SQLCreditRepository.spendKey(id, month: month) }
    }

    /// A line for the organization's notifications.
    struct Notice {
        var kind: String
        var message: String
    }

    /// A row of `usage_daily`.
    struct DailyKey: Hashable {
        var organization: UUID
        var day: String
        var model: String
        var key: UUID
    }

    struct DailyTotals {
        var requests: Int64 = 0
        var promptTokens: Int64 = 0
        var completionTokens: Int64 = 0
        var costMicros: Micros = 0

        mutating func add(_ record: UsageRecord) {
            requests += 1
            promptTokens += Int64(record.promptTokens)
            completionTokens += Int64(record.completionTokens)
            costMicros += record.costMicros
        }
    }

    private(set) var debits: [OrganizationID: Debit] = [:]
    private(set) var spend: [SpendOwner: Micros] = [:]
    /// What the batch adds to each day's totals (every record, refused ones too, as the records count them).
    private(set) var daily: [DailyKey: DailyTotals] = [:]

    /// One pass over the batch (which runs on the ledger's thread for every group commit): each record
    /// changes each total in place, with one lookup.
    init(_ records: [UsageRecord]) {
        var days = UsageRecord.DayNames()
        for record in records {
            let day = days.name(of: record.createdAt)
            daily[DailyKey(organization: record.organizationID.raw, day: day, model: record.model, key: record.keyID.raw), default: DailyTotals()]
                .add(record)
            guard record.costMicros > 0 else { continue }
            debits[record.organizationID, default: Debit()].add(record.costMicros)
            let month = String(day.prefix(7))
            spend[SpendOwner(id: record.organizationID.raw, month: month, organization: record.organizationID, isKey: false), default: 0] += record.costMicros
            spend[SpendOwner(id: record.keyID.raw, month: month, organization: record.organizationID, isKey: true), default: 0] += record.costMicros
        }
    }

    static func debitEntry(_ organization: OrganizationID, _ debit: Debit, at now: Date) -> CreditEntry {
        CreditEntry(
            organizationID: organization, kind: .usage, amountMicros: -debit.amount,
            description: debit.requests == 1 ? "1 request" : "\(debit.requests) requests", createdAt: now)
    }

    /// What the organization hears when a commit took `owner`'s spend from `before` to `spent`: past
    /// its soft limit, or at its cap (each once: only the commit that crosses the line sees it crossed).
    static func notices(_ owner: SpendOwner, before: Micros, spent: Micros, budget: Micros?, alert: Micros?) -> [Notice] {
        func crossed(_ line: Micros?) -> Bool { line.map { before < $0 && spent >= $0 } ?? false }
        var notices: [Notice] = []
        if owner.isKey {
            if crossed(budget), let budget {
                notices.append(Notice(
                    kind: "key_budget.reached",
                    message: "API key \(owner.id.hexString()) reached its monthly budget of \(budget.formattedUnits) in \(owner.month); its requests are refused until next month or a higher budget."))
            }
            return notices
        }
        if crossed(alert), let alert {
            notices.append(Notice(
                kind: "budget.soft_limit",
                message: "Your organization has spent \(spent.formattedUnits) in \(owner.month), past its soft limit of \(alert.formattedUnits)."))
        }
        if crossed(budget), let budget {
            notices.append(Notice(
                kind: "budget.reached",
                message: "Your organization reached its monthly budget of \(budget.formattedUnits) in \(owner.month); requests are refused until next month or a higher budget."))
        }
        return notices
    }
}
