import AtriumCore
import Foundation
import Hummingbird
import NIOCore

/// `/dashboard`: the acting organization's credit, spend this month against its budget, 30 days of
/// usage by model (an SVG drawn here), and its latest requests; a request id in the search box finds
/// that call. What is shown can be downloaded as CSV.
struct DashboardPagesController {
    let accounts: AccountService
    let credits: CreditService
    let usage: any UsageRepository
    /// The newest announcement, shown above the figures.
    let news: NewsService
    /// The usage charts, kept until an organization's usage changes.
    let charts: UsageChartCache
    let renderer: PageRenderer

    static let chartDays = 30
    static let latestRequests = 20
    static let csvRequests = 1000
    /// An announcement older than this is no longer news on the dashboard.
    static let announcementDays = 30.0

    struct Page {
        struct Request {
            var time: String
            var requestID: String
            var model: String
            var promptTokens: String
            var completionTokens: String
            var cost: String
            var status: String
            var failed: Bool
            var latency: String
            var error: String

            /// The row as the table shows it, every value escaped.
            var html: String {
                let e = HTMLText.escape
                return "<tr><td>\(e(time))</td><th scope=\"row\"><code>\(e(requestID))</code></th><td><code>\(e(model))</code></td>"
                    + "<td>\(e(promptTokens))</td><td>\(e(completionTokens))</td><td>\(e(cost))</td>"
                    + "<td><span class=\"status\(failed ? " failed" : "")\">\(e(status))</span></td><td>\(e(latency))</td>"
                    + "<td class=\"error-text\">\(e(error))</td></tr>"
            }
        }

        struct Announcement {
            var title: String
            var href: String
            var date: String
        }

        var heading: String
        var organization: String
        var announcement: Announcement?
        var balance: String
        var plan: String
        var spent: String
        var budget: String?
        var budgetMicros: Int64
        var spentMicros: Int64
        var chart: UsageChart
        /// The latest requests' table rows, written here and escaped (fifty rows of nine cells were the
        /// template engine's largest share of the page).
        var requestsHTML: String
        var hasRequests: Bool
        var search: String
        var searching: Bool
        var notFound: String?
        var csvQuery: String
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("dashboard", use: dashboard)
        router.get("dashboard/requests.csv", use: requestsCSV)
        router.get("dashboard/usage.csv", use: usageCSV)
    }

    @Sendable func dashboard(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let organization = try await context.actingOrganization(accounts).organization
        let account = try await credits.account(of: organization.id)
        let spent = try await credits.spentThisMonth(by: organization.id)
        let search = Self.search(request)
        let records = try await usage.records(UsageQuery(organizationID: organization.id, requestID: search), limit: Self.latestRequests)
        let span = Self.span(endingAt: Date())
        let text = { [catalog = renderer.catalog, language = context.language] (key: String, values: [String: String]) in catalog.text(key, language, values) }
        let chart = try await charts.chart(.init(organization: organization.id, language: context.language, lastDay: span.last ?? "")) {
            UsageChart(buckets: try await usage.buckets(UsageQuery(organizationID: organization.id, fromDay: span.first, toDay: span.last)), span: span, text: text)
        }
        let recent = try await news.latestAnnouncement().flatMap { $0.publishedAt > Date().addingTimeInterval(-Self.announcementDays * 86400) ? $0 : nil }
        let page = Page(
            heading: text("dashboard.heading", ["name": context.user.name]), organization: organization.name,
            announcement: recent.map { Page.Announcement(title: $0.title, href: "/announcements#post-\($0.id)", date: PageFormat.date($0.publishedAt)) },
            balance: text("models.price", ["amount": account.balanceMicros.displayAmount]), plan: account.plan ?? "default",
            spent: text("models.price", ["amount": spent.displayAmount]),
            budget: account.monthlyBudget.map { text("models.price", ["amount": $0.displayAmount]) },
            budgetMicros: account.monthlyBudget ?? 0, spentMicros: min(spent, account.monthlyBudget ?? spent),
            chart: chart,
            requestsHTML: records.map { record in
                Page.Request(
                    time: PageFormat.time(record.createdAt), requestID: record.requestID, model: record.model,
                    promptTokens: PageFormat.integer(record.promptTokens), completionTokens: PageFormat.integer(record.completionTokens),
                    cost: record.costMicros.displayAmount, status: String(record.status), failed: record.status >= 400,
                    latency: text("dashboard.milliseconds", ["count": PageFormat.integer(record.latencyMilliseconds)]),
                    error: record.errorMessage ?? "").html
            }.joined(),
            hasRequests: !records.isEmpty, search: search ?? "", searching: search != nil,
            notFound: search != nil && records.isEmpty ? text("dashboard.not_found", ["id": search ?? ""]) : nil,
            csvQuery: search.map { "?request_id=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") } ?? "")
        return renderer.render("dashboard/index", titleKey: "dashboard.title", model: page, state: context.page)
    }

    /// The latest requests shown (or the one searched for), as CSV.
    @Sendable func requestsCSV(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let organization = try await context.actingOrganization(accounts).organization
        let records = try await usage.records(UsageQuery(organizationID: organization.id, requestID: Self.search(request)), limit: Self.csvRequests)
        var csv = CSV(header: ["created_at", "request_id", "model", "provider", "prompt_tokens", "completion_tokens", "cost", "status", "latency_ms", "streamed", "error"])
        for record in records {
            csv.append([
                ISO8601DateFormatter().string(from: record.createdAt), record.requestID, record.model, record.provider ?? "",
                String(record.promptTokens), String(record.completionTokens), record.costMicros.formattedUnits, String(record.status),
                String(record.latencyMilliseconds), String(record.streamed), record.errorMessage ?? "",
            ])
        }
        return csv.response(filename: "requests.csv")
    }

    /// The chart's numbers: per day and model, 30 days, as CSV.
    @Sendable func usageCSV(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let organization = try await context.actingOrganization(accounts).organization
        let span = Self.span(endingAt: Date())
        var totals: [String: (requests: Int, prompt: Int, completion: Int, cost: Micros)] = [:]
        for bucket in try await usage.buckets(UsageQuery(organizationID: organization.id, fromDay: span.first, toDay: span.last)) {
            let key = bucket.day + "\u{0}" + bucket.model
            var total = totals[key] ?? (0, 0, 0, 0)
            total.requests += bucket.requests
            total.prompt += bucket.promptTokens
            total.completion += bucket.completionTokens
            total.cost = total.cost.clampedAdding(bucket.costMicros)
            totals[key] = total
        }
        var csv = CSV(header: ["day", "model", "requests", "prompt_tokens", "completion_tokens", "cost"])
        for (key, total) in totals.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            csv.append([parts[0], parts.count > 1 ? parts[1] : "", String(total.requests), String(total.prompt), String(total.completion), total.cost.formattedUnits])
        }
        return csv.response(filename: "usage.csv")
    }

    /// The request id searched for: trimmed, at most 200 characters, nil when none.
    static func search(_ request: Request) -> String? {
        guard let raw = request.uri.queryParameters["request_id"] else { return nil }
        let text = String(raw).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : String(text.prefix(UsageRecord.maxTextLength))
    }

    /// The chart's days, oldest first, ending today (UTC).
    static func span(endingAt end: Date) -> [String] {
        (0..<chartDays).reversed().map { UsageRecord.day(of: end.addingTimeInterval(-Double($0) * 86_400)) }
    }
}

/// Comma-separated values as RFC 4180 writes them, with cells that a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) prefixed with `'` (OWASP's CSV injection advice).
struct CSV {
    private var lines: [String]

    init(header: [String]) { lines = [Self.line(header)] }

    mutating func append(_ cells: [String]) { lines.append(Self.line(cells)) }

    func response(filename: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\"", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: lines.joined(separator: "\r\n") + "\r\n")))
    }

    private static func line(_ cells: [String]) -> String {
        cells.map { cell in
            var cell = cell
            if let first = cell.first, "=+-@".contains(first), Double(cell) == nil { cell = "'" + cell }
            guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
            return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }
}
