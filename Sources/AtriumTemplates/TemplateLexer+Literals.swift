import Foundation

/// Names, numbers and string literals inside `{{ }}` and `{% %}`, by jinja2's rules: `1_000`, `0x1f`,
/// `1.5e3`, adjacent quotes, and Python's `unicode_escape` decoding of backslash escapes.
extension TemplateLexer {
    func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber,
            .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .connectorPunctuation:
            return true
        default:
            return false
        }
    }

    mutating func lexName() throws {
        let start = position
        while position < source.count, source[position] == "_" || isWordScalar(source[position]) { position += 1 }
        let name = source[start..<position]
        guard let first = name.first, first == "_" || first.properties.isXIDStart,
            name.dropFirst().allSatisfy({ $0.properties.isXIDContinue })
        else { throw TemplateError.syntax("Invalid character in identifier", line: line) }
        tokens.append(TemplateToken(kind: .name, text: PythonText.string(name), line: line))
    }

    /// Digits with single `_` separators: `(\d+_)*\d+`.
    func digitRun(from index: Int, isDigit: (Unicode.Scalar) -> Bool) -> Int? {
        guard index < source.count, isDigit(source[index]) else { return nil }
        var i = index
        while i < source.count {
            if isDigit(source[i]) {
                i += 1
            } else if source[i] == "_", i + 1 < source.count, isDigit(source[i + 1]) {
                i += 1
            } else {
                break
            }
        }
        return i
    }

    /// jinja2's float rule, then its integer rule (binary, octal, hex, decimal, zero).
    mutating func lexNumber() throws -> Bool {
        guard isDigit(source[position]) else { return false }
        let digit = { (s: Unicode.Scalar) in ("0"..."9").contains(s) }
        if position == 0 || source[position - 1] != ".", let intEnd = digitRun(from: position, isDigit: digit) {
            var end = intEnd
            var isFloat = false
            if end < source.count, source[end] == ".", let fraction = digitRun(from: end + 1, isDigit: digit) {
                end = fraction
                isFloat = true
            }
            if end < source.count, source[end] == "e" || source[end] == "E" {
                var e = end + 1
                if e < source.count, source[e] == "+" || source[e] == "-" { e += 1 }
                if let exponent = digitRun(from: e, isDigit: digit) {
                    end = exponent
                    isFloat = true
                }
            }
            if isFloat {
                let text = PythonText.string(source[position..<end].filter { $0 != "_" })
                tokens.append(TemplateToken(kind: .float, float: Double(text) ?? .infinity, line: line))
                position = end
                return true
            }
        }
        var end = position + 1
        var radix = 10
        let lower = position + 1 < source.count ? source[position + 1].properties.lowercaseMapping : ""
        if source[position] == "0", ["b", "o", "x"].contains(lower) {
            let base = lower == "b" ? 2 : lower == "o" ? 8 : 16
            let valid: (Unicode.Scalar) -> Bool = { s in Int(String(s), radix: base) != nil }
            // 0x(_?[\da-f])+
            var i = position + 2
            while i < source.count {
                if valid(source[i]) {
                    i += 1
                } else if source[i] == "_", i + 1 < source.count, valid(source[i + 1]) {
                    i += 2
                } else {
                    break
                }
            }
            if i > position + 2 {
                end = i
                radix = base
            }
        }
        if radix == 10 {
            if source[position] == "0" {
                // 0(_?0)*
                while end < source.count {
                    if source[end] == "0" {
                        end += 1
                    } else if source[end] == "_", end + 1 < source.count, source[end + 1] == "0" {
                        end += 2
                    } else {
                        break
                    }
                }
            } else {
                end = digitRun(from: position, isDigit: digit) ?? end
            }
        }
        var digits = PythonText.string(source[position..<end].filter { $0 != "_" })
        if radix != 10 { digits.removeFirst(2) }
        guard let value = Int(digits, radix: radix) else {
            throw TemplateError(.limit, "integer literal \(digits) does not fit in 64 bits", line: line)
        }
        tokens.append(TemplateToken(kind: .integer, integer: value, line: line))
        position = end
        return true
    }

    func stringEnd(quote: Unicode.Scalar) -> Int? {
        var i = position + 1
        while i < source.count {
            if source[i] == "\\" {
                i += 2
                continue
            }
            if source[i] == quote { return i + 1 }
            i += 1
        }
        return nil
    }

    /// Python's `unicode_escape` decoding, as jinja2 applies it to string literals.
    static func unescape(_ body: ArraySlice<Unicode.Scalar>, line: Int) throws -> String {
        var out = String.UnicodeScalarView()
        var i = body.startIndex
        func hex(_ count: Int, _ name: String) throws -> Unicode.Scalar {
            guard i + count <= body.endIndex, let value = UInt32(PythonText.string(body[i..<i + count]), radix: 16),
                body[i..<i + count].allSatisfy({ $0.properties.isASCIIHexDigit })
            else { throw TemplateError.syntax("truncated \(name) escape", line: line) }
            guard let scalar = Unicode.Scalar(value) else {
                throw TemplateError.syntax("illegal Unicode character", line: line)
            }
            i += count
            return scalar
        }
        while i < body.endIndex {
            let scalar = body[i]
            i += 1
            guard scalar == "\\", i < body.endIndex else {
                out.append(scalar)
                continue
            }
            let escape = body[i]
            i += 1
            switch escape {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "x": out.append(try hex(2, "\\xXX"))
            case "u": out.append(try hex(4, "\\uXXXX"))
            case "U": out.append(try hex(8, "\\UXXXXXXXX"))
            case "0"..."7":
                var value = escape.value - 0x30
                var digits = 1
                while digits < 3, i < body.endIndex, ("0"..."7").contains(body[i]) {
                    value = value * 8 + body[i].value - 0x30
                    i += 1
                    digits += 1
                }
                out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            case "N":
                throw TemplateError.syntax("\\N{...} escapes are not supported", line: line)
            default:
                // jinja2 first turns non-ASCII into backslash escapes, so "\é" decodes to the text \xe9.
                out.append("\\")
                if escape.value < 0x80 {
                    out.append(escape)
                } else {
                    out.append(contentsOf: PythonText.hexEscape(escape).unicodeScalars)
                }
            }
        }
        return String(out)
    }
}
