import Foundation

/// One `/v1` request as the usage ledger keeps it: append-only, one row per request, whatever its outcome.
public struct UsageRecord: Sendable, Equatable, Codable {
    /// Unique per record (the ledger's key, so a replayed journal never counts a request twice);
    /// `requestID` is the `x-request-id` a client sees, which a client may also choose.
    public var id: UUID
    public var requestID: String
    public var organizationID: OrganizationID
    public var keyID: APIKeyID
    public var model: String
    /// The provider that answered, nil when none did.
    public var provider: String?
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int { promptTokens + completionTokens }
    public var costMicros: Micros
    /// The price the request was charged at, nil for a free model.
    public var priceID: UUID?
    /// The HTTP status the client got (499 when the client went away first).
    public var status: Int
    public var finishReason: String?
    public var streamed: Bool
    /// The token counts are Atrium's estimate, not the upstream's report.
    public var estimated: Bool
    public var latencyMilliseconds: Int
    public var createdAt: Date
    /// What a refused or failed call was told (the error envelope's message), at most 200 characters;
    /// nil for a call that succeeded.
    public var errorMessage: String?

    public init(
        id: UUID = TimeOrderedID.make(), requestID: String, organizationID: OrganizationID, keyID: APIKeyID, model: String, provider: String?,
        promptTokens: Int, completionTokens: Int, costMicros: Micros, priceID: UUID?, status: Int, finishReason: String?,
        streamed: Bool, estimated: Bool, latencyMilliseconds: Int, createdAt: Date, errorMessage: String? = nil
    ) {
        self.id = id
        self.requestID = Self.storable(requestID)
        self.organizationID = organizationID
        self.keyID = keyID
        self.model = Self.storable(model)
        self.provider = provider.map(Self.storable)
        self.promptTokens = Self.storable(promptTokens)
        self.completionTokens = Self.storable(completionTokens)
        self.costMicros = costMicros
        self.priceID = priceID
        self.status = status
        self.finishReason = finishReason.map(Self.storable)
        self.streamed = streamed
        self.estimated = estimated
        self.latencyMilliseconds = latencyMilliseconds
        self.createdAt = createdAt
        self.errorMessage = errorMessage.map(Self.storable)
    }

    /// Text as every database stores it: no control characters (PostgreSQL refuses NUL), at most
    /// `maxTextLength` characters. Clients choose model names and request ids; upstreams finish reasons.
    static func storable(_ text: String) -> String {
        guard text.utf8.count > maxTextLength || text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(maxTextLength)))
    }

    public static let maxTextLength = 200
    /// Token counts beyond this are not believed (and would overflow costs): 2^40.
    public static let maxTokens = 1 << 40

    static func storable(_ tokens: Int) -> Int { min(max(tokens, 0), maxTokens) }

    /// The UTC day (`2026-11-23`), which the ledger stores for grouping.
    public var day: String { UsageRecord.day(of: createdAt) }

    /// Names UTC days as `day(of:)` does, remembering the last one: the records of a group commit mostly
    /// share a day, and naming it builds a string.
    public struct DayNames {
        private var number = Int.min
        private var name = ""

        public init() {}

        public mutating func name(of date: Date) -> String {
            let day = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
            if day != number {
                number = day
                name = UsageRecord.day(of: date)
            }
            return name
        }
    }

    /// The civil date of a UTC day number (Howard Hinnant's `civil_from_days`): integer arithmetic,
    /// as this runs for every record of every group commit.
    public static func day(of date: Date) -> String {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(year)-\(two(month))-\(two(day))"
    }

    /// When the UTC day `day` (`2026-11-23`) begins, the inverse of `day(of:)` (Hinnant's
    /// `days_from_civil`); nil when it is not such a date (`2026-02-30` included).
    public static func start(ofDay day: String) -> Date? {
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            var year = Int(parts[0]), let month = Int(parts[1]), let dayOfMonth = Int(parts[2]),
            (1...12).contains(month), (1...31).contains(dayOfMonth)
        else { return nil }
        if month <= 2 { year -= 1 }
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + dayOfMonth - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let start = Date(timeIntervalSince1970: Double(era * 146_097 + dayOfEra - 719_468) * 86_400)
        return Self.day(of: start) == day ? start : nil
    }
}

/// A filter over the usage ledger of one organization; days are inclusive UTC dates (`2026-11-23`).
public struct UsageQuery: Sendable, Equatable {
    public var organizationID: OrganizationID
    public var fromDay: String?
    public var toDay: String?
    public var model: String?
    public var keyID: APIKeyID?
    /// One call, by the request id it answered with.
    public var requestID: String?

    public init(
        organizationID: OrganizationID, fromDay: String? = nil, toDay: String? = nil, model: String? = nil, keyID: APIKeyID? = nil,
        requestID: String? = nil
    ) {
        self.organizationID = organizationID
        self.fromDay = fromDay
        self.toDay = toDay
        self.model = model
        self.keyID = keyID
        self.requestID = requestID
    }
}

/// Usage summed over one day, model and key.
public struct UsageBucket: Sendable, Equatable, Codable {
    public var day: String
    public var model: String
    public var keyID: APIKeyID
    public var requests: Int
    public var promptTokens: Int
    public var completionTokens: Int
    public var costMicros: Micros

    public init(day: String, model: String, keyID: APIKeyID, requests: Int, promptTokens: Int, completionTokens: Int, costMicros: Micros) {
        self.day = day
        self.model = model
        self.keyID = keyID
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costMicros = costMicros
    }

    /// Prompt and completion tokens together, held at `Int.max` (an upstream that over-reports).
    public var totalTokens: Int {
        let (sum, overflow) = promptTokens.addingReportingOverflow(completionTokens)
        return overflow ? .max : sum
    }
}

public protocol UsageRepository: Sendable {
    /// Appends records in one transaction, together with one usage debit per organization in the credit
    /// ledger and the matching balance updates. Returns what was debited per organization.
    ///
    /// With `mayRepeat`, records already in the ledger (same `id`) are skipped, so committing a batch
    /// twice counts it once: pass it for journals replayed after a crash and for retries of a commit
    /// that failed. Without it the ledger does not look first, and a record already there fails the
    /// whole transaction (its primary key), so nothing is ever counted twice either way.
    func commit(_ records: [UsageRecord], mayRepeat: Bool) async throws -> [OrganizationID: Micros]
    func buckets(_ query: UsageQuery) async throws -> [UsageBucket]
    /// Individual records, newest first (for tests, audits and support).
    func records(_ query: UsageQuery, limit: Int) async throws -> [UsageRecord]
}
