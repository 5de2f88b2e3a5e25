import AtriumCore
import Hummingbird

/// The NUL character is refused wherever text comes in on `/api`: PostgreSQL cannot store it (the
/// statement fails, which a client would see as a 500) and no name, email or description needs it.
struct TextInputMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.removingPercentEncoding?.contains("\0") == true {
            throw AtriumError.invalidRequest("The path holds the NUL character, which no name may contain.")
        }
        for (name, value) in request.uri.queryParameters where value.contains("\0") || name.contains("\0") {
            throw AtriumError.invalidRequest("The query parameter '\(String(name).prefix(40))' holds the NUL character.", param: String(name.prefix(40)))
        }
        return try await next(request, context)
    }
}

extension JSONValue {
    /// The path of the first string (or key) holding the NUL character, as clients name fields
    /// (`name`, `members[2].email`); nil when there is none.
    func pathOfNUL(at path: String = "") -> String? {
        switch self {
        case .string(let text): return text.contains("\0") ? (path.isEmpty ? "body" : path) : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = item.pathOfNUL(at: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let members):
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                let field = path.isEmpty ? key : "\(path).\(key)"
                if key.contains("\0") { return path.isEmpty ? "body" : path }
                if let found = value.pathOfNUL(at: field) { return found }
            }
            return nil
        default: return nil
        }
    }
}
