import AtriumCore
import AtriumPersistence
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Turns every error into OpenAI's envelope `{"error":{"message","type","param","code"}}` with the right
/// status. This is the one place where domain errors meet HTTP. Anything unexpected becomes a 500 that
/// names the request id and is logged, never shown.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext
    /// The contract's paths: a known path asked with another method is a 405 naming the ones it takes.
    var paths: ContractPaths?
    /// Renders the page a browser gets for an address outside the JSON APIs that has no route.
    var pages: PageRenderer?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && pages != nil && Self.wantsPage(request) {
            guard let pages else { throw error }
            var response = pages.errorPage(status: .notFound, state: PageState(request: request), requestID: context.requestID)
            SecurityHeaders.apply(to: &response.headers)
            return response
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = paths?.methods(for: request.uri.path) ?? []
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else {
                return Self.response(for: error, request: request, requestID: context.requestID, logger: context.logger)
            }
            var response = Self.response(for: HTTPError(.methodNotAllowed), request: request, requestID: context.requestID, logger: context.logger)
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
        } catch {
            return Self.response(for: error, request: request, requestID: context.requestID, logger: context.logger)
        }
    }

    /// A browser asking for a page: HTML accepted, and an address outside the JSON APIs.
    static func wantsPage(_ request: Request) -> Bool {
        let path = request.uri.path
        let machine = ["/v1/", "/api/", "/tokenize", "/detokenize", "/openapi", "/healthz", "/readyz", "/metrics"]
        return request.headers[.accept]?.contains("text/html") == true && !machine.contains { path == $0 || path.hasPrefix($0) }
            && path != "/v1" && path != "/api"
    }

    static func response(for error: any Error, request: Request, requestID: String, logger: Logger) -> Response {
        let envelope = ErrorEnvelope(error, method: request.method.rawValue, path: request.uri.path, requestID: requestID)
        if envelope.status == .internalServerError {
            logger.error("unhandled error", metadata: ["error": .string(String(reflecting: error)), "request_id": .string(requestID)])
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = envelope.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: envelope.status, headers: headers, body: .init(byteBuffer: envelope.body.encodedBuffer()))
    }
}

struct ErrorEnvelope {
    var status: HTTPResponse.Status
    var body: JSONValue
    var retryAfter: Int?

    init(_ error: any Error, method: String, path: String, requestID: String) {
        func make(_ status: HTTPResponse.Status, _ message: String, type: String, param: String? = nil, code: String? = nil) -> (HTTPResponse.Status, JSONValue) {
            (status, .object(["error": .object([
                "message": .string(message), "type": .string(type),
                "param": param.map(JSONValue.string) ?? .null, "code": code.map(JSONValue.string) ?? .null,
            ])]))
        }
        var retryAfter: Int?
        let result: (HTTPResponse.Status, JSONValue)
        switch error {
        case let error as AtriumError:
            switch error {
            case .invalidRequest(let message, let param, let code): result = make(.badRequest, message, type: "invalid_request_error", param: param, code: code)
            case .unauthenticated(let message, let code): result = make(.unauthorized, message, type: "invalid_request_error", code: code)
            case .permissionDenied(let message, let code): result = make(.forbidden, message, type: "invalid_request_error", code: code ?? "permission_denied")
            case .notFound(let message, let code): result = make(.notFound, message, type: "invalid_request_error", code: code)
            case .conflict(let message, let param): result = make(.conflict, message, type: "invalid_request_error", param: param, code: "conflict")
            case .payloadTooLarge(let message): result = make(.contentTooLarge, message, type: "invalid_request_error", code: "request_too_large")
            case .rateLimited(let message, let seconds, let code):
                retryAfter = seconds
                result = make(.tooManyRequests, message, type: "requests", code: code ?? "rate_limit_exceeded")
            case .limitReached(let message, let seconds, let limit):
                retryAfter = seconds
                result = make(.tooManyRequests, message, type: limit, code: "rate_limit_exceeded")
            case .insufficientQuota(let message):
                result = make(.tooManyRequests, message, type: "insufficient_quota", code: "insufficient_quota")
            case .badGateway(let message): result = make(.badGateway, message, type: "server_error", code: "upstream_error")
            case .serviceUnavailable(let message): result = make(.serviceUnavailable, message, type: "server_error", code: "service_unavailable")
            case .gatewayTimeout(let message): result = make(.gatewayTimeout, message, type: "server_error", code: "upstream_timeout")
            }
        case let error where DatabaseFailure.isConnectionLoss(error):
            // The database is away (restarting, unreachable): the client may retry in a moment.
            retryAfter = 1
            result = make(
                .serviceUnavailable, "The service is briefly unavailable (its database does not answer). Please retry in a moment.",
                type: "server_error", code: "service_unavailable")
        case let rejection as UpstreamRejection:
            let status = HTTPResponse.Status(code: rejection.status)
            if let upstream = rejection.error, upstream["message"]?.stringValue != nil {
                var object = upstream.objectValue ?? [:]
                for key in ["type", "param", "code"] where object[key] == nil { object[key] = .null }
                result = (status, .object(["error": .object(object)]))
            } else {
                result = make(status, rejection.message, type: "invalid_request_error")
            }
        case JSONBodyError.unparsable:
            result = make(
                .badRequest,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)",
                type: "invalid_request_error")
        case is NIOTooManyBytesError:
            result = make(.contentTooLarge, "The request body is too large.", type: "invalid_request_error", code: "request_too_large")
        case let error as DecodingError:
            let (message, param) = Self.describe(error)
            result = make(.badRequest, message, type: "invalid_request_error", param: param, code: "invalid_value")
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                result = make(.notFound, "Unknown request URL: \(method) \(path). Please check the URL for typos.", type: "invalid_request_error", code: "unknown_url")
            case .contentTooLarge:
                result = make(.contentTooLarge, "The request body is too large.", type: "invalid_request_error", code: "request_too_large")
            case .methodNotAllowed:
                result = make(.methodNotAllowed, "Method \(method) is not allowed on \(path).", type: "invalid_request_error", code: "method_not_allowed")
            default:
                result = make(error.status, error.body ?? error.status.reasonPhrase, type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
            }
        default:
            result = make(
                .internalServerError,
                "The server had an error while processing your request. Please retry, and include the request id \(requestID) if you contact us.",
                type: "server_error")
        }
        (self.status, self.body, self.retryAfter) = (result.0, result.1, retryAfter)
    }

    private static func describe(_ error: DecodingError) -> (String, String?) {
        func path(_ context: DecodingError.Context) -> String? {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? nil : keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let param = ([path(context)].compactMap { $0 } + [key.stringValue.snakeCased]).joined(separator: ".")
            return ("Missing required parameter: '\(param)'.", param)
        case .typeMismatch(let type, let context):
            let param = path(context)?.snakeCased
            return ("Invalid type for '\(param ?? "body")': expected \(type).", param)
        case .valueNotFound(_, let context):
            let param = path(context)?.snakeCased
            return ("Missing value for '\(param ?? "body")'.", param)
        case .dataCorrupted(let context):
            let param = path(context)?.snakeCased
            guard let param else { return ("We could not parse the JSON body of your request.", nil) }
            // Our own range checks say what is expected; Foundation's descriptions are not for clients.
            let expected = context.underlyingError == nil && context.debugDescription.hasPrefix("a ") ? ": expected \(context.debugDescription)" : ""
            return ("Invalid value for '\(param)'\(expected).", param)
        @unknown default:
            return ("Invalid request body.", nil)
        }
    }
}

extension String {
    /// `expiresAt` → `expires_at`, for naming fields in errors as clients send them.
    var snakeCased: String {
        var result = ""
        for character in self {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}
