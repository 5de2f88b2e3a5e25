import AtriumCore
import Foundation
import Hummingbird
import NIOCore

/// Request-scoped data: the request id, the connection (to notice a client that leaves mid-stream) and,
/// once a middleware has authenticated the request, the user or the API key behind it.
public struct AtriumRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public var requestID = ""
    public var user: User?
    public var keyPrincipal: KeyPrincipal?
    /// Where the request came from (`ClientAddress`: the peer, or the client behind a trusted proxy).
    public var clientAddress: String?
    /// Set by `PageMiddleware` on page requests.
    var page: PageState?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    public var requestDecoder: JSONDecoder { APICoding.decoder }
    public var responseEncoder: JSONEncoder { APICoding.encoder }
}

/// A request made with a session cookie: `user` is there, so a handler cannot forget to check it.
public struct UserRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let requestID: String
    public let user: User
    /// Where the request came from (the audit log's "from where").
    let clientAddress: String?

    public init(context: AtriumRequestContext) throws {
        guard let user = context.user else {
            throw AtriumError.unauthenticated("You need to log in to do that.", code: "not_logged_in")
        }
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.user = user
        self.clientAddress = context.clientAddress
    }

    public var requestDecoder: JSONDecoder { APICoding.decoder }
    public var responseEncoder: JSONEncoder { APICoding.encoder }
}

/// A `/v1` request made with an API key: `principal` is there.
public struct KeyRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public let requestID: String
    public let principal: KeyPrincipal

    public init(context: AtriumRequestContext) throws {
        guard let principal = context.keyPrincipal else {
            throw AtriumError.unauthenticated(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code: "missing_api_key")
        }
        self.coreContext = context.coreContext
        self.channel = context.channel
        self.requestID = context.requestID
        self.principal = principal
    }

    func require(_ scope: APIKeyScope) throws {
        guard principal.allows(scope) else {
            throw AtriumError.permissionDenied(
                "You have insufficient permissions for this operation. Missing scopes: \(scope.rawValue).", code: "insufficient_permissions")
        }
    }
}

/// JSON of the management API: snake_case keys and Unix-second timestamps, as OpenAI's own API.
enum APICoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.unixSeconds)
        }
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let seconds = try container.decode(Double.self)
            guard APICoding.timestamps.contains(seconds) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "a Unix time in seconds between 0 and \(Int64(APICoding.timestamps.upperBound)) (the year 9999)")
            }
            return Date(timeIntervalSince1970: seconds)
        }
        return decoder
    }()

    /// The timestamps a client may send: 1970 to the end of the year 9999, so every one of them can be
    /// stored, compared and written back as whole seconds.
    static let timestamps: ClosedRange<Double> = 0...253_402_300_799
}

extension Date {
    /// Whole seconds since 1970, clamped to what `Int64` holds: encoding a date never traps.
    var unixSeconds: Int64 {
        let seconds = timeIntervalSince1970.rounded(.down)
        guard seconds.isFinite else { return seconds > 0 ? .max : .min }
        return Int64(exactly: seconds) ?? (seconds > 0 ? .max : .min)
    }
}
