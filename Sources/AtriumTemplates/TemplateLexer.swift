import Foundation

/// Splits template source into tokens exactly as jinja2's lexer does with `trim_blocks` and
/// `lstrip_blocks` on: newlines normalised to `\n`, one trailing newline dropped, `-`/`+` whitespace
/// control, the first newline after a block or comment tag removed, and spaces before a block or
/// comment tag at the start of a line removed.
struct TemplateLexer {
    private enum Tag {
        case comment, block, variable
        case raw(end: Int)
    }

    let source: [Unicode.Scalar]
    var position = 0
    var line = 1
    /// jinja2's `line_starting`: the previous match ended with a newline.
    private var lineStarting = true
    var tokens: [TemplateToken] = []

    private static let operators = [
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
        "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ].map { Array($0.unicodeScalars) }

    static func tokenize(_ text: String) throws -> [TemplateToken] {
        var lexer = TemplateLexer(source: normalizedSource(text))
        try lexer.run()
        lexer.tokens.append(TemplateToken(kind: .eof, line: lexer.line))
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

    func matches(_ literal: String, at index: Int) -> Bool {
        var i = index
        for scalar in literal.unicodeScalars {
            guard i < source.count, source[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    func matches(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        index + scalars.count <= source.count && source[index..<index + scalars.count].elementsEqual(scalars)
    }

    func newlines(_ range: Range<Int>) -> Int { source[range].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) } }

    private func skipSpace(from index: Int) -> Int {
        var i = index
        while i < source.count, PythonText.isSpace(source[i]) { i += 1 }
        return i
    }

    // MARK: Template data

    private mutating func run() throws {
        while position < source.count {
            guard let (start, tag) = nextTag() else {
                emitData(position..<source.count)
                return
            }
            let sign =
                start + 2 < source.count && (source[start + 2] == "-" || source[start + 2] == "+")
                ? source[start + 2] : nil
            let isVariable: Bool
            if case .variable = tag { isVariable = true } else { isVariable = false }
            emitText(position..<start, sign: sign, lstrip: !isVariable)
            position = start + 2 + (sign == nil ? 0 : 1)
            switch tag {
            case .variable:
                tokens.append(TemplateToken(kind: .variableBegin, line: line))
                try lexTag(block: false)
            case .block:
                tokens.append(TemplateToken(kind: .blockBegin, line: line))
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
            while end > range.lowerBound, PythonText.isSpace(source[end - 1]) { end -= 1 }
        } else if sign != "+", lstrip {
            let lastNewline = source[range].lastIndex(of: "\n")
            let lineStart = lastNewline.map { $0 + 1 } ?? range.lowerBound
            if lastNewline != nil || lineStarting, lineStart < range.upperBound,
                source[lineStart..<range.upperBound].allSatisfy(PythonText.isSpace)
            {
                end = lineStart
            }
        }
        let startLine = line
        line += newlines(range)
        if end > range.lowerBound {
            tokens.append(
                TemplateToken(kind: .data, text: PythonText.string(source[range.lowerBound..<end]), line: startLine))
        }
    }

    private mutating func emitData(_ range: Range<Int>) {
        if !range.isEmpty {
            tokens.append(TemplateToken(kind: .data, text: PythonText.string(source[range]), line: line))
        }
        line += newlines(range)
        position = range.upperBound
    }

    private mutating func skipComment() throws {
        // jinja2 fails only when text follows an unclosed `{#`; at the very end it just stops.
        guard position < source.count else { return }
        var i = position
        while i + 1 < source.count {
            var end: Int?
            if source[i] == "+" || source[i] == "-", matches("#}", at: i + 1) {
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
                    if matches("+%}", at: j) {
                        end = j + 3
                    } else if matches("-%}", at: j) {
                        end = skipSpace(from: j + 3)
                    } else if matches("%}", at: j) {
                        end = j + 2 < source.count && source[j + 2] == "\n" ? j + 3 : j + 2
                    }
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
                tokens.append(TemplateToken(kind: block ? .blockEnd : .variableEnd, line: line))
                line += newlines(position..<end)
                lineStarting = source[end - 1] == "\n"
                position = end
                return
            }
            let scalar = source[position]
            if PythonText.isSpace(scalar) {
                let end = skipSpace(from: position)
                line += newlines(position..<end)
                position = end
            } else if try lexNumber() {
            } else if scalar == "_" || scalar.properties.isAlphabetic || isWordScalar(scalar) && !isDigit(scalar) {
                try lexName()
            } else if scalar == "'" || scalar == "\"", let end = stringEnd(quote: scalar) {
                let text = try Self.unescape(source[(position + 1)..<(end - 1)], line: line)
                tokens.append(TemplateToken(kind: .string, text: text, line: line))
                line += newlines(position..<end)
                position = end
            } else if let symbol = Self.operators.first(where: { matches($0, at: position) }) {
                try balance(symbol[0], &brackets)
                tokens.append(TemplateToken(kind: .operator, text: PythonText.string(symbol), line: line))
                position += symbol.count
            } else {
                throw TemplateError.syntax(
                    "unexpected char \(PythonText.repr(String(scalar))) at \(position)", line: line)
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
            guard let expected = stack.popLast() else {
                throw TemplateError.syntax("unexpected '\(symbol)'", line: line)
            }
            guard expected == symbol else {
                throw TemplateError.syntax("unexpected '\(symbol)', expected '\(expected)'", line: line)
            }
        default: break
        }
    }

}
