import AtriumCore
import Foundation
import Testing

/// A field for a new password tells the browser (and a password manager choosing one) the shortest
/// password the server takes: one that asked for more or less would mislead the person typing.
@Suite struct PasswordFieldTests {
    static let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Sources/AtriumServer/Resources/templates").standardized

    @Test func everyNewPasswordFieldAsksForTheServersMinimum() throws {
        let walker = FileManager.default.enumerator(at: Self.templates, includingPropertiesForKeys: nil)
        let files = (walker?.allObjects as? [URL] ?? []).filter { $0.path.hasSuffix(".mustache") }
        var fields: [String] = []
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let regex = try NSRegularExpression(pattern: #"<input[^>]*autocomplete="new-password"[^>]*>"#)
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                fields.append(String(text[Range(match.range, in: text)!]))
            }
        }
        #expect(fields.count >= 3)  // sign-up, reset, settings
        for field in fields {
            #expect(field.contains(#"minlength="\#(AccountRules.minPasswordLength)""#), "\(field)")
        }
    }
}
