import Foundation

/// The fields of an `application/x-www-form-urlencoded` body, as a page's form posts them.
struct FormData: Sendable, Equatable {
    private(set) var fields: [String: String] = [:]

    init(fields: [String: String] = [:]) { self.fields = fields }

    /// Parses a body; nil when it is not valid form encoding (bad percent escapes, not UTF-8) or holds a
    /// NUL, which no field takes and PostgreSQL cannot store.
    init?(encoded: String) {
        for pair in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : ""),
                !name.contains("\0"), !value.contains("\0")
            else { return nil }
            // The first value of a repeated name counts, as for a single-valued field.
            if fields[name] == nil { fields[name] = value }
        }
    }

    subscript(_ name: String) -> String? { fields[name] }

    /// A field's text with surrounding whitespace removed ("" when absent).
    func trimmed(_ name: String) -> String { (fields[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
