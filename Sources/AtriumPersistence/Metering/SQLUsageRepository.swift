import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// The usage ledger in SQL. A batch goes in as one transaction with its credit debits.
public struct SQLUsageRepository: UsageRepository {
    private let database: AtriumDatabase
    private let clock: any TimeSource
    /// SQLite's group commits go through a connection of their own.
    private let sqliteWriter: SQLiteLedgerWriter?

    public init(database: AtriumDatabase, clock: any TimeSource = SystemTimeSource()) {
        self.database = database
        self.clock = clock
        self.sqliteWriter = database.sqlitePath.map(SQLiteLedgerWriter.init)
    }

    static let columns = [
        "id", "request_id", "organization_id", "api_key_id", "model", "provider", "prompt_tokens", "completion_tokens",
        "total_tokens", "cost_micros", "price_id", "status", "finish_reason", "streamed", "estimated", "latency_ms", "day", "created_at",
        "error_message",
    ]

    public func commit(_ records: [UsageRecord], mayRepeat: Bool) async throws -> [OrganizationID: Micros] {
        guard !records.isEmpty else { return [:] }
        let now = clock.now()
        if let sqliteWriter {
            return try await sqliteWriter.commit(records, mayRepeat: mayRepeat, at: now)
        }
        return try await database.writeTransaction { sql in
            let fresh = try await Self.insertNew(records, sql: sql, mayRepeat: mayRepeat)
            // Shared limits held credit for these requests until now; the debit below replaces the holds.
            for chunk in records.chunks(of: 500) {
                let ids = chunk.map(\.id)
                try await sql.delete(from: "credit_holds").where("id", .in, SQLBind.group(ids)).run()
            }
            let effects = LedgerEffects(fresh)
            for (key, totals) in effects.daily {
                try await sql.raw("""
                    INSERT INTO usage_daily (organization_id, day, model, api_key_id, requests, prompt_tokens, completion_tokens, cost_micros) \
                    VALUES (\(bind: key.organization), \(bind: key.day), \(bind: key.model), \(bind: key.key), \(bind: totals.requests), \
                    \(bind: totals.promptTokens), \(bind: totals.completionTokens), \(bind: totals.costMicros)) \
                    ON CONFLICT (organization_id, day, model, api_key_id) DO UPDATE SET requests = usage_daily.requests + excluded.requests, \
                    prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
                    completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
                    cost_micros = usage_daily.cost_micros + excluded.cost_micros
                    """).run()
            }
            try await Self.addSpend(effects, at: now, on: sql)
            for (organization, debit) in effects.debits {
                try await SQLCreditRepository.insert(LedgerEffects.debitEntry(organization, debit, at: now), on: sql)
                _ = try await SQLCreditRepository.move(organization, by: -debit.amount, on: sql)
            }
            return effects.debits.mapValues(\.amount)
        }
    }

    /// Adds the batch's cost to each owner's spend of the month, and leaves the notifications of any
    /// line this commit crossed.
    private static func addSpend(_ effects: LedgerEffects, at now: Date, on sql: any SQLDatabase) async throws {
        for (owner, cost) in effects.spend {
            guard let row = try await sql.raw("""
                INSERT INTO monthly_spend (id, spent_micros) VALUES (\(bind: owner.key), \(bind: cost))
                ON CONFLICT (id) DO UPDATE SET spent_micros = monthly_spend.spent_micros + \(bind: cost) RETURNING spent_micros
                """).first() else { continue }
            let spent = try row.decode(column: "spent_micros", as: Int64.self)
            let limits = owner.isKey
                ? try await sql.select().column("monthly_budget_micros").column(SQLRaw("NULL"), as: "budget_alert_micros").from("api_keys")
                    .where("id", .equal, owner.id).first()
                : try await sql.select().columns("monthly_budget_micros", "budget_alert_micros").from("billing_accounts")
                    .where("id", .equal, owner.id).first()
            let notices = LedgerEffects.notices(
                owner, before: spent - cost, spent: spent, budget: try limits?.decode(column: "monthly_budget_micros", as: Int64?.self),
                alert: try limits?.decode(column: "budget_alert_micros", as: Int64?.self))
            for notice in notices {
                try await sql.insert(into: "notifications").columns("id", "organization_id", "kind", "message", "created_at")
                    .values(UUID(), owner.organization.raw, notice.kind, notice.message, now).run()
            }
        }
    }

    /// Inserts the records not in the ledger yet (PostgreSQL).
    private static func insertNew(_ records: [UsageRecord], sql: any SQLDatabase, mayRepeat: Bool) async throws -> [UsageRecord] {
        var known = Set<UUID>()
        for chunk in mayRepeat ? records.chunks(of: 500) : [] {
            let ids = chunk.map(\.id)
            for row in try await sql.select().column("id").from("usage_records").where("id", .in, SQLBind.group(ids)).all() {
                known.insert(try row.decodeUUID(column: "id"))
            }
        }
        let fresh = records.filter { !known.contains($0.id) }
        for chunk in fresh.chunks(of: 200) {
            let insert = sql.insert(into: "usage_records").columns(columns)
            for record in chunk {
                insert.values([
                    record.id, record.requestID, record.organizationID.raw, record.keyID.raw, record.model, record.provider,
                    Int64(record.promptTokens), Int64(record.completionTokens), Int64(record.totalTokens), record.costMicros,
                    record.priceID, Int64(record.status), record.finishReason, record.streamed, record.estimated,
                    Int64(record.latencyMilliseconds), record.day, record.createdAt, record.errorMessage,
                ] as [any Encodable & Sendable])
            }
            try await insert.run()
        }
        return fresh
    }

    public func buckets(_ query: UsageQuery) async throws -> [UsageBucket] {
        if query.requestID == nil { return try await dailyBuckets(query) }
        var statement: SQLQueryString = """
            SELECT day, model, api_key_id, CAST(COUNT(*) AS BIGINT) AS requests, CAST(SUM(prompt_tokens) AS BIGINT) AS prompt, \
            CAST(SUM(completion_tokens) AS BIGINT) AS completion, CAST(SUM(cost_micros) AS BIGINT) AS cost \
            FROM usage_records WHERE organization_id = \(bind: query.organizationID.raw)
            """
        if let from = query.fromDay { statement = statement + " AND day >= \(bind: from)" }
        if let to = query.toDay { statement = statement + " AND day <= \(bind: to)" }
        if let (start, end) = Self.timeBounds(query) {
            statement = statement + " AND created_at >= \(bind: start) AND created_at < \(bind: end)"
        }
        if let model = query.model { statement = statement + " AND model = \(bind: model)" }
        if let key = query.keyID { statement = statement + " AND api_key_id = \(bind: key.raw)" }
        if let requestID = query.requestID { statement = statement + " AND request_id = \(bind: requestID)" }
        statement = statement + " GROUP BY day, model, api_key_id ORDER BY day, model, api_key_id"
        return try await sql.raw(statement).all().map(Self.bucket)
    }

    /// The buckets from `usage_daily`, which the group commit keeps (a request id needs the records).
    private func dailyBuckets(_ query: UsageQuery) async throws -> [UsageBucket] {
        let select = sql.select()
            .columns("day", "model", "api_key_id").column(SQLColumn("requests")).column(SQLColumn("prompt_tokens"), as: "prompt")
            .column(SQLColumn("completion_tokens"), as: "completion").column(SQLColumn("cost_micros"), as: "cost")
            .from("usage_daily").where("organization_id", .equal, query.organizationID.raw)
        if let from = query.fromDay { select.where("day", .greaterThanOrEqual, from) }
        if let to = query.toDay { select.where("day", .lessThanOrEqual, to) }
        if let model = query.model { select.where("model", .equal, model) }
        if let key = query.keyID { select.where("api_key_id", .equal, key.raw) }
        return try await select.orderBy("day").orderBy("model").orderBy("api_key_id").all().map(Self.bucket)
    }

    private static func bucket(_ row: any SQLRow) throws -> UsageBucket {
        UsageBucket(
            day: try row.decode(column: "day", as: String.self), model: try row.decode(column: "model", as: String.self),
            keyID: APIKeyID(raw: try row.decodeUUID(column: "api_key_id")),
            requests: Int(try row.decode(column: "requests", as: Int64.self)),
            promptTokens: Int(try row.decode(column: "prompt", as: Int64.self)),
            completionTokens: Int(try row.decode(column: "completion", as: Int64.self)),
            costMicros: try row.decode(column: "cost", as: Int64.self))
    }

    public func records(_ query: UsageQuery, limit: Int) async throws -> [UsageRecord] {
        let select = sql.select().columns(Self.columns).from("usage_records")
        filter(select, query)
        // A request id matches a row or a few: found by its index and ordered here. Asked to order,
        // SQLite would walk the organization's records in time order instead, all of them.
        if query.requestID == nil { select.orderBy("created_at", .descending) }
        let records = try await select.limit(limit).all().map { row in
            UsageRecord(
                id: try row.decodeUUID(column: "id"), requestID: try row.decode(column: "request_id", as: String.self),
                organizationID: OrganizationID(raw: try row.decodeUUID(column: "organization_id")),
                keyID: APIKeyID(raw: try row.decodeUUID(column: "api_key_id")),
                model: try row.decode(column: "model", as: String.self), provider: try row.decode(column: "provider", as: String?.self),
                promptTokens: Int(try row.decode(column: "prompt_tokens", as: Int64.self)),
                completionTokens: Int(try row.decode(column: "completion_tokens", as: Int64.self)),
                costMicros: try row.decode(column: "cost_micros", as: Int64.self), priceID: try row.decode(column: "price_id", as: UUID?.self),
                status: Int(try row.decode(column: "status", as: Int64.self)), finishReason: try row.decode(column: "finish_reason", as: String?.self),
                streamed: try row.decode(column: "streamed", as: Bool.self), estimated: try row.decode(column: "estimated", as: Bool.self),
                latencyMilliseconds: Int(try row.decode(column: "latency_ms", as: Int64.self)),
                createdAt: try row.decode(column: "created_at", as: Date.self),
                errorMessage: try row.decode(column: "error_message", as: String?.self))
        }
        return query.requestID == nil ? records : records.sorted { $0.createdAt > $1.createdAt }
    }

    private func filter(_ select: SQLSelectBuilder, _ query: UsageQuery) {
        select.where("organization_id", .equal, query.organizationID.raw)
        if let from = query.fromDay { select.where("day", .greaterThanOrEqual, from) }
        if let to = query.toDay { select.where("day", .lessThanOrEqual, to) }
        if let (start, end) = Self.timeBounds(query) {
            select.where("created_at", .greaterThanOrEqual, start).where("created_at", .lessThan, end)
        }
        if let model = query.model { select.where("model", .equal, model) }
        if let key = query.keyID { select.where("api_key_id", .equal, key.raw) }
        if let requestID = query.requestID { select.where("request_id", .equal, requestID) }
    }

    /// A query's days as a time range, which the (organization, created_at) index finds: records have
    /// no index on their day (the `day` conditions stay, and decide for a day that is not a date).
    private static func timeBounds(_ query: UsageQuery) -> (Date, Date)? {
        guard query.fromDay != nil || query.toDay != nil else { return nil }
        let start = query.fromDay.flatMap(UsageRecord.start(ofDay:)) ?? Date(timeIntervalSince1970: 0)
        guard let to = query.toDay else { return (start, .distantFuture) }
        guard let lastDay = UsageRecord.start(ofDay: to) else { return nil }
        return (start, lastDay.addingTimeInterval(86_400))
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }
}
