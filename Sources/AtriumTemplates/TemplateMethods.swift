import Foundation

/// The Python methods templates call on strings, dicts, lists and `loop`. Mutating methods exist but
/// refuse to run, as in jinja2's ImmutableSandboxedEnvironment.
enum TemplateMethods {
    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum", "isalpha",
        "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust",
        "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
        "zfill",
    ]
    static let dictMethods: Set<String> = ["copy", "get", "items", "keys", "values"]
    static let unsafeDictMethods: Set<String> = ["clear", "pop", "popitem", "setdefault", "update"]
    static let listMethods: Set<String> = ["copy", "count", "index"]
    static let unsafeListMethods: Set<String> = [
        "append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort",
    ]

    /// The bound method `value.name`, an unsafe-attribute placeholder, or nil when there is none.
    static func attribute(of value: JinjaValue, _ name: String) -> JinjaValue? {
        let safe: Set<String>
        let unsafe: Set<String>
        switch value {
        case .string: (safe, unsafe) = (stringMethods, [])
        case .dict: (safe, unsafe) = (dictMethods, unsafeDictMethods)
        case .list: (safe, unsafe) = (listMethods, unsafeListMethods)
        case .tuple: (safe, unsafe) = (["count", "index"], [])
        default: return nil
        }
        if safe.contains(name) { return .method(value, name) }
        if unsafe.contains(name) || (name.hasPrefix("__") && name.hasSuffix("__")) {
            return JinjaUndefined.unsafe(name, of: value)
        }
        return nil
    }

    static func call(
        _ receiver: JinjaValue, _ name: String, _ arguments: TemplateCallArguments, _ renderer: TemplateRenderer
    ) throws
        -> JinjaValue
    {
        switch receiver {
        case .string(let string): return try stringMethod(string, name, arguments)
        case .dict(let dict): return try dictMethod(dict, name, arguments)
        case .list(let items), .tuple(let items): return try sequenceMethod(receiver, items, name, arguments)
        case .loop(let loop): return try loopMethod(loop, name, arguments)
        default: throw TemplateError.type("'\(receiver.typeName)' object has no method '\(name)'")
        }
    }

    private static func string(_ value: JinjaValue?, _ function: String) throws -> String? {
        guard let value else { return nil }
        switch value {
        case .string(let s): return s
        case .none: return nil
        default: throw TemplateError.type("\(function) arg must be None or str")
        }
    }

    private static func int(_ value: JinjaValue?, _ default: Int) throws -> Int {
        guard let value else { return `default` }
        if case .none = value { return `default` }
        guard let number = value.integer else {
            throw TemplateError.type("'\(value.typeName)' object cannot be interpreted as an integer")
        }
        return number
    }

    /// Python's `str.center/ljust/rjust`.
    static func justify(_ string: String, _ width: Int, _ fill: String, _ align: Character) throws -> String {
        let length = PythonText.length(string)
        guard width > length else { return string }
        try TemplateOperators.checkSize(width)
        let margin = width - length
        let left: Int
        switch align {
        case "<": left = 0
        case ">": left = margin
        default: left = margin / 2 + (margin & width & 1)
        }
        return String(repeating: fill, count: left) + string + String(repeating: fill, count: margin - left)
    }

    private static func stringMethod(_ s: String, _ name: String, _ arguments: TemplateCallArguments) throws
        -> JinjaValue
    {
        let args = arguments
        func scalarsAll(_ predicate: (Unicode.Scalar) -> Bool) -> JinjaValue {
            .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(predicate))
        }
        func affixes(_ value: JinjaValue?) throws -> [String] {
            switch value {
            case .string(let s)?: return [s]
            case .tuple(let items)?:
                return try items.map { item in
                    guard case .string(let s) = item else {
                        throw TemplateError.type("tuple for \(name) must only contain str")
                    }
                    return s
                }
            default: throw TemplateError.type("\(name) first arg must be str or a tuple of str")
            }
        }
        let scalars = PythonText.scalars(s)
        /// `s[start:end]` for the optional start/end arguments, and where it begins.
        func window() throws -> (start: Int, part: [Unicode.Scalar]) {
            func clamp(_ index: Int) -> Int {
                Swift.max(0, Swift.min(scalars.count, index < 0 ? index + scalars.count : index))
            }
            let start = clamp(try int(args.value(1, "start"), 0))
            let end = clamp(try int(args.value(2, "end"), scalars.count))
            return (start, start < end ? Array(scalars[start..<end]) : [])
        }
        switch name {
        case "upper": return .string(PythonText.upper(s))
        case "lower", "casefold": return .string(PythonText.lower(s))
        case "title": return .string(PythonText.title(s))
        case "capitalize": return .string(PythonText.capitalize(s))
        case "swapcase": return .string(PythonText.swapcase(s))
        case "strip", "lstrip", "rstrip":
            let chars = try string(args.value(0, "chars"), name)
            return .string(PythonText.strip(s, chars, leading: name != "rstrip", trailing: name != "lstrip"))
        case "split", "rsplit":
            let separator = try string(args.value(0, "sep"), name)
            let limit = try int(args.value(1, "maxsplit"), -1)
            let parts =
                name == "split"
                ? try PythonText.split(s, separator, maxSplit: limit)
                : try PythonText.rsplit(s, separator, maxSplit: limit)
            return .list(parts.map(JinjaValue.string))
        case "splitlines":
            return .list(
                PythonText.splitLines(s, keepEnds: args.value(0, "keepends")?.isTruthy ?? false).map(JinjaValue.string))
        case "startswith", "endswith":
            let part = try window().part
            let matched = try affixes(args.value(0, "prefix")).contains { affix in
                let a = PythonText.scalars(affix)
                return name == "startswith" ? part.starts(with: a) : part.reversed().starts(with: a.reversed())
            }
            return .bool(matched)
        case "replace":
            guard case .string(let old)? = args.value(0, "old"), case .string(let new)? = args.value(1, "new") else {
                throw TemplateError.type("replace() arguments must be str")
            }
            let result = PythonText.replace(s, old, new, count: try int(args.value(2, "count"), -1))
            try TemplateOperators.checkSize(result.utf8.count)
            return .string(result)
        case "find", "rfind", "index", "rindex", "count":
            guard case .string(let sub)? = args.value(0, "sub") else {
                throw TemplateError.type("must be str, not \(args.value(0, "sub")?.typeName ?? "nothing")")
            }
            let (start, part) = try window()
            if name == "count" { return .int(PythonText.count(PythonText.string(part), sub)) }
            let found =
                name.hasPrefix("r")
                ? PythonText.rfind(part, PythonText.scalars(sub)) : PythonText.find(part, PythonText.scalars(sub))
            if let found { return .int(found + start) }
            if name.hasSuffix("index") { throw TemplateError.type("substring not found") }
            return .int(-1)
        case "join":
            guard let iterable = args.value(0, "iterable") else {
                throw TemplateError.type("join() takes exactly one argument")
            }
            var parts: [String] = []
            for (index, item) in try iterable.iterate().enumerated() {
                guard case .string(let text) = item else {
                    throw TemplateError.type("sequence item \(index): expected str instance, \(item.typeName) found")
                }
                parts.append(text)
            }
            let joined = parts.joined(separator: s)
            try TemplateOperators.checkSize(joined.utf8.count)
            return .string(joined)
        case "format":
            return .string(try TemplateFormatting.format(s, positional: args.positional, keywords: args.keywords))
        case "center", "ljust", "rjust":
            let fill = try string(args.value(1, "fillchar"), name) ?? " "
            guard PythonText.length(fill) == 1 else {
                throw TemplateError.type("The fill character must be exactly one character long")
            }
            return .string(
                try justify(
                    s, try int(args.value(0, "width"), 0), fill, name == "ljust" ? "<" : name == "rjust" ? ">" : "^"))
        case "zfill":
            let width = try int(args.value(0, "width"), 0)
            guard width > scalars.count else { return .string(s) }
            try TemplateOperators.checkSize(width)
            let signed = scalars.first == "+" || scalars.first == "-"
            let zeros = String(repeating: "0", count: width - scalars.count)
            return .string(signed ? String(scalars[0]) + zeros + PythonText.string(scalars.dropFirst()) : zeros + s)
        case "partition", "rpartition":
            guard case .string(let separator)? = args.value(0, "sep"), !separator.isEmpty else {
                throw TemplateError.type("empty separator")
            }
            let sep = PythonText.scalars(separator)
            let found = name == "partition" ? PythonText.find(scalars, sep) : PythonText.rfind(scalars, sep)
            guard let found else {
                return name == "partition"
                    ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
            }
            return .tuple([
                .string(PythonText.string(scalars[..<found])), .string(separator),
                .string(PythonText.string(scalars[(found + sep.count)...])),
            ])
        case "removeprefix", "removesuffix":
            guard case .string(let affix)? = args.value(0, "prefix") else {
                throw TemplateError.type("\(name)() argument must be str")
            }
            let a = PythonText.scalars(affix)
            if name == "removeprefix", scalars.starts(with: a) {
                return .string(PythonText.string(scalars.dropFirst(a.count)))
            }
            if name == "removesuffix", !a.isEmpty, scalars.reversed().starts(with: a.reversed()) {
                return .string(PythonText.string(scalars.dropLast(a.count)))
            }
            return .string(s)
        case "isdigit":
            return scalarsAll { $0.properties.numericType == .digit || $0.properties.numericType == .decimal }
        case "isdecimal": return scalarsAll { $0.properties.numericType == .decimal }
        case "isnumeric": return scalarsAll { $0.properties.numericType != nil }
        case "isalpha": return scalarsAll { isLetter($0) }
        case "isalnum": return scalarsAll { isLetter($0) || $0.properties.numericType != nil }
        case "isspace": return scalarsAll(PythonText.isSpace)
        case "isascii": return .bool(s.unicodeScalars.allSatisfy(\.isASCII))
        case "islower", "isupper": return .bool(isCase(s, lower: name == "islower"))
        case "istitle":
            return .bool(!s.isEmpty && PythonText.title(s) == s && s.unicodeScalars.contains { $0.properties.isCased })
        default: throw TemplateError.type("str.\(name)() is not supported")
        }
    }

    /// CPython's `islower`/`isupper`: no code point of the other case or title case, and at least one of
    /// the wanted case.
    static func isCase(_ text: String, lower: Bool) -> Bool {
        var found = false
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if (lower ? properties.isUppercase : properties.isLowercase)
                || properties.generalCategory == .titlecaseLetter
            {
                return false
            }
            if lower ? properties.isLowercase : properties.isUppercase { found = true }
        }
        return found
    }

    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    private static func dictMethod(_ dict: PyDict, _ name: String, _ arguments: TemplateCallArguments) throws
        -> JinjaValue
    {
        switch name {
        case "get":
            guard let key = arguments.value(0, "key") else {
                throw TemplateError.type("get expected at least 1 argument, got 0")
            }
            return dict.value(for: key) ?? arguments.value(1, "default") ?? .none
        case "items": return .view(JinjaDictView(kind: .items, items: dict.items.map { .tuple([$0.key, $0.value]) }))
        case "keys": return .view(JinjaDictView(kind: .keys, items: dict.keys))
        case "values": return .view(JinjaDictView(kind: .values, items: dict.values))
        case "copy": return .dict(dict)
        default: throw TemplateError.type("dict.\(name)() is not supported")
        }
    }

    private static func sequenceMethod(
        _ receiver: JinjaValue, _ items: [JinjaValue], _ name: String, _ arguments: TemplateCallArguments
    )
        throws -> JinjaValue
    {
        switch name {
        case "count":
            guard let item = arguments.value(0, "value") else {
                throw TemplateError.type("count() takes exactly one argument (0 given)")
            }
            return .int(items.filter { $0.equals(item) }.count)
        case "index":
            guard let item = arguments.value(0, "value") else {
                throw TemplateError.type("index expected at least 1 argument, got 0")
            }
            guard let index = items.firstIndex(where: { $0.equals(item) }) else {
                throw TemplateError.type("\(item.repr) is not in \(receiver.typeName)")
            }
            return .int(index)
        case "copy": return receiver
        default: throw TemplateError.type("\(receiver.typeName).\(name)() is not supported")
        }
    }

    private static func loopMethod(_ loop: JinjaLoop, _ name: String, _ arguments: TemplateCallArguments) throws
        -> JinjaValue
    {
        if name == "cycle" {
            guard !arguments.positional.isEmpty else { throw TemplateError.type("no items for cycling given") }
            return arguments.positional[loop.index0 % arguments.positional.count]
        }
        let values = arguments.positional
        if let last = loop.lastChanged, last.count == values.count, zip(last, values).allSatisfy({ $0.equals($1) }) {
            return .bool(false)
        }
        loop.lastChanged = values
        return .bool(true)
    }
}
