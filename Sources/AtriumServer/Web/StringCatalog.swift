import Foundation

/// Every word a page shows, one catalog per language (`Resources/locales/<language>.json`, nested
/// objects of strings). Templates read them as `{{t.area.key}}`; Swift code (form errors, page titles)
/// through `text(_:_:_:)`. A test holds both catalogs to the same keys and every used key to existing.
struct StringCatalog: @unchecked Sendable {
    // Unchecked: the tables are built once in `init` and only read afterwards.
    private let tables: [Language: [String: Any]]
    private let flat: [Language: [String: String]]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(directory: URL) throws {
        var tables: [Language: [String: Any]] = [:]
        var flat: [Language: [String: String]] = [:]
        for language in Language.allCases {
            let file = directory.appendingPathComponent("\(language.rawValue).json")
            guard let table = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] else {
                throw Failure(description: "\(file.lastPathComponent) is not a JSON object")
            }
            tables[language] = table
            flat[language] = try Self.flatten(table, prefix: "", file: file.lastPathComponent)
        }
        self.tables = tables
        self.flat = flat
    }

    /// The catalog bundled with the server.
    static func bundled() throws -> StringCatalog {
        guard let directory = Bundle.module.url(forResource: "locales", withExtension: nil) else {
            throw Failure(description: "the string catalogs are missing from the bundle")
        }
        return try StringCatalog(directory: directory)
    }

    /// The nested table a template reads as `t`.
    func table(_ language: Language) -> [String: Any] { tables[language] ?? [:] }

    /// Every key, dotted (`portal.landing.title`), of one language.
    func keys(_ language: Language) -> Set<String> { Set(flat[language]?.keys ?? [:].keys) }

    /// The text of `key` as the catalog has it, placeholders and all; nil where it has none.
    func lookup(_ key: String, _ language: Language) -> String? { flat[language]?[key] }

    /// One string, with `{name}` placeholders filled. A missing key shows itself, so it is seen at once
    /// (and the catalog test fails first).
    func text(_ key: String, _ language: Language, _ values: [String: String] = [:]) -> String {
        let text = flat[language]?[key] ?? key
        return values.isEmpty ? text : Self.fill(text, values)
    }

    /// `{name}` replaced by `values["name"]`, in one pass (pages fill hundreds of these: a chart's
    /// titles); an unknown name stays as written.
    static func fill(_ text: String, _ values: [String: String]) -> String {
        let bytes = text.utf8
        var result = ""
        result.reserveCapacity(bytes.count + 32)
        var rest = bytes.startIndex
        // The braces are ASCII, so their positions in the UTF-8 view are positions in the string too.
        while let open = bytes[rest...].firstIndex(of: UInt8(ascii: "{")), let close = bytes[open...].firstIndex(of: UInt8(ascii: "}")) {
            result += text[rest..<open]
            if let value = values[String(text[bytes.index(after: open)..<close])] { result += value } else { result += text[open...close] }
            rest = bytes.index(after: close)
        }
        result += text[rest...]
        return result
    }

    private static func flatten(_ table: [String: Any], prefix: String, file: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in table {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case let text as String: result[path] = text
            case let nested as [String: Any]: result.merge(try flatten(nested, prefix: path, file: file)) { first, _ in first }
            default: throw Failure(description: "\(file): \(path) is neither a string nor an object")
            }
        }
        return result
    }
}
