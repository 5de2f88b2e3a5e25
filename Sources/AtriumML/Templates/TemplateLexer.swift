import Foundation

/// Splits template source into tokens exactly as jinja2's lexer does with `trim_blocks` and
/// `lstrip_blocks` on: newlines normalised to `\n`, one trailing newline dropped, `-`/`+` whitespace
/// control, the first newline after a block or comment tag removed, and spaces before a block or
/// comment tag at the start of a line removed.
struct TemplateLexer {
    private enum Tag { case comment, block, variable, raw(end: Int) }

    private let source: [Unicode.Scalar]
    private var position = 0
    private var line = 1
    /// jinja2's `line_starting`: the previous match ended with a newline.
    private var lineStarting = true
    private var tokens: [Token] = []

    private static let operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
                                    "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"].map { Array($0.unicodeScalars) }

    static func tokenize(_ text: String) throws -> [Token] {
        var lexer = TemplateLexer(source: normalizedSource(text))
        try lexer.run()
        lexer.tokens.append(Token(kind: .eof, line: lexer.line))
        return lexer.tokens
    }

    private init(source: [Unicode.Scalar]) { self.source = source }

    private static func normalizedSource(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.unicodeScalars.count)
        var afterCarriageReturn = false
        for scalar in text.unicodeScalars {
            if scalar == "\n", afterCarriageReturn {
                afterCarriageReturn = false
                continue
            }
            afterCarriageReturn = scalar == "\r"
            out.append(afterCarriageReturn ? "\n" : scalar)
        }
        // keep_trailing_newline=False
        if out.last == "\n" { out.removeLast() }
        return out
    }

    private func matches(_ literal: String, at index: Int) -> Bool {
        var i = index
        for scalar in literal.unicodeScalars {
            guard i < source.count, source[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    private func matches(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        index + scalars.count <= source.count && source[index..<index + scalars.count].elementsEqual(scalars)
    }

    private func newlines(_ range: Range<Int>) -> Int { source[range].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) } }

    private func skipSpace(from index: Int) -> Int {
        var i = index
        while i < source.count, Python.isSpace(source[i]) { i += 1 }
        return i
    }

    // MARK: Template data

    private mutating func run() throws {
        while position < source.count {
            guard let (start, tag) = nextTag() else {
                emitData(position..<source.count)
                return
            }
            let sign = start + 2 < source.count && (source[start + 2] == "-" || source[start + 2] == "+") ? source[start + 2] : nil
            let isVariable: Bool
            if case .variable = tag { isVariable = true } else { isVariable = false }
            emitText(position..<start, sign: sign, lstrip: !isVariable)
            position = start + 2 + (sign == nil ? 0 : 1)
            switch tag {
            case .variable:
                tokens.append(Token(kind: .variableBegin, line: line))
                try lexTag(block: false)
            case .block:
                tokens.append(Token(kind: .blockBegin, line: line))
                try lexTag(block: true)
            case .comment:
                try skipComment()
            case .raw(let end):
                line += newlines(start..<end)
                lineStarting = source[end - 1] == "\n"
                position = end
                try lexRaw()
            }
        }
    }

    /// The first `{{`, `{%` or `{#` at or after `position`; `{% raw %}` is recognised before `{%`.
    private func nextTag() -> (Int, Tag)? {
        var index = position
        while index + 1 < source.count {
            if source[index] == "{" {
                switch source[index + 1] {
                case "{": return (index, .variable)
                case "#": return (index, .comment)
                case "%": return (index, rawBegin(at: index).map { .raw(end: $0) } ?? .block)
                default: break
                }
            }
            index += 1
        }
        return nil
    }

    /// `{%(-|+|)\s*raw\s*(?:-%}\s*|%})`, returning where the match ends.
    private func rawBegin(at index: Int) -> Int? {
        var i = index + 2
        if i < source.count, source[i] == "-" || source[i] == "+" { i += 1 }
        i = skipSpace(from: i)
        guard matches("raw", at: i) else { return nil }
        i = skipSpace(from: i + 3)
        if matches("-%}", at: i) { return skipSpace(from: i + 3) }
        if matches("%}", at: i) { return i + 2 }
        return nil
    }

    /// Data before a tag, with the tag's `-` (strip all whitespace) or lstrip_blocks applied.
    private mutating func emitText(_ range: Range<Int>, sign: Unicode.Scalar?, lstrip: Bool) {
        var end = range.upperBound
        if sign == "-" {
            while end > range.lowerBound, Python.isSpace(source[end - 1]) { end -= 1 }
        } else if sign != "+", lstrip {
            let lastNewline = source[range].lastIndex(of: "\n")
            let lineStart = lastNewline.map { $0 + 1 } ?? range.lowerBound
            if lastNewline != nil || lineStarting, lineStart < range.upperBound,
                source[lineStart..<range.upperBound].allSatisfy(Python.isSpace)
            {
                end = lineStart
            }
        }
        let startLine = line
        line += newlines(range)
        if end > range.lowerBound {
            tokens.append(Token(kind: .data, text: Python.string(source[range.lowerBound..<end]), line: startLine))
        }
    }

    private mutating func emitData(_ range: Range<Int>) {
        if !range.isEmpty { tokens.append(Token(kind: .data, text: Python.string(source[range]), line: line)) }
        line += newlines(range)
        position = range.upperBound
    }

    private mutating func skipComment() throws {
        // jinja2 fails only when text follows an unclosed `{#`; at the very end it just stops.
        guard position < source.count else { return }
        var i = position
        while i + 1 < source.count {
            var end: Int?
            if (source[i] == "+" || source[i] == "-"), matches("#}", at: i + 1) {
                end = source[i] == "-" ? skipSpace(from: i + 3) : i + 3
            } else if matches("#}", at: i) {
                end = i + 2 < source.count && source[i + 2] == "\n" ? i + 3 : i + 2
            }
            if let end {
                line += newlines(position..<end)
                lineStarting = source[end - 1] == "\n"
                position = end
                return
            }
            i += 1
        }
        throw TemplateError.syntax("Missing end of comment tag", line: line)
    }

    /// The body of `{% raw %}`, up to `{% endraw %}`, emitted verbatim as data.
    private mutating func lexRaw() throws {
        guard position < source.count else { return }
        var i = position
        while i + 1 < source.count {
            if source[i] == "{", source[i + 1] == "%" {
                var j = i + 2
                let sign = j < source.count && (source[j] == "-" || source[j] == "+") ? source[j] : nil
                if sign != nil { j += 1 }
                j = skipSpace(from: j)
                if matches("endraw", at: j) {
                    j = skipSpace(from: j + 6)
                    var end: Int?
                    if matches("+%}", at: j) { end = j + 3 }
                    else if matches("-%}", at: j) { end = skipSpace(from: j + 3) }
                    else if matches("%}", at: j) { end = j + 2 < source.count && source[j + 2] == "\n" ? j + 3 : j + 2 }
                    if let end {
                        emitText(position..<i, sign: sign, lstrip: true)
                        line += newlines(i..<end)
                        lineStarting = source[end - 1] == "\n"
                        position = end
                        return
                    }
                }
            }
            i += 1
        }
        throw TemplateError.syntax("Missing end of raw directive", line: line)
    }

    // MARK: Inside {{ }} and {% %}

    private mutating func lexTag(block: Bool) throws {
        var brackets: [Unicode.Scalar] = []
        while position < source.count {
            if brackets.isEmpty, let end = tagEnd(block: block) {
                tokens.append(Token(kind: block ? .blockEnd : .variableEnd, line: line))
                line += newlines(position..<end)
                lineStarting = source[end - 1] == "\n"
                position = end
                return
            }
            let scalar = source[position]
            if Python.isSpace(scalar) {
                let end = skipSpace(from: position)
                line += newlines(position..<end)
                position = end
            } else if try lexNumber() {
            } else if scalar == "_" || scalar.properties.isAlphabetic || isWordScalar(scalar) && !isDigit(scalar) {
                try lexName()
            } else if scalar == "'" || scalar == "\"", let end = stringEnd(quote: scalar) {
                let text = try Self.unescape(source[(position + 1)..<(end - 1)], line: line)
                tokens.append(Token(kind: .string, text: text, line: line))
                line += newlines(position..<end)
                position = end
            } else if let symbol = Self.operators.first(where: { matches($0, at: position) }) {
                try balance(symbol[0], &brackets)
                tokens.append(Token(kind: .operator, text: Python.string(symbol), line: line))
                position += symbol.count
            } else {
                throw TemplateError.syntax("unexpected char \(Python.repr(String(scalar))) at \(position)", line: line)
            }
        }
    }

    /// `+%}`, `-%}\s*` or `%}\n?` (trim_blocks) for blocks; `-}}\s*` or `}}` for variables.
    private func tagEnd(block: Bool) -> Int? {
        if block {
            if matches("+%}", at: position) { return position + 3 }
            if matches("-%}", at: position) { return skipSpace(from: position + 3) }
            if matches("%}", at: position) {
                return position + 2 < source.count && source[position + 2] == "\n" ? position + 3 : position + 2
            }
        } else {
            if matches("-}}", at: position) { return skipSpace(from: position + 3) }
            if matches("}}", at: position) { return position + 2 }
        }
        return nil
    }

    private func balance(_ symbol: Unicode.Scalar, _ stack: inout [Unicode.Scalar]) throws {
        switch symbol {
        case "(": stack.append(")")
        case "[": stack.append("]")
        case "{": stack.append("}")
        case ")", "]", "}":
            guard let expected = stack.popLast() else { throw TemplateError.syntax("unexpected '\(symbol)'", line: line) }
            guard expected == symbol else {
                throw TemplateError.syntax("unexpected '\(symbol)', expected '\(expected)'", line: line)
            }
        default: break
        }
    }

    private func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    private func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber,
            .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .connectorPunctuation:
            return true
        default:
            return false
        }
    }

    private mutating func lexName() throws {
        let start = position
        while position < source.count, source[position] == "_" || isWordScalar(source[position]) { position += 1 }
        let name = source[start..<position]
        guard let first = name.first, first == "_" || first.properties.isXIDStart,
            name.dropFirst().allSatisfy({ $0.properties.isXIDContinue })
        else { throw TemplateError.syntax("Invalid character in identifier", line: line) }
        tokens.append(Token(kind: .name, text: Python.string(name), line: line))
    }

    /// Digits with single `_` separators: `(\d+_)*\d+`.
    private func digitRun(from index: Int, isDigit: (Unicode.Scalar) -> Bool) -> Int? {
        guard index < source.count, isDigit(source[index]) else { return nil }
        var i = index
        while i < source.count {
            if isDigit(source[i]) { i += 1 }
            else if source[i] == "_", i + 1 < source.count, isDigit(source[i + 1]) { i += 1 }
            else { break }
        }
        return i
    }

    /// jinja2's float rule, then its integer rule (binary, octal, hex, decimal, zero).
    private mutating func lexNumber() throws -> Bool {
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
                let text = Python.string(source[position..<end].filter { $0 != "_" })
                tokens.append(Token(kind: .float, float: Double(text) ?? .infinity, line: line))
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
                if valid(source[i]) { i += 1 }
                else if source[i] == "_", i + 1 < source.count, valid(source[i + 1]) { i += 2 }
                else { break }
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
                    if source[end] == "0" { end += 1 }
                    else if source[end] == "_", end + 1 < source.count, source[end + 1] == "0" { end += 2 }
                    else { break }
                }
            } else {
                end = digitRun(from: position, isDigit: digit) ?? end
            }
        }
        var digits = Python.string(source[position..<end].filter { $0 != "_" })
        if radix != 10 { digits.removeFirst(2) }
        guard let value = Int(digits, radix: radix) else {
            throw TemplateError(.limit, "integer literal \(digits) does not fit in 64 bits", line: line)
        }
        tokens.append(Token(kind: .integer, integer: value, line: line))
        position = end
        return true
    }

    private func stringEnd(quote: Unicode.Scalar) -> Int? {
        var i = position + 1
        while i < source.count {
            if source[i] == "\\" { i += 2; continue }
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
            guard i + count <= body.endIndex, let value = UInt32(Python.string(body[i..<i + count]), radix: 16),
                body[i..<i + count].allSatisfy({ $0.properties.isASCIIHexDigit })
            else { throw TemplateError.syntax("truncated \(name) escape", line: line) }
            guard let scalar = Unicode.Scalar(value) else { throw TemplateError.syntax("illegal Unicode character", line: line) }
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
                if escape.value < 0x80 { out.append(escape) } else { out.append(contentsOf: Python.hexEscape(escape).unicodeScalars) }
            }
        }
        return String(out)
    }
}
