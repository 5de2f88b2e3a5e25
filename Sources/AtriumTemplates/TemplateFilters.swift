import Foundation

/// jinja2's built-in filters that chat templates use, with transformers' `tojson`. Filters jinja2 has
/// but this engine does not are refused when the template is parsed, never at render time.
enum TemplateFilters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map",
        "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort",
        "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    ]

    static func apply(_ name: String, _ value: JinjaValue, _ args: TemplateCallArguments, _ renderer: TemplateRenderer)
        throws -> JinjaValue
    {
        switch name {
        case "length", "count":
            try args.check(name, [])
            return .int(try value.length())
        case "string":
            return .string(value.str)
        case "safe":
            return .string(value.str)
        case "e", "escape", "forceescape":
            return .string(escapeHTML(value.str))
        case "lower":
            return .string(PythonText.lower(value.str))
        case "upper":
            return .string(PythonText.upper(value.str))
        case "capitalize":
            return .string(PythonText.capitalize(value.str))
        case "title":
            return .string(title(value.str))
        case "trim":
            try args.check(name, ["chars"])
            guard let chars = args.value(0, "chars") else { return .string(PythonText.strip(value.str, nil)) }
            if case .none = chars { return .string(PythonText.strip(value.str, nil)) }
            guard case .string(let set) = chars else { throw TemplateError.type("strip arg must be None or str") }
            return .string(PythonText.strip(value.str, set))
        case "replace":
            try args.check(name, ["old", "new", "count"])
            guard let old = args.value(0, "old"), let new = args.value(1, "new") else {
                throw TemplateError.type("do_replace() missing required arguments 'old' and 'new'")
            }
            var count = -1
            if let limit = args.value(2, "count"), !limit.isNone {
                guard let number = limit.integer else {
                    throw TemplateError.type("'\(limit.typeName)' object cannot be interpreted as an integer")
                }
                count = number
            }
            let result = PythonText.replace(value.str, old.str, new.str, count: count)
            try TemplateOperators.checkSize(result.utf8.count)
            return .string(result)
        case "center":
            try args.check(name, ["width"])
            guard let width = (args.value(0, "width") ?? .int(80)).integer else {
                throw TemplateError.type("width must be an integer")
            }
            return .string(try TemplateMethods.justify(value.str, width, " ", "^"))
        case "wordcount":
            return .int(wordCount(value.str))
        case "indent":
            try args.check(name, ["width", "first", "blank"])
            return .string(try indent(value, args))
        case "truncate":
            try args.check(name, ["length", "killwords", "end", "leeway"])
            return try truncate(value, args)
        case "format":
            if !args.positional.isEmpty, !args.keywords.isEmpty {
                throw TemplateError.type("can't handle positional and keyword arguments at the same time")
            }
            var mapping = PyDict()
            for (key, item) in args.keywords { mapping[string: key] = item }
            return .string(
                try TemplateFormatting.percent(
                    value.str, args.keywords.isEmpty ? .tuple(args.positional) : .dict(mapping)))
        case "default", "d":
            try args.check(name, ["default_value", "boolean"])
            let fallback = args.value(0, "default_value") ?? .string("")
            let boolean = args.value(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "int":
            try args.check(name, ["default", "base"])
            return try toInt(
                value, default: args.value(0, "default") ?? .int(0), base: args.value(1, "base") ?? .int(10))
        case "float":
            try args.check(name, ["default"])
            return try toFloat(value, default: args.value(0, "default") ?? .double(0))
        case "abs":
            switch value {
            case .double(let d): return .double(Swift.abs(d))
            default:
                guard let number = value.integer else {
                    throw TemplateError.type("bad operand type for abs(): '\(value.typeName)'")
                }
                guard number != Int.min else { throw TemplateOperators.overflowError() }
                return .int(Swift.abs(number))
            }
        case "round":
            try args.check(name, ["precision", "method"])
            return try round(value, args)
        case "attr":
            guard case .string(let attribute)? = args.value(0, "name") else {
                throw TemplateError.type("attribute name must be a string")
            }
            if case .undefined(let u) = value { throw u.error }
            if case .namespace(let namespace) = value {
                return namespace.attributes[string: attribute]
                    ?? .undefined(JinjaUndefined(owner: value, key: .string(attribute)))
            }
            if case .loop(let loop) = value {
                return try loop.attribute(attribute)
                    ?? .undefined(JinjaUndefined(owner: value, key: .string(attribute)))
            }
            return TemplateMethods.attribute(of: value, attribute)
                ?? .undefined(JinjaUndefined(owner: value, key: .string(attribute)))
        case "tojson":
            try args.check(name, ["ensure_ascii", "indent", "separators", "sort_keys"])
            return .string(
                try TemplateJSON.dumps(
                    value, ensureASCII: args.value(0, "ensure_ascii")?.isTruthy ?? false,
                    indent: args.value(1, "indent"), separators: args.value(2, "separators"),
                    sortKeys: args.value(3, "sort_keys")?.isTruthy ?? false))
        default:
            return try applySequenceFilter(name, value, args, renderer)
        }
    }

    static func escapeHTML(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// jinja2's `title` filter, unlike `str.title()`: words start after `-`, whitespace, `(`, `{`, `[` or `<`.
    static func title(_ text: String) -> String {
        var out = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            let separator = PythonText.isSpace(scalar) || "-({[<".unicodeScalars.contains(scalar)
            if separator {
                out.unicodeScalars.append(scalar)
                atWordStart = true
            } else {
                out += atWordStart ? PythonText.upper(String(scalar)) : PythonText.lower(String(scalar))
                atWordStart = false
            }
        }
        return out
    }

    /// `len(re.findall(r"\w+", text))`.
    static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            let word =
                scalar == "_" || TemplateMethods.isLetter(scalar) || scalar.properties.numericType != nil
                || [.nonspacingMark, .spacingMark].contains(scalar.properties.generalCategory)
            if word, !inWord { count += 1 }
            inWord = word
        }
        return count
    }

    private static func indent(_ value: JinjaValue, _ args: TemplateCallArguments) throws -> String {
        guard case .string(var text) = value else {
            if case .undefined(let u) = value { throw u.error }
            throw TemplateError.type("can only concatenate str (not \"\(value.typeName)\") to str")
        }
        let width = args.value(0, "width") ?? .int(4)
        let indentation: String
        if case .string(let s) = width {
            indentation = s
        } else {
            guard let count = width.integer else {
                throw TemplateError.type("can't multiply sequence by non-int of type '\(width.typeName)'")
            }
            try TemplateOperators.checkSize(count)
            indentation = String(repeating: " ", count: Swift.max(0, count))
        }
        text += "\n"
        let lines = PythonText.splitLines(text)
        var result: String
        if args.value(2, "blank")?.isTruthy ?? false {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                result += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        if args.value(1, "first")?.isTruthy ?? false { result = indentation + result }
        try TemplateOperators.checkSize(result.utf8.count)
        return result
    }

    private static func truncate(_ value: JinjaValue, _ args: TemplateCallArguments) throws -> JinjaValue {
        guard let length = (args.value(0, "length") ?? .int(255)).integer else {
            throw TemplateError.type("length must be an integer")
        }
        let killWords = args.value(1, "killwords")?.isTruthy ?? false
        let end = (args.value(2, "end") ?? .string("...")).str
        let leeway = (args.value(3, "leeway") ?? .int(5)).integer ?? 5
        let endLength = PythonText.length(end)
        guard length >= endLength else { throw TemplateError.type("expected length >= \(endLength), got \(length)") }
        // jinja2 measures the value itself: a short list comes back unchanged, a number has no len().
        guard case .string(let text) = value else {
            if try value.length() <= length + leeway { return value }
            throw TemplateError.type("'\(value.typeName)' object has no attribute 'rsplit'")
        }
        let scalars = PythonText.scalars(text)
        if scalars.count <= length + leeway { return value }
        let head = PythonText.string(scalars.prefix(length - endLength))
        if killWords { return .string(head + end) }
        return .string((try PythonText.rsplit(head, " ", maxSplit: 1).first ?? "") + end)
    }

    static func toInt(_ value: JinjaValue, default fallback: JinjaValue, base: JinjaValue) throws -> JinjaValue {
        switch value {
        case .undefined(let u): throw u.error
        case .string(let text):
            guard let radix = base.integer else {
                throw TemplateError.type("'\(base.typeName)' object cannot be interpreted as an integer")
            }
            if let number = PythonText.parseInt(text, base: radix) { return .int(number) }
            // jinja2 retries through float, so "42.23"|int gives 42.
            if let double = PythonText.parseFloat(text) { return try truncated(double) ?? fallback }
            return fallback
        case .double(let d): return try truncated(d) ?? fallback
        default: return value.integer.map(JinjaValue.int) ?? fallback
        }
    }

    private static func truncated(_ double: Double) throws -> JinjaValue? {
        guard !double.isNaN else { return nil }
        guard let number = Int(exactly: double.rounded(.towardZero)) else {
            if double.isInfinite { throw TemplateError(.type, "cannot convert float infinity to integer") }
            throw TemplateOperators.overflowError()
        }
        return .int(number)
    }

    static func toFloat(_ value: JinjaValue, default fallback: JinjaValue) throws -> JinjaValue {
        switch value {
        case .undefined(let u): throw u.error
        case .string(let text): return PythonText.parseFloat(text).map(JinjaValue.double) ?? fallback
        case .double: return value
        default: return value.number.map(JinjaValue.double) ?? fallback
        }
    }

    private static func round(_ value: JinjaValue, _ args: TemplateCallArguments) throws -> JinjaValue {
        guard let precision = (args.value(0, "precision") ?? .int(0)).integer else {
            throw TemplateError.type("precision must be an integer")
        }
        let method = (args.value(1, "method") ?? .string("common")).str
        guard ["common", "ceil", "floor"].contains(method) else {
            throw TemplateError.type("method must be common, ceil or floor")
        }
        guard let number = value.number else {
            throw TemplateError.type("type \(value.typeName) doesn't define __round__ method")
        }
        if method != "common" {
            let scale = pow(10, Double(precision))
            let scaled = number * scale
            return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
        }
        if let integer = value.integer {
            guard precision < 0 else { return .int(integer) }
            guard precision > -19 else { return .int(0) }
            var scale = 1
            for _ in 0..<(-precision) { scale *= 10 }
            let (quotient, remainder) = integer.quotientAndRemainder(dividingBy: scale)
            var rounded = quotient
            let twice = Swift.abs(remainder) * 2
            if twice > scale || (twice == scale && quotient % 2 != 0) { rounded += integer < 0 ? -1 : 1 }
            return try TemplateOperators.checked(rounded.multipliedReportingOverflow(by: scale))
        }
        guard number.isFinite else { return .double(number) }
        if precision >= 0 {
            // glibc's printf rounds the exact binary value half-to-even, as CPython's round() does.
            return .double(Double(String(format: "%.\(Swift.min(precision, 340))f", number)) ?? number)
        }
        let scale = pow(10, Double(-precision))
        return .double((number / scale).rounded(.toNearestOrEven) * scale)
    }
}

extension JinjaValue {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
