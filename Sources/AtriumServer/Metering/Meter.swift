import AtriumCore
import AtriumPersistence
import Foundation
import Logging

/// A request let through: what it reserved, to be settled when it ends.
struct Admission: Sendable {
    var principal: KeyPrincipal
    var model: String
    var streamed: Bool
    var promptEstimate: Int
    var reservedTokens: Int
    var reservedCost: Micros
    var price: ModelPrice?
    var organizationLimit: RateLimit
    var readings: [RateLimiter.Reading]
    var start: ContinuousClock.Instant
    /// The id its usage record will have (and, in shared mode, its credit hold).
    var recordID = TimeOrderedID.make()
}

/// How a request ended, as far as the ledger cares.
struct MeteredOutcome: Sendable {
    var provider: String?
    var status: Int
    /// What the client was told, when the call failed.
    var errorMessage: String?
    /// The upstream's own count.
    var reported: (prompt: Int, completion: Int)?
    /// Characters of text generated, for an estimate when nothing was reported (callers count them only then).
    var generatedCharacters = 0
    var finishReason: String?
    /// The client is charged: the request was served, or the client left while it was being served.
    var charged: Bool
}

/// The refusal of a request by a limit, with the headers its answer carries.
struct MeterRefusal: Error {
    var error: AtriumError
    var headers: [(String, String)]
}

/// Admits `/v1` requests against budgets, rate limits and credit, and writes one usage record per
/// request to the journal when it ends. On one instance everything here is synchronous and in memory,
/// so the fast lane can call it on the event loop; only loading an organization's account (and, with
/// budgets, its spend) the first time needs the database. With shared limits the database decides
/// each admission, on the router's path.
final class Meter: Sendable {
    let limiter: RateLimiter
    let credits: CreditGate
    let spend: SpendTracker
    let prices: PriceBook
    let journal: UsageJournal
    let plans: [String: RateLimit]
    let defaultPlan: RateLimit
    /// Tokens reserved for the answer when a request sets no `max_tokens`.
    let defaultMaxTokens: Int
    /// Set when several instances share the database: limits and credit are decided there.
    let shared: (any SharedLimits)?
    let logger: Logger

    init(
        limiter: RateLimiter, credits: CreditGate, spend: SpendTracker, prices: PriceBook, journal: UsageJournal, plans: [String: RateLimit], defaultPlan: RateLimit,
        defaultMaxTokens: Int, shared: (any SharedLimits)?, logger: Logger
    ) {
        self.shared = shared
        self.logger = logger
        self.limiter = limiter
        self.credits = credits
        self.spend = spend
        self.prices = prices
        self.journal = journal
        self.plans = plans
        self.defaultPlan = defaultPlan
        self.defaultMaxTokens = defaultMaxTokens
    }

    enum Decision {
        case admitted(Admission)
        case refused(MeterRefusal)
        /// Not decidable without waiting: the organization's account is not in memory yet, or limits
        /// are shared and the database decides (`admitLoading` does both).
        case needsDatabase
    }

    /// Admits a request (synchronously), or refuses it; a refusal is written to the ledger here.
    func admit(
        _ principal: KeyPrincipal, model: String, operation: ModelOperation, body: JSONValue, streamed: Bool, requestID: String,
        start: ContinuousClock.Instant
    ) -> Decision {
        let organization = principal.organizationID
        guard shared == nil, let standing = credits.standing(of: organization) else { return .needsDatabase }
        let organizationLimit = standing.plan.flatMap { plans[$0] } ?? defaultPlan
        let (prompt, maxTokens) = estimate(body, operation: operation)
        let tokens = prompt + maxTokens
        let demands = Self.demands(principal, organizationLimit: organizationLimit, tokens: tokens)
        let price = prices.price(of: model)
        let reservedCost = price?.cost(promptTokens: prompt, completionTokens: maxTokens) ?? 0
        switch budgetCheck(principal, organizationBudget: standing.monthlyBudget, cost: reservedCost) {
        case .within: break
        case .spendNotLoaded: return .needsDatabase
        case .refused(let refusal):
            recordRefusal(principal, model: model, requestID: requestID, status: 429, streamed: streamed, start: start, error: refusal.error.message)
            return .refused(refusal)
        }

        switch limiter.acquire(demands) {
        case .denied(let demand, let reading, let retryAfter):
            let readings = demands.map { limiter.reading($0.bucket, perMinute: $0.perMinute) }
            let refusal = MeterRefusal(
                error: Self.limitError(demand, reading: reading, retryAfter: retryAfter, model: model, keyLimit: demand.bucket.owner == principal.keyID.raw),
                headers: RateLimitHeaders.fields(readings) + [("retry-after", String(Self.retrySeconds(retryAfter)))])
            recordRefusal(principal, model: model, requestID: requestID, status: 429, streamed: streamed, start: start, error: refusal.error.message)
            return .refused(refusal)
        case .allowed(let readings):
            if case .insufficient = credits.reserve(organization, amount: reservedCost) {
                refund(demands)
                let refusal = Self.quotaRefusal(headers: RateLimitHeaders.fields(readings))
                recordRefusal(principal, model: model, requestID: requestID, status: 429, streamed: streamed, start: start, error: refusal.error.message)
                return .refused(refusal)
            }
            return .admitted(Admission(
                principal: principal, model: model, streamed: streamed, promptEstimate: prompt, reservedTokens: tokens,
                reservedCost: reservedCost, price: price, organizationLimit: organizationLimit, readings: readings, start: start))
        }
    }

    /// `admit`, loading the organization's account first when needed, and asking the database when
    /// limits are shared (the router's path).
    func admitLoading(
        _ principal: KeyPrincipal, model: String, operation: ModelOperation, body: JSONValue, streamed: Bool, requestID: String,
        start: ContinuousClock.Instant
    ) async throws -> Admission {
        try await credits.load(principal.organizationID)
        if principal.monthlyBudget != nil || credits.standing(of: principal.organizationID)?.monthlyBudget != nil {
            try await spend.load([principal.organizationID.raw, principal.keyID.raw])
        }
        if let shared {
            return try await admitShared(
                shared, principal, model: model, operation: operation, body: body, streamed: streamed, requestID: requestID, start: start)
        }
        switch admit(principal, model: model, operation: operation, body: body, streamed: streamed, requestID: requestID, start: start) {
        case .admitted(let admission): return admission
        case .refused(let refusal): throw refusal
        case .needsDatabase: throw AtriumError.serviceUnavailable("The billing account could not be loaded. Please retry.")
        }
    }

    private func admitShared(
        _ shared: any SharedLimits, _ principal: KeyPrincipal, model: String, operation: ModelOperation, body: JSONValue, streamed: Bool,
        requestID: String, start: ContinuousClock.Instant
    ) async throws -> Admission {
        let standing = credits.standing(of: principal.organizationID)
        let organizationLimit = standing?.plan.flatMap { plans[$0] } ?? defaultPlan
        let (prompt, maxTokens) = estimate(body, operation: operation)
        let demands = Self.demands(principal, organizationLimit: organizationLimit, tokens: prompt + maxTokens)
        let price = prices.price(of: model)
        if case .refused(let refusal) = budgetCheck(
            principal, organizationBudget: standing?.monthlyBudget, cost: price?.cost(promptTokens: prompt, completionTokens: maxTokens) ?? 0)
        {
            recordRefusal(principal, model: model, requestID: requestID, status: 429, streamed: streamed, start: start, error: refusal.error.message)
            throw refusal
        }
        var admission = Admission(
            principal: principal, model: model, streamed: streamed, promptEstimate: prompt, reservedTokens: prompt + maxTokens,
            reservedCost: price?.cost(promptTokens: prompt, completionTokens: maxTokens) ?? 0, price: price,
            organizationLimit: organizationLimit, readings: [], start: start)
        let hold = CreditHold(id: admission.recordID, organizationID: principal.organizationID, amount: admission.reservedCost, overdraft: credits.overdraft)
        switch try await shared.admit(demands, hold: hold) {
        case .admitted(let readings):
            admission.readings = readings
            return admission
        case .limited(let demand, let reading, let retryAfter, let readings):
            let refusal = MeterRefusal(
                error: Self.limitError(demand, reading: reading, retryAfter: retryAfter, model: model, keyLimit: demand.bucket.owner == principal.keyID.raw),
                headers: RateLimitHeaders.fields(readings) + [("retry-after", String(Self.retrySeconds(retryAfter)))])
            recordRefusal(principal, model: model, requestID: requestID, status: 429, streamed: streamed, start: start, error: refusal.error.message)
            throw refusal
        case .insufficient(let readings):
            let refusal = Self.quotaRefusal(headers: RateLimitHeaders.fields(readings))
            recordRefusal(principal, model: model, requestID: requestID, status: 429, streamed: streamed, start: start, error: refusal.error.message)
            throw refusal
        }
    }

    private enum BudgetVerdict {
        case within
        case spendNotLoaded
        case refused(MeterRefusal)
    }

    /// Checks the key's and the organization's monthly budgets against this month's spend and what
    /// this request may cost.
    private func budgetCheck(_ principal: KeyPrincipal, organizationBudget: Micros?, cost: Micros) -> BudgetVerdict {
        guard principal.monthlyBudget != nil || organizationBudget != nil else { return .within }
        for (owner, budget, whose) in [
            (principal.keyID.raw, principal.monthlyBudget, "this API key"), (principal.organizationID.raw, organizationBudget, "your organization"),
        ] {
            guard let budget else { continue }
            guard let spent = spend.spent(owner) else { return .spendNotLoaded }
            if spent + cost > budget {
                return .refused(MeterRefusal(
                    error: .insufficientQuota(
                        "You reached the monthly budget of \(whose) (\(budget.formattedUnits); \(spent.formattedUnits) spent this month). Raise the budget or wait for next month."),
                    headers: [("x-should-retry", "false")]))
            }
        }
        return .within
    }

    /// Prompt tokens (estimated) and the most the answer may take.
    private func estimate(_ body: JSONValue, operation: ModelOperation) -> (prompt: Int, maxTokens: Int) {
        let prompt = TokenEstimate.prompt(of: body, operation: operation)
        guard operation != .embeddings else { return (prompt, 0) }
        let choices = max(1, min(Int(body["n"]?.intValue ?? 1), 1024))
        let perChoice = max(0, min(Int(body["max_completion_tokens"]?.intValue ?? body["max_tokens"]?.intValue ?? Int64(defaultMaxTokens)), 1 << 31))
        return (min(prompt, UsageRecord.maxTokens), perChoice * choices)
    }

    private static func quotaRefusal(headers: [(String, String)]) -> MeterRefusal {
        MeterRefusal(
            error: .insufficientQuota(
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."),
            headers: headers + [("x-should-retry", "false")])
    }

    /// The request ended: settle its reservations and write its record. Returns the record. The fast lane
    /// passes its loop's `turn`, which journals the record with the turn's others before their answers go.
    @discardableResult
    func finish(_ admission: Admission, requestID: String, outcome: MeteredOutcome, journalingIn turn: TurnFlush? = nil) -> UsageRecord {
        let prompt: Int
        let completion: Int
        let estimated: Bool
        if let reported = outcome.reported {
            (prompt, completion, estimated) = (reported.prompt, reported.completion, false)
        } else if outcome.charged {
            (prompt, completion, estimated) = (admission.promptEstimate, TokenEstimate.completion(characters: outcome.generatedCharacters), true)
        } else {
            (prompt, completion, estimated) = (0, 0, false)
        }
        let cost = outcome.charged ? admission.price?.cost(promptTokens: prompt, completionTokens: completion) ?? 0 : 0
        let delta = prompt + completion - admission.reservedTokens
        let tokenBuckets = Self.tokenBuckets(admission.principal, organizationLimit: admission.organizationLimit)
        if let shared {
            // The database learns the real count and cost; until the record is committed its hold stands.
            let (logger, recordID) = (logger, admission.recordID)
            Task {
                do {
                    for demand in tokenBuckets { try await shared.adjust(demand.bucket, perMinute: demand.perMinute, delta: delta) }
                    try await shared.settle(hold: recordID, cost: cost)
                } catch {
                    logger.warning("could not settle a request's shared limits", metadata: ["error": "\(error)"])
                }
            }
        } else {
            for demand in tokenBuckets { limiter.adjust(demand.bucket, perMinute: demand.perMinute, delta: delta) }
            credits.settle(admission.principal.organizationID, reserved: admission.reservedCost, cost: cost)
        }
        spend.add(cost, to: [admission.principal.organizationID.raw, admission.principal.keyID.raw])
        let record = UsageRecord(
            id: admission.recordID, requestID: requestID, organizationID: admission.principal.organizationID, keyID: admission.principal.keyID,
            model: admission.model, provider: outcome.provider, promptTokens: prompt, completionTokens: completion, costMicros: cost,
            priceID: cost > 0 ? admission.price?.id : nil, status: outcome.status, finishReason: outcome.finishReason,
            streamed: admission.streamed, estimated: estimated, latencyMilliseconds: Self.milliseconds(since: admission.start),
            createdAt: Date(), errorMessage: outcome.errorMessage)
        if let turn { turn.journal(record, in: journal) } else { journal.append(record) }
        return record
    }

    /// Gives back everything an admission took, for a request the fast lane hands to the router (which
    /// admits it again).
    func cancel(_ admission: Admission) {
        refund(Self.demands(admission.principal, organizationLimit: admission.organizationLimit, tokens: admission.reservedTokens))
        credits.settle(admission.principal.organizationID, reserved: admission.reservedCost, cost: 0)
    }

    /// The record of a request refused before it was admitted (bad input, missing scope, a limit).
    func recordRefusal(
        _ principal: KeyPrincipal, model: String?, requestID: String, status: Int, streamed: Bool, start: ContinuousClock.Instant, error: String? = nil
    ) {
        journal.append(UsageRecord(
            requestID: requestID, organizationID: principal.organizationID, keyID: principal.keyID, model: model ?? "", provider: nil,
            promptTokens: 0, completionTokens: 0, costMicros: 0, priceID: nil, status: status, finishReason: nil, streamed: streamed,
            estimated: false, latencyMilliseconds: Self.milliseconds(since: start), createdAt: Date(), errorMessage: error))
    }

    // MARK: -

    private func refund(_ demands: [RateLimiter.Demand]) {
        for demand in demands {
            limiter.adjust(demand.bucket, perMinute: demand.perMinute, delta: -demand.cost)
        }
    }

    /// The token buckets a request was charged to (the key's own, the organization's), with their limits.
    private static func tokenBuckets(_ principal: KeyPrincipal, organizationLimit: RateLimit) -> [(bucket: RateLimiter.BucketID, perMinute: Int)] {
        var buckets: [(bucket: RateLimiter.BucketID, perMinute: Int)] = []
        buckets.reserveCapacity(2)
        if let perMinute = principal.rateLimit.tokensPerMinute { buckets.append((.init(owner: principal.keyID.raw, dimension: .tokens), perMinute)) }
        if let perMinute = organizationLimit.tokensPerMinute { buckets.append((.init(owner: principal.organizationID.raw, dimension: .tokens), perMinute)) }
        return buckets
    }

    private static func demands(_ principal: KeyPrincipal, organizationLimit: RateLimit, tokens: Int) -> [RateLimiter.Demand] {
        var demands: [RateLimiter.Demand] = []
        demands.reserveCapacity(4)  // one allocation a request, not one per growth
        func add(_ owner: UUID, _ limit: RateLimit) {
            if let perMinute = limit.requestsPerMinute {
                demands.append(.init(bucket: .init(owner: owner, dimension: .requests), perMinute: perMinute, cost: 1))
            }
            if let perMinute = limit.tokensPerMinute {
                demands.append(.init(bucket: .init(owner: owner, dimension: .tokens), perMinute: perMinute, cost: tokens))
            }
        }
        add(principal.keyID.raw, principal.rateLimit)
        add(principal.organizationID.raw, organizationLimit)
        return demands
    }

    static func limitError(_ demand: RateLimiter.Demand, reading: RateLimiter.Reading, retryAfter: Double, model: String, keyLimit: Bool) -> AtriumError {
        let scope = keyLimit ? "this API key" : "your organization"
        let (what, type) = demand.bucket.dimension == .requests ? ("requests per min (RPM)", "requests") : ("tokens per min (TPM)", "tokens")
        let used = reading.limit - reading.remaining
        if retryAfter.isInfinite {
            return .limitReached(
                "Request too large for \(model.prefix(100)) on \(what) for \(scope): Limit \(reading.limit), Requested \(demand.cost). Reduce the prompt or max_tokens.",
                retryAfterSeconds: 60, limit: type)
        }
        return .limitReached(
            "Rate limit reached for \(model.prefix(100)) on \(what) for \(scope): Limit \(reading.limit), Used \(used), Requested \(demand.cost). Please try again in \(RateLimitHeaders.duration(retryAfter)).",
            retryAfterSeconds: retrySeconds(retryAfter), limit: type)
    }

    static func retrySeconds(_ seconds: Double) -> Int {
        seconds.isFinite ? max(1, Int(min(seconds, 86_400 * 365).rounded(.up))) : 60
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// OpenAI's `x-ratelimit-*` response headers.
enum RateLimitHeaders {
    /// For each dimension, the bucket closest to its limit.
    static func fields(_ readings: [RateLimiter.Reading]) -> [(String, String)] {
        var requests: RateLimiter.Reading?
        var tokens: RateLimiter.Reading?
        for reading in readings {
            switch reading.dimension {
            case .requests: if reading.remaining < requests?.remaining ?? .max { requests = reading }
            case .tokens: if reading.remaining < tokens?.remaining ?? .max { tokens = reading }
            }
        }
        var fields: [(String, String)] = []
        fields.reserveCapacity(6)
        if let requests {
            fields.append(("x-ratelimit-limit-requests", String(requests.limit)))
            fields.append(("x-ratelimit-remaining-requests", String(requests.remaining)))
            fields.append(("x-ratelimit-reset-requests", duration(requests.resetSeconds)))
        }
        if let tokens {
            fields.append(("x-ratelimit-limit-tokens", String(tokens.limit)))
            fields.append(("x-ratelimit-remaining-tokens", String(tokens.remaining)))
            fields.append(("x-ratelimit-reset-tokens", duration(tokens.resetSeconds)))
        }
        return fields
    }

    /// `20ms`, `1.5s`, `6m0s`, as OpenAI writes durations (rounded up, so a client that waits that
    /// long finds the capacity back).
    static func duration(_ seconds: Double) -> String {
        // A bucket pushed far ahead (an upstream that over-reports) must not trap the conversion.
        let milliseconds = Int((min(max(0, seconds), 86_400 * 365) * 1000).rounded(.up))
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let tenths = (milliseconds + 99) / 100
        if tenths < 600 { return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s" }
        let whole = (milliseconds + 999) / 1000
        return "\(whole / 60)m\(whole % 60)s"
    }
}
