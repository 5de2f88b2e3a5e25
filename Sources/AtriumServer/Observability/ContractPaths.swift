/// The methods each path of the contract takes, so that a request with another method on a known path
/// gets 405 with `Allow` (RFC 9110) rather than the 404 of a path that does not exist.
struct ContractPaths: Sendable {
    /// Each path template's segments (nil for a `{parameter}`) and its methods, upper-cased.
    private let templates: [(segments: [String?], methods: [String])]

    init(contract: JSONValue) {
        let verbs = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        templates = (contract["paths"]?.objectValue ?? [:]).map { path, item in
            let segments = path.split(separator: "/").map { $0.hasPrefix("{") && $0.hasSuffix("}") ? nil : String($0) }
            let methods = verbs.filter { item[$0] != nil }.map { $0.uppercased() }
            return (segments, methods)
        }
    }

    /// The methods the contract allows on `path`; empty when no path of it matches.
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var found = Set<String>()
        for template in templates where template.segments.count == parts.count {
            if zip(template.segments, parts).allSatisfy({ $0 == nil || $0! == $1 }) { found.formUnion(template.methods) }
        }
        return found.sorted()
    }
}
