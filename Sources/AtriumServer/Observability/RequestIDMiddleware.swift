import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id (the client's `x-request-id` when it is sane, else a new one), puts it in
/// the logger's metadata and echoes it on the response, errors included.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = RequestIDGenerator.id(clientSent: request.headers[.requestID])
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }

    /// A client's own id is kept when it is short and plain, so it can be logged and echoed safely.
    fileprivate static func accepted(_ id: String) -> String? {
        guard !id.isEmpty, id.utf8.count <= 128 else { return nil }
        let plain = id.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95
        }
        return plain ? id : nil
    }
}

enum RequestIDGenerator {
    /// The client's id when it is acceptable, else a new one.
    static func id(clientSent: String?) -> String {
        clientSent.flatMap(RequestIDMiddleware.accepted) ?? "req_" + next()
    }

    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// 24 base-36 characters (about 124 bits) from two draws of the system generator: on Linux every
    /// draw is a `getrandom` call, so one per character would cost more than the rest of the request.
    static func next() -> String {
        var generator = SystemRandomNumberGenerator()
        var words = (generator.next() as UInt64, generator.next() as UInt64)
        return String(unsafeUninitializedCapacity: 24) { buffer in
            for index in 0..<24 {
                if index < 12 {
                    buffer[index] = alphabet[Int(words.0 % 36)]
                    words.0 /= 36
                } else {
                    buffer[index] = alphabet[Int(words.1 % 36)]
                    words.1 /= 36
                }
            }
            return 24
        }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
}
