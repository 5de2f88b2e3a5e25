import Foundation

/// Python's `str` semantics, which work on code points: Swift's `String` compares and counts by
/// grapheme and canonical equivalence, so `"e\u{301}"` would be one character equal to `"é"`.
enum PythonText {
    /// `str.isspace()`: Unicode `Zs` plus the bidi whitespace, segment and paragraph separators.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// `str.isprintable()` per code point, which decides what `repr` escapes.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default:
            return true
        }
    }

    static func scalars(_ string: String) -> [Unicode.Scalar] { Array(string.unicodeScalars) }

    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func equal(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    /// Code point order, which is also UTF-8 byte order.
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    static func length(_ string: String) -> Int { string.unicodeScalars.count }

    // MARK: Case

    static func lower(_ string: String) -> String {
        var out = ""
        for scalar in string.unicodeScalars { out += scalar.properties.lowercaseMapping }
        return out
    }

    static func upper(_ string: String) -> String {
        var out = ""
        for scalar in string.unicodeScalars { out += scalar.properties.uppercaseMapping }
        return out
    }

    /// `str.capitalize()`: the first code point title-cased, the rest lower-cased.
    static func capitalize(_ string: String) -> String {
        var out = ""
        for (index, scalar) in string.unicodeScalars.enumerated() {
            out += index == 0 ? scalar.properties.titlecaseMapping : scalar.properties.lowercaseMapping
        }
        return out
    }

    /// `str.title()`: title-case after every uncased code point ("they're" becomes "They'Re").
    static func title(_ string: String) -> String {
        var out = ""
        var previousIsCased = false
        for scalar in string.unicodeScalars {
            out += previousIsCased ? scalar.properties.lowercaseMapping : scalar.properties.titlecaseMapping
            previousIsCased = scalar.properties.isCased
        }
        return out
    }

    static func swapcase(_ string: String) -> String {
        var out = ""
        for scalar in string.unicodeScalars {
            if scalar.properties.isUppercase {
                out += scalar.properties.lowercaseMapping
            } else if scalar.properties.isLowercase {
                out += scalar.properties.uppercaseMapping
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: Searching and splitting

    static func find(_ haystack: [Unicode.Scalar], _ needle: [Unicode.Scalar], from start: Int = 0, to end: Int? = nil)
        -> Int?
    {
        let end = end ?? haystack.count
        guard needle.count <= end - start else { return nil }
        if needle.isEmpty { return start }
        var index = start
        while index + needle.count <= end {
            if haystack[index] == needle[0], haystack[index..<index + needle.count].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    static func rfind(_ haystack: [Unicode.Scalar], _ needle: [Unicode.Scalar]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = haystack.count - needle.count
        while index >= 0 {
            if haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index -= 1
        }
        return nil
    }

    static func contains(_ haystack: String, _ needle: String) -> Bool {
        find(scalars(haystack), scalars(needle)) != nil
    }

    static func count(_ haystack: String, _ needle: String) -> Int {
        let hay = scalars(haystack)
        let sub = scalars(needle)
        if sub.isEmpty { return hay.count + 1 }
        var total = 0
        var index = 0
        while let found = find(hay, sub, from: index) {
            total += 1
            index = found + sub.count
        }
        return total
    }

    static func replace(_ string: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let hay = scalars(string)
        let sub = scalars(old)
        let replacement = scalars(new)
        var out: [Unicode.Scalar] = []
        var remaining = count < 0 ? Int.max : count
        if sub.isEmpty {
            // Python inserts the replacement around every code point.
            for scalar in hay {
                if remaining > 0 {
                    out += replacement
                    remaining -= 1
                }
                out.append(scalar)
            }
            if remaining > 0 { out += replacement }
            return PythonText.string(out)
        }
        var index = 0
        while remaining > 0, let found = find(hay, sub, from: index) {
            out += hay[index..<found]
            out += replacement
            index = found + sub.count
            remaining -= 1
        }
        out += hay[index...]
        return PythonText.string(out)
    }

    /// `str.strip(chars)`; `nil` strips whitespace. Works on index ranges: templates trim every message.
    static func strip(_ string: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let view = string.unicodeScalars
        let set = chars.map { Set($0.unicodeScalars) }
        func stripped(_ scalar: Unicode.Scalar) -> Bool { set.map { $0.contains(scalar) } ?? isSpace(scalar) }
        var start = view.startIndex
        var end = view.endIndex
        if leading { while start < end, stripped(view[start]) { start = view.index(after: start) } }
        if trailing {
            while end > start {
                let before = view.index(before: end)
                guard stripped(view[before]) else { break }
                end = before
            }
        }
        return String(view[start..<end])
    }

    /// `str.split(sep, maxsplit)`.
    static func split(_ string: String, _ separator: String?, maxSplit: Int = -1) throws -> [String] {
        let text = scalars(string)
        var limit = maxSplit < 0 ? Int.max : maxSplit
        guard let separator else {
            var parts: [String] = []
            var index = 0
            while true {
                while index < text.count, isSpace(text[index]) { index += 1 }
                guard index < text.count else { break }
                if limit == 0 {
                    // The remainder keeps its trailing whitespace, as in Python.
                    parts.append(PythonText.string(text[index...]))
                    break
                }
                let start = index
                while index < text.count, !isSpace(text[index]) { index += 1 }
                parts.append(PythonText.string(text[start..<index]))
                limit -= 1
            }
            return parts
        }
        let sep = scalars(separator)
        guard !sep.isEmpty else { throw TemplateError.type("empty separator") }
        var parts: [String] = []
        var index = 0
        while limit > 0, let found = find(text, sep, from: index) {
            parts.append(PythonText.string(text[index..<found]))
            index = found + sep.count
            limit -= 1
        }
        parts.append(PythonText.string(text[index...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ string: String, _ separator: String?, maxSplit: Int = -1) throws -> [String] {
        guard maxSplit >= 0 else { return try split(string, separator) }
        let reversedParts = try split(
            PythonText.string(scalars(string).reversed()),
            separator.map { PythonText.string(scalars($0).reversed()) }, maxSplit: maxSplit)
        return reversedParts.reversed().map { PythonText.string(scalars($0).reversed()) }
    }

    /// `str.splitlines(keepends)`.
    static func splitLines(_ string: String, keepEnds: Bool = false) -> [String] {
        let text = scalars(string)
        var lines: [String] = []
        var start = 0
        var index = 0
        while index < text.count {
            guard isLineBreak(text[index]) else {
                index += 1
                continue
            }
            var end = index + 1
            if text[index] == "\r", end < text.count, text[end] == "\n" { end += 1 }
            lines.append(PythonText.string(text[start..<(keepEnds ? end : index)]))
            start = end
            index = end
        }
        if start < text.count { lines.append(PythonText.string(text[start...])) }
        return lines
    }

    // MARK: repr

    /// `repr(str)`: Python's quoting and escapes.
    static func repr(_ string: String) -> String {
        let hasSingle = string.unicodeScalars.contains("'")
        let hasDouble = string.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for scalar in string.unicodeScalars {
            switch scalar {
            case quote, "\\":
                out.append("\\")
                out.append(scalar)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out.append(contentsOf: hexEscape(scalar).unicodeScalars)
                } else if scalar.value < 0x7F || isPrintable(scalar) {
                    out.append(scalar)
                } else {
                    out.append(contentsOf: hexEscape(scalar).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    /// `\xNN`, `\uNNNN` or `\UNNNNNNNN`, lower-case as Python writes them.
    static func hexEscape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16)
        switch scalar.value {
        case ..<0x100: return "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
        case ..<0x10000: return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: return "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
        }
    }

    // MARK: Numbers

    /// `repr(float)`: the shortest round-tripping digits, in fixed notation for exponents -4..<16.
    static func floatRepr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        let sign = value.sign == .minus ? "-" : ""
        if value == 0 { return sign + "0.0" }
        // Swift's description is also shortest-round-trip; only its layout differs from Python's.
        var text = "\(Swift.abs(value))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = parts.first.map(String.init) ?? ""
        let fractionPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(integerPart + fractionPart)
        var point = integerPart.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            point -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        if digits.isEmpty { return sign + "0.0" }
        if point > 16 || point <= -4 {
            var mantissa = String(digits[0])
            if digits.count > 1 { mantissa += "." + String(digits[1...]) }
            let e = point - 1
            let magnitude = String(Swift.abs(e))
            return sign + mantissa + "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + String(digits) }
        if point >= digits.count {
            return sign + String(digits) + String(repeating: "0", count: point - digits.count) + ".0"
        }
        return sign + String(digits[..<point]) + "." + String(digits[point...])
    }

    /// `int(text, base)`: surrounding whitespace, a sign, base prefixes and `_` between digits.
    static func parseInt(_ text: String, base: Int) -> Int? {
        var chars = Array(strip(text, nil).unicodeScalars)
        var negative = false
        if let first = chars.first, first == "+" || first == "-" {
            negative = first == "-"
            chars.removeFirst()
        }
        var radix = base == 0 ? 10 : base
        var prefixed = false
        if chars.count >= 2, chars[0] == "0" {
            let letter = chars[1].properties.lowercaseMapping
            let prefixBase = letter == "x" ? 16 : letter == "o" ? 8 : letter == "b" ? 2 : 0
            if prefixBase != 0, base == 0 || base == prefixBase {
                radix = prefixBase
                prefixed = true
                chars.removeFirst(2)
            }
        }
        // Base 0 refuses leading zeros ("010"), as Python does.
        if base == 0, !prefixed, chars.count > 1, chars[0] == "0", chars.contains(where: { $0 != "0" && $0 != "_" }) {
            return nil
        }
        guard (2...36).contains(radix) else { return nil }
        var digits = ""
        var lastWasDigit = false
        for (index, scalar) in chars.enumerated() {
            if scalar == "_" {
                guard lastWasDigit || (prefixed && index == 0) else { return nil }
                lastWasDigit = false
                continue
            }
            guard scalar != "+", scalar != "-" else { return nil }
            digits.unicodeScalars.append(scalar)
            lastWasDigit = true
        }
        guard lastWasDigit, let magnitude = Int(digits, radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// `float(text)`: whitespace, `_` between digits, `inf`/`nan` spellings, no hex.
    static func parseFloat(_ text: String) -> Double? {
        let trimmed = strip(text, nil)
        let lowered = trimmed.lowercased()
        let unsigned = lowered.hasPrefix("-") || lowered.hasPrefix("+") ? String(lowered.dropFirst()) : lowered
        if ["inf", "infinity", "nan"].contains(unsigned) { return Double(lowered) }
        let allowed = Set("0123456789.e+-_")
        guard !unsigned.isEmpty, unsigned.allSatisfy({ allowed.contains($0) }) else { return nil }
        let chars = Array(trimmed)
        var cleaned = ""
        for (index, char) in chars.enumerated() {
            if char == "_" {
                guard index > 0, index + 1 < chars.count, chars[index - 1].isNumber, chars[index + 1].isNumber else {
                    return nil
                }
                continue
            }
            cleaned.append(char)
        }
        return Double(cleaned)
    }
}
