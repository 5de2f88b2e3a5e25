import Foundation
import Testing

@testable import AtriumServer

/// Every word a page shows comes from the catalogs, so both languages must hold every key a template
/// or the Swift code asks for, and neither may hold keys the other lacks.
@Suite struct StringCatalogTests {
    static let resources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Sources/AtriumServer/Resources").standardized
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Sources/AtriumServer").standardized

    @Test func bothLanguagesHoldTheSameKeys() throws {
        let catalog = try StringCatalog.bundled()
        let english = catalog.keys(.english), chinese = catalog.keys(.simplifiedChinese)
        #expect(english.subtracting(chinese).sorted() == [], "missing in zh-Hans.json")
        #expect(chinese.subtracting(english).sorted() == [], "missing in en.json")
        #expect(english.count > 50)
    }

    @Test func everyKeyATemplateUsesExists() throws {
        let catalog = try StringCatalog.bundled()
        let keys = catalog.keys(.english)
        var used = Set<String>()
        for file in try files(under: Self.resources.appendingPathComponent("templates"), ending: ".mustache") {
            let text = try String(contentsOf: file, encoding: .utf8)
            used.formUnion(matches(of: #"\{\{\{?\s*t\.([A-Za-z0-9_.]+)\s*\}?\}\}"#, in: text))
        }
        #expect(used.count > 30)
        #expect(used.subtracting(keys).sorted() == [], "used by templates but in no catalog")
    }

    @Test func everyKeyTheSwiftCodeNamesExists() throws {
        let catalog = try StringCatalog.bundled()
        let keys = catalog.keys(.english)
        var used = Set<String>()
        for file in try files(under: Self.sources, ending: ".swift") {
            let text = try String(contentsOf: file, encoding: .utf8)
            used.formUnion(matches(of: #"(?:text|titleKey:)\s*\(?\s*"([a-z_]+(?:\.[a-z_]+)+)""#, in: text))
        }
        // Keys the code builds from values: every value they can take.
        used.formUnion(ModelKind.allCases.map { "models.kinds.\($0.rawValue)" })
        used.formUnion([ProviderHealth.up, .down, .probing].map { "models.states.\($0.rawValue)" })
        for page in ["bad_request", "forbidden", "not_found", "too_many", "unavailable", "server_error"] {
            used.formUnion(["errors.\(page).heading", "errors.\(page).message"])
        }
        used.formUnion(["invalid_email", "password_too_short", "password_too_long", "invalid_name"].map { "form_errors.\($0)" })
        #expect(used.count > 20)
        #expect(used.subtracting(keys).sorted() == [], "used by Swift code but in no catalog")
    }

    @Test func placeholdersAreFilledAndAMissingKeyShowsItself() throws {
        let catalog = try StringCatalog.bundled()
        #expect(catalog.text("form_errors.password_too_short", .english, ["min": "8"]) == "A password needs at least 8 characters.")
        #expect(catalog.text("form_errors.password_too_short", .simplifiedChinese, ["min": "8"]) == "密码至少需要 8 个字符。")
        #expect(catalog.text("no.such.key", .english) == "no.such.key")
    }

    private func files(under directory: URL, ending suffix: String) throws -> [URL] {
        let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        return (walker?.allObjects as? [URL] ?? []).filter { $0.path.hasSuffix(suffix) }
    }

    private func matches(of pattern: String, in text: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: pattern)
        let range = NSRange(text.startIndex..., in: text)
        return Set(regex.matches(in: text, range: range).compactMap { Range($0.range(at: 1), in: text).map { String(text[$0]) } })
    }
}
