import Foundation

/// Python's two string formatting mini-languages: `'%s' % args` (and the `format` filter) and
/// `str.format`, covering the common flags, widths, precisions and conversions.
enum TemplateFormatting {
    // MARK: printf style

    static func percent(_ format: String, _ arguments: JinjaValue) throws -> String {
        let text = PythonText.scalars(format)
        var positional: [JinjaValue]
        var mapping: PyDict?
        switch arguments {
        case .tuple(let items): positional = items
        case .dict(let dict):
            positional = [arguments]
            mapping = dict
        default: positional = [arguments]
        }
        // CPython treats any non-tuple with __getitem__ (a list too) as a mapping: no "not all converted" check.
        var isMapping = mapping != nil
        switch arguments {
        case .list, .undefined: isMapping = true
        default: break
        }
        var used = 0
        func nextArgument() throws -> JinjaValue {
            guard used < positional.count else { throw TemplateError.type("not enough arguments for format string") }
            used += 1
            return positional[used - 1]
        }
        var out = ""
        var i = 0
        var usedMapping = false
        while i < text.count {
            guard text[i] == "%" else {
                out.unicodeScalars.append(text[i])
                i += 1
                continue
            }
            i += 1
            guard i < text.count else { throw TemplateError.type("incomplete format") }
            var value: JinjaValue?
            if text[i] == "(" {
                guard let close = text[i...].firstIndex(of: ")"), let mapping else {
                    throw TemplateError.type("format requires a mapping")
                }
                let key = PythonText.string(text[(i + 1)..<close])
                guard let found = mapping[string: key] else {
                    throw TemplateError.type("KeyError: \(PythonText.repr(key))")
                }
                value = found
                usedMapping = true
                i = close + 1
            }
            var flags = Set<Unicode.Scalar>()
            while i < text.count, "-+ #0".unicodeScalars.contains(text[i]) {
                flags.insert(text[i])
                i += 1
            }
            func number() throws -> Int? {
                if i < text.count, text[i] == "*" {
                    i += 1
                    guard let n = try nextArgument().integer else { throw TemplateError.type("* wants int") }
                    return n
                }
                var digits = ""
                while i < text.count, ("0"..."9").contains(text[i]) {
                    digits.unicodeScalars.append(text[i])
                    i += 1
                }
                return Int(digits)
            }
            var width = try number()
            var precision: Int?
            if i < text.count, text[i] == "." {
                i += 1
                precision = try number() ?? 0
            }
            while i < text.count, "hlL".unicodeScalars.contains(text[i]) { i += 1 }
            guard i < text.count else { throw TemplateError.type("incomplete format") }
            let conversion = text[i]
            i += 1
            if conversion == "%" {
                out += "%"
                continue
            }
            let argument = try value ?? nextArgument()
            if let w = width, w < 0 {
                flags.insert("-")
                width = -w
            }
            var spec = Spec()
            let numericConversion = !"srac".unicodeScalars.contains(conversion)
            if flags.contains("-") {
                spec.align = "<"
            } else if flags.contains("0"), numericConversion {
                spec.align = "="
                spec.fill = "0"
            } else {
                spec.align = ">"
            }
            spec.sign = flags.contains("+") ? "+" : flags.contains(" ") ? " " : "-"
            spec.alternate = flags.contains("#")
            spec.width = width ?? 0
            spec.precision = precision
            switch conversion {
            case "s":
                spec.type = "s"
                out += try apply(.string(argument.str), spec)
            case "r", "a":
                spec.type = "s"
                out += try apply(.string(argument.repr), spec)
            case "d", "i", "u":
                guard
                    let number = argument.integer ?? argument.number.flatMap({ Int(exactly: $0.rounded(.towardZero)) })
                else {
                    throw TemplateError.type(
                        "%\(conversion) format: a real number is required, not \(argument.typeName)")
                }
                spec.type = "d"
                out += try apply(.int(number), spec)
            case "x", "X", "o", "e", "E", "f", "F", "g", "G", "c":
                spec.type = conversion
                out += try apply(argument, spec)
            default:
                throw TemplateError.type("unsupported format character '\(conversion)'")
            }
        }
        if !usedMapping, used < positional.count, !isMapping {
            throw TemplateError.type("not all arguments converted during string formatting")
        }
        return out
    }

    // MARK: str.format

    static func format(_ template: String, positional: [JinjaValue], keywords: [(name: String, value: JinjaValue)])
        throws
        -> String
    {
        let text = PythonText.scalars(template)
        var out = ""
        var automatic = 0
        var numbering: Bool?
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == "}" {
                guard i + 1 < text.count, text[i + 1] == "}" else {
                    throw TemplateError.type("Single '}' encountered in format string")
                }
                out += "}"
                i += 2
                continue
            }
            guard c == "{" else {
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            if i + 1 < text.count, text[i + 1] == "{" {
                out += "{"
                i += 2
                continue
            }
            guard let close = text[i...].firstIndex(of: "}") else {
                throw TemplateError.type("Single '{' encountered in format string")
            }
            var field = PythonText.string(text[(i + 1)..<close])
            i = close + 1
            var spec = ""
            if let colon = field.firstIndex(of: ":") {
                spec = String(field[field.index(after: colon)...])
                field = String(field[..<colon])
            }
            var conversion: Character?
            if let bang = field.firstIndex(of: "!") {
                conversion = field[field.index(after: bang)...].first
                field = String(field[..<bang])
            }
            let value: JinjaValue
            if field.isEmpty {
                if numbering == true {
                    throw TemplateError.type(
                        "cannot switch from manual field specification to automatic field numbering")
                }
                numbering = false
                guard automatic < positional.count else {
                    throw TemplateError.type("Replacement index \(automatic) out of range for positional args tuple")
                }
                value = positional[automatic]
                automatic += 1
            } else if let index = Int(field) {
                if numbering == false {
                    throw TemplateError.type(
                        "cannot switch from automatic field numbering to manual field specification")
                }
                numbering = true
                guard index < positional.count else {
                    throw TemplateError.type("Replacement index \(index) out of range for positional args tuple")
                }
                value = positional[index]
            } else {
                guard let found = keywords.last(where: { $0.name == field }) else {
                    throw TemplateError.type("KeyError: \(PythonText.repr(field))")
                }
                value = found.value
            }
            let converted: JinjaValue =
                conversion == "r" || conversion == "a"
                ? .string(value.repr) : conversion == "s" ? .string(value.str) : value
            out += try formatValue(converted, spec: spec)
        }
        return out
    }

    /// `format(value, spec)` for the format-spec mini-language.
    static func formatValue(_ value: JinjaValue, spec text: String) throws -> String {
        guard !text.isEmpty else { return value.str }
        var chars = Array(text.unicodeScalars)
        var spec = Spec()
        spec.align = nil
        if chars.count >= 2, "<>^=".unicodeScalars.contains(chars[1]) {
            spec.fill = chars[0]
            spec.align = chars[1]
            chars.removeFirst(2)
        } else if let first = chars.first, "<>^=".unicodeScalars.contains(first) {
            spec.align = first
            chars.removeFirst()
        }
        if let first = chars.first, "+- ".unicodeScalars.contains(first) {
            spec.sign = first
            chars.removeFirst()
        }
        if chars.first == "#" {
            spec.alternate = true
            chars.removeFirst()
        }
        if chars.first == "0" {
            spec.zero = true
            chars.removeFirst()
        }
        var digits = ""
        while let first = chars.first, ("0"..."9").contains(first) {
            digits.unicodeScalars.append(first)
            chars.removeFirst()
        }
        spec.width = Int(digits) ?? 0
        if chars.first == "," || chars.first == "_" { spec.grouping = chars.removeFirst() }
        if chars.first == "." {
            chars.removeFirst()
            digits = ""
            while let first = chars.first, ("0"..."9").contains(first) {
                digits.unicodeScalars.append(first)
                chars.removeFirst()
            }
            spec.precision = Int(digits) ?? 0
        }
        if let type = chars.first {
            spec.type = type
            chars.removeFirst()
        }
        guard chars.isEmpty else { throw TemplateError.type("Invalid format specifier") }
        return try apply(value, spec)
    }

    struct Spec {
        var fill: Unicode.Scalar = " "
        var align: Unicode.Scalar? = nil
        var sign: Unicode.Scalar = "-"
        var alternate = false
        var zero = false
        var width = 0
        var grouping: Unicode.Scalar?
        var precision: Int?
        var type: Unicode.Scalar?
    }

    static func apply(_ value: JinjaValue, _ spec: Spec) throws -> String {
        var body: String
        var sign = ""
        var numeric = true
        switch (spec.type, value) {
        case (nil, .string(let s)), ("s", .string(let s)):
            numeric = false
            body = spec.precision.map { PythonText.string(s.unicodeScalars.prefix($0)) } ?? s
        case ("s", _):
            numeric = false
            body = value.str
        case (nil, .double(let d)) where spec.precision == nil:
            body = PythonText.floatRepr(Swift.abs(d))
            sign = d.sign == .minus ? "-" : ""
        case (nil, _), ("d", _), ("n", _), ("x", _), ("X", _), ("o", _), ("b", _), ("c", _):
            if spec.type == "c" {
                guard let code = value.integer, let scalar = Unicode.Scalar(UInt32(clamping: code)) else {
                    throw TemplateError.type("%c requires int or char")
                }
                return pad(String(scalar), spec, numeric: false)
            }
            if spec.type == nil, value.integer == nil { return pad(value.str, spec, numeric: false) }
            guard let number = value.integer else {
                throw TemplateError.type(
                    "Unknown format code '\(spec.type.map(String.init) ?? "")' for object of type '\(value.typeName)'")
            }
            let radix = spec.type == "x" || spec.type == "X" ? 16 : spec.type == "o" ? 8 : spec.type == "b" ? 2 : 10
            body = String(number.magnitude, radix: radix, uppercase: spec.type == "X")
            if spec.alternate, radix != 10 { body = (radix == 16 ? "0x" : radix == 8 ? "0o" : "0b") + body }
            if spec.grouping != nil, radix == 10 {
                body = grouped(body, separator: spec.grouping.map(String.init) ?? ",")
            }
            sign = number < 0 ? "-" : ""
        default:
            guard let number = value.number else {
                throw TemplateError.type("must be real number, not \(value.typeName)")
            }
            let type = spec.type ?? "g"
            let precision = spec.precision ?? 6
            let magnitude = Swift.abs(number)
            switch type {
            case "%": body = String(format: "%.\(precision)f", magnitude * 100) + "%"
            case "f", "F", "e", "E", "g", "G":
                body =
                    magnitude.isFinite
                    ? String(format: "%\(spec.alternate ? "#" : "").\(precision)\(Character(type))", magnitude)
                    : magnitude.isNaN ? "nan" : "inf"
                if type == "F" || type == "E" || type == "G" { body = body.uppercased() }
            default:
                throw TemplateError.type(
                    "Unknown format code '\(Character(type))' for object of type '\(value.typeName)'")
            }
            sign = number.sign == .minus && !number.isNaN ? "-" : ""
        }
        if numeric, sign.isEmpty, spec.sign != "-" { sign = String(spec.sign) }
        return pad(body, spec, numeric: numeric, sign: sign)
    }

    private static func grouped(_ digits: String, separator: String) -> String {
        var out = ""
        for (index, char) in digits.reversed().enumerated() {
            if index > 0, index % 3 == 0 { out.append(contentsOf: separator.reversed()) }
            out.append(char)
        }
        return String(out.reversed())
    }

    private static func pad(_ body: String, _ spec: Spec, numeric: Bool, sign: String = "") -> String {
        let length = PythonText.length(body) + PythonText.length(sign)
        guard spec.width > length else { return sign + body }
        let count = spec.width - length
        let fill = spec.zero && spec.align == nil ? "0" : String(spec.fill)
        let align = spec.align ?? (spec.zero && numeric ? "=" : numeric ? ">" : "<")
        let padding = String(repeating: fill, count: count)
        switch align {
        case "<": return sign + body + padding
        case "^":
            let left = String(repeating: fill, count: count / 2)
            return left + sign + body + String(repeating: fill, count: count - count / 2)
        case "=": return sign + padding + body
        default: return padding + sign + body
        }
    }
}
