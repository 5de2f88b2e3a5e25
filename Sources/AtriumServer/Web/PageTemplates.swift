import Foundation
import Mustache

/// The page templates, compiled once per language. A template's catalog strings (`{{t.key}}`) are the
/// same on every render, so they are written into the template's text when it is loaded: swift-mustache
/// looks a name up by walking every value on its stack with dynamic casts, and a third of all tags
/// (most of them inside loops, where the walk is longest) were catalog strings. Every template also
/// escapes its values with `FastHTML` instead of the library's character-by-character escaping.
enum PageTemplates {
    /// One library per language, from the `.mustache` files under `directory` (named by their path
    /// without the extension, as `MustacheLibrary(directory:)` names them).
    static func load(directory: URL, catalog: StringCatalog) throws -> [Language: MustacheLibrary] {
        MustacheContentTypes.register(FastHTML(), named: FastHTML.name)
        let sources = try read(directory)
        var libraries: [Language: MustacheLibrary] = [:]
        for language in Language.allCases {
            var library = MustacheLibrary()
            for (name, source) in sources {
                try library.register(compiled(source, catalog: catalog, language: language), named: name)
            }
            libraries[language] = library
        }
        return libraries
    }

    /// `source` with its catalog tags replaced by their escaped text in `language` (a key the catalog
    /// lacks stays a tag and renders empty, as before), under the fast escaping.
    static func compiled(_ source: String, catalog: StringCatalog, language: Language) -> String {
        var result = "{{% CONTENT_TYPE: \(FastHTML.name) }}\n"
        result.reserveCapacity(source.utf8.count + 64)
        var rest = Substring(source)
        while let open = rest.range(of: "{{t.") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            let key = String(rest[open.upperBound..<close.lowerBound])
            if key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }), let text = catalog.lookup(key, language) {
                result += FastHTML.escapeForTemplate(text)
            } else {
                result += rest[open.lowerBound..<close.upperBound]
            }
            rest = rest[close.upperBound...]
        }
        result += rest
        return result
    }

    private static func read(_ directory: URL) throws -> [String: String] {
        let root = directory.standardizedFileURL.path + "/"
        guard let files = FileManager.default.enumerator(atPath: root) else { return [:] }
        var sources: [String: String] = [:]
        for case let path as String in files where path.hasSuffix(".mustache") {
            sources[String(path.dropLast(".mustache".count))] = try String(contentsOfFile: root + path, encoding: .utf8)
        }
        return sources
    }
}

/// HTML escaping for template values: the five characters swift-mustache's HTML type escapes, over
/// UTF-8 bytes (`HTMLText.escape`), and nothing copied when there is nothing to escape.
struct FastHTML: MustacheContentType {
    static let name = "ATRIUM_HTML"

    func escapeText(_ text: String) -> String {
        text.utf8.contains(where: Self.needsEscape) ? HTMLText.escape(text) : text
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "\"")
            || byte == UInt8(ascii: "'")
    }

    /// Text written into a template's source: escaped as a value would be, and its braces as character
    /// references so that no catalog string can open a tag.
    static func escapeForTemplate(_ text: String) -> String {
        HTMLText.escape(text).replacingOccurrences(of: "{", with: "&#123;").replacingOccurrences(of: "}", with: "&#125;")
    }
}
