import Foundation
import Ink

/// The guides, written in Markdown per language (`Resources/docs/<language>/<slug>.md`, with `title`,
/// `summary` and `order` in the front matter), rendered once at start. A line `[[sample chat]]` in a
/// guide becomes that operation's sample code in four languages, filled in per request (the server's
/// address, the reader's models).
struct DocsLibrary: Sendable {
    struct Guide: Sendable {
        enum Part: Sendable {
            case html(String)
            case sample(SampleRequest.Operation)
        }

        var slug: String
        var title: String
        var summary: String
        var order: Int
        var parts: [Part]
    }

    private let guides: [Language: [Guide]]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(directory: URL) throws {
        let parser = MarkdownParser()
        var guides: [Language: [Guide]] = [:]
        for language in Language.allCases {
            let folder = directory.appendingPathComponent(language.rawValue)
            let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".md") }.sorted()
            guides[language] = try names.map { name in
                let slug = String(name.dropLast(3))
                let markdown = parser.parse(try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8))
                guard let title = markdown.metadata["title"], let summary = markdown.metadata["summary"] else {
                    throw Failure(description: "docs/\(language.rawValue)/\(name) needs a title and a summary in its front matter")
                }
                return Guide(
                    slug: slug, title: title, summary: summary, order: Int(markdown.metadata["order"] ?? "") ?? 100,
                    parts: try Self.parts(of: markdown.html, file: name))
            }.sorted { ($0.order, $0.slug) < ($1.order, $1.slug) }
        }
        self.guides = guides
    }

    static func bundled() throws -> DocsLibrary {
        guard let directory = Bundle.module.url(forResource: "docs", withExtension: nil) else {
            throw Failure(description: "the docs are missing from the bundle")
        }
        return try DocsLibrary(directory: directory)
    }

    func guides(_ language: Language) -> [Guide] { guides[language] ?? [] }

    func guide(_ slug: String, _ language: Language) -> Guide? { guides(language).first { $0.slug == slug } }

    /// Splits rendered HTML at its sample markers (Ink wraps each in a paragraph of its own).
    private static func parts(of html: String, file: String) throws -> [Guide.Part] {
        var parts: [Guide.Part] = []
        var rest = Substring(html)
        while let marker = rest.range(of: "<p>[[sample ") {
            parts.append(.html(String(rest[..<marker.lowerBound])))
            guard let end = rest[marker.upperBound...].range(of: "]]</p>") else { throw Failure(description: "\(file): an unclosed sample marker") }
            let name = String(rest[marker.upperBound..<end.lowerBound])
            guard let operation = SampleRequest.Operation(rawValue: name) else { throw Failure(description: "\(file): no sample named \(name)") }
            parts.append(.sample(operation))
            rest = rest[end.upperBound...]
        }
        parts.append(.html(String(rest)))
        return parts
    }
}
