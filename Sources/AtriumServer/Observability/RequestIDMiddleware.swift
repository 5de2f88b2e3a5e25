import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id (the client's `x-request-id` when it is sane, else a new one), puts it in
/// the logger's metadata and echoes it on the response, errors included.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.requestID].flatMap(Self.accepted) ?? "req_" + RequestIDGenerator.next()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }

    /// A client's own id is kept when it is short and plain, so it can be logged and echoed safely.
    private static func accepted(_ id: String) -> String? {
        guard !id.isEmpty, id.utf8.count <= 128 else { return nil }
        let plain = id.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95
        }
        return plain ? id : nil
    }
}

enum RequestIDGenerator {
    static func next() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        var bytes = [UInt8](repeating: 0, count: 24)
        for index in bytes.indices { bytes[index] = alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
}
