import AtriumCore
import Foundation
import Hummingbird

/// `/api/usage`: an organization's usage, summed by day, model and key (JSON or CSV), and its records.
struct UsageController {
    let usage: any UsageRepository
    let accounts: AccountService

    func addRoutes(to group: RouterGroup<UserRequestContext>) {
        group.get(use: summary)
        group.get("records", use: records)
    }

    struct BucketDTO: ResponseCodable {
        var object = "usage.bucket"
        var day: String
        var model: String
        var apiKeyId: String
        var requests: Int
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int
        var costMicros: Int64

        init(_ bucket: UsageBucket) {
            self.day = bucket.day
            self.model = bucket.model
            self.apiKeyId = bucket.keyID.description
            self.requests = bucket.requests
            self.promptTokens = bucket.promptTokens
            self.completionTokens = bucket.completionTokens
            self.totalTokens = bucket.totalTokens
            self.costMicros = bucket.costMicros
        }
    }

    struct RecordDTO: ResponseCodable {
        var object = "usage.record"
        var id: String
        var requestId: String
        var apiKeyId: String
        var model: String
        var provider: String?
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int
        var costMicros: Int64
        var priceId: String?
        var status: Int
        var finishReason: String?
        var streamed: Bool
        var estimated: Bool
        var latencyMs: Int
        var createdAt: Date

        init(_ record: UsageRecord) {
            self.id = record.id.hexString()
            self.requestId = record.requestID
            self.apiKeyId = record.keyID.description
            self.model = record.model
            self.provider = record.provider
            self.promptTokens = record.promptTokens
            self.completionTokens = record.completionTokens
            self.totalTokens = record.totalTokens
            self.costMicros = record.costMicros
            self.priceId = record.priceID?.hexString()
            self.status = record.status
            self.finishReason = record.finishReason
            self.streamed = record.streamed
            self.estimated = record.estimated
            self.latencyMs = record.latencyMilliseconds
            self.createdAt = record.createdAt
        }
    }

    /// `?from=2026-11-01&to=2026-11-30&model=…&key_id=…&format=csv`
    @Sendable func summary(_ request: Request, context: UserRequestContext) async throws -> Response {
        let query = try await usageQuery(request, context: context)
        let buckets = try await usage.buckets(query)
        switch request.uri.queryParameters.get("format") ?? "json" {
        case "json":
            return try APICoding.response(ListDTO(data: buckets.map(BucketDTO.init)))
        case "csv":
            let csv = UsageCSV.render(buckets)
            return Response(
                status: .ok,
                headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"usage-\(query.organizationID).csv\""],
                body: .init(byteBuffer: ByteBuffer(string: csv)))
        default:
            throw AtriumError.invalidRequest("format must be json or csv.", param: "format")
        }
    }

    /// The newest records (`?limit=`, at most 1000), with the same filters.
    @Sendable func records(_ request: Request, context: UserRequestContext) async throws -> ListDTO<RecordDTO> {
        let query = try await usageQuery(request, context: context)
        return ListDTO(data: try await usage.records(query, limit: try request.listLimit()).map(RecordDTO.init))
    }

    private func usageQuery(_ request: Request, context: UserRequestContext) async throws -> UsageQuery {
        let parameters = request.uri.queryParameters
        let membership = try await accounts.acting(parameters.get("organization_id"), user: context.user.id)
        var query = UsageQuery(organizationID: membership.organization.id)
        for (name, keyPath) in [("from", \UsageQuery.fromDay), ("to", \UsageQuery.toDay)] {
            guard let day = parameters.get(name) else { continue }
            guard UsageRecord.start(ofDay: day) != nil else { throw AtriumError.invalidRequest("\(name) must be a date like 2026-11-23.", param: name) }
            query[keyPath: keyPath] = day
        }
        if let model = parameters.get("model") {
            guard model.count <= 200 else { throw AtriumError.invalidRequest("model is at most 200 characters.", param: "model") }
            query.model = model
        }
        if let key = parameters.get("key_id") {
            guard let id = APIKeyID(key) else { throw AtriumError.invalidRequest("key_id is not a key id.", param: "key_id") }
            query.keyID = id
        }
        return query
    }
}

/// Usage buckets as CSV, for the API's export and `atrium admin usage --csv`.
public enum UsageCSV {
    public static let header = "day,model,api_key_id,requests,prompt_tokens,completion_tokens,total_tokens,cost"

    public static func render(_ buckets: [UsageBucket]) -> String {
        var csv = header + "\n"
        for bucket in buckets {
            csv += [
                bucket.day, field(bucket.model), bucket.keyID.description, String(bucket.requests), String(bucket.promptTokens),
                String(bucket.completionTokens), String(bucket.totalTokens), bucket.costMicros.formattedUnits,
            ].joined(separator: ",") + "\n"
        }
        return csv
    }

    /// A CSV field, quoted when it holds a comma, quote or line break, and defused when a spreadsheet
    /// would take it for a formula.
    static func field(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        guard text.contains(where: { ",\"\n\r".contains($0) }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
