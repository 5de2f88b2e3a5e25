/// The errors the domain raises. Each maps to one HTTP status and one public message in the server's
/// error middleware; anything that is not an `AtriumError` becomes a 500 with the request id.
public enum AtriumError: Error, Sendable, Equatable {
    /// The request is malformed or breaks a rule; `param` names the offending field.
    case invalidRequest(_ message: String, param: String? = nil, code: String? = nil)
    /// No credentials, or credentials that are wrong, expired or revoked.
    case unauthenticated(_ message: String, code: String? = nil)
    /// Authenticated, but not allowed to do this.
    case permissionDenied(_ message: String, code: String? = nil)
    /// The resource does not exist, or belongs to someone else (we never say which).
    case notFound(_ message: String, code: String? = nil)
    /// The resource already exists (a taken email, say).
    case conflict(_ message: String, param: String? = nil)
    /// The body is larger than the configured limit.
    case payloadTooLarge(_ message: String)
    /// Too many attempts; the client may retry after `retryAfterSeconds`.
    case rateLimited(_ message: String, retryAfterSeconds: Int, code: String? = nil)
    /// A `/v1` rate limit of the key or organization; `limit` is `requests` or `tokens` (OpenAI's type).
    case limitReached(_ message: String, retryAfterSeconds: Int, limit: String)
    /// No credit left (OpenAI's `insufficient_quota`; clients should not retry).
    case insufficientQuota(_ message: String)
    /// An upstream answered badly or not at all.
    case badGateway(_ message: String)
    /// No provider can take the request right now.
    case serviceUnavailable(_ message: String)
    /// An upstream did not answer within its deadline.
    case gatewayTimeout(_ message: String)
}

extension AtriumError {
    /// The sentence a client is told.
    public var message: String {
        switch self {
        case .invalidRequest(let message, _, _), .unauthenticated(let message, _), .permissionDenied(let message, _), .notFound(let message, _),
            .conflict(let message, _), .payloadTooLarge(let message), .rateLimited(let message, _, _), .limitReached(let message, _, _),
            .insufficientQuota(let message), .badGateway(let message), .serviceUnavailable(let message), .gatewayTimeout(let message):
            message
        }
    }
}
