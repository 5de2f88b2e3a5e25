import HTTPTypes
import Hummingbird
import Logging
import Synchronization

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
        clientSent.flatMap(RequestIDMiddleware.accepted) ?? next()
    }

    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// A random per-process prefix and a counter: unique, unguessable enough to be no handle on anything,
    /// and free of the `getrandom` system call that drawing fresh randomness per request would cost.
    private static let prefix: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return Array("req_".utf8) + (0..<12).map { _ in alphabet[Int(generator.next(upperBound: UInt32(36)))] }
    }()
    private static let counter = Atomic<UInt64>(0)

    /// `req_`, the prefix and the counter in 12 base-36 digits, written into the string at once.
    static func next() -> String {
        var value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let length = prefix.count + 12
        return String(unsafeUninitializedCapacity: length) { output in
            _ = output.initialize(fromContentsOf: prefix)
            var index = length - 1
            while index >= prefix.count {
                output[index] = alphabet[Int(value % 36)]
                value /= 36
                index -= 1
            }
            return length
        }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
}
