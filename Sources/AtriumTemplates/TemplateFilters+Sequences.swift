import Foundation

/// The filters over sequences. Where jinja2 returns a generator (`map`, `select`, `unique`, `items`,
/// `batch`, `reverse`) so does this, computed eagerly but with a generator's truthiness and one-shot use.
extension TemplateFilters {
    static func applySequenceFilter(
        _ name: String, _ value: JinjaValue, _ args: TemplateCallArguments, _ renderer: TemplateRenderer
    ) throws
        -> JinjaValue
    {
        switch name {
        case "list":
            return .list(try value.iterate())
        case "first":
            // next(iter(value)): takes one item from a generator and leaves the rest.
            let first =
                if case .generator(let generator) = value { generator.next() } else { try value.iterate().first }
            return first ?? .undefined(JinjaUndefined(origin: .hint("No first item, sequence was empty.")))
        case "last":
            // next(iter(reversed(value))): generators cannot be reversed.
            switch value {
            case .undefined: return .undefined(JinjaUndefined(origin: .hint("No last item, sequence was empty.")))
            case .generator: throw TemplateError.type("'\(value.typeName)' object is not reversible")
            default:
                return try value.iterate().last
                    ?? .undefined(JinjaUndefined(origin: .hint("No last item, sequence was empty.")))
            }
        case "join":
            try args.check(name, ["d", "attribute"])
            var items = try value.iterate()
            if let attribute = args.value(1, "attribute") {
                let getter = attributeGetter(attribute, renderer)
                items = try items.map(getter)
            }
            let joined = items.map(\.str).joined(separator: (args.value(0, "d") ?? .string("")).str)
            try TemplateOperators.checkSize(joined.utf8.count)
            return .string(joined)
        case "items":
            if case .undefined = value { return .generator(JinjaGenerator([])) }
            guard case .dict(let dict) = value else {
                throw TemplateError.type("Can only get item pairs from a mapping.")
            }
            return .generator(JinjaGenerator(dict.items.map { .tuple([$0.key, $0.value]) }))
        case "dictsort":
            try args.check(name, ["case_sensitive", "by", "reverse"])
            if case .undefined(let u) = value { throw u.error }
            guard case .dict(let dict) = value else {
                throw TemplateError.type("'\(value.typeName)' object has no attribute 'items'")
            }
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let by = (args.value(1, "by") ?? .string("key")).str
            guard by == "key" || by == "value" else {
                throw TemplateError.type("You can only sort by either \"key\" or \"value\"")
            }
            let pairs: [JinjaValue] = dict.items.map { .tuple([$0.key, $0.value]) }
            return .list(
                try sorted(pairs, reverse: args.value(2, "reverse")?.isTruthy ?? false) { pair in
                    guard case .tuple(let items) = pair else { return pair }
                    let item = items[by == "key" ? 0 : 1]
                    return caseSensitive ? item : lowered(item)
                })
        case "reverse":
            // reversed(value), or for what cannot be reversed (a generator), list(value) reversed.
            switch value {
            case .string(let s): return .string(PythonText.string(PythonText.scalars(s).reversed()))
            case .generator: return .list(try value.iterate().reversed())
            default:
                let kind: String
                switch value {
                case .list: kind = "list_reverseiterator"
                case .tuple: kind = "tuple_reverseiterator"
                case .dict: kind = "dict_reversekeyiterator"
                case .view(let view):
                    kind = "dict_reverse\(view.kind == .keys ? "key" : view.kind == .items ? "item" : "value")iterator"
                default: kind = "reversed"
                }
                return .generator(JinjaGenerator(try value.iterate().reversed(), typeName: kind))
            }
        case "sort":
            try args.check(name, ["reverse", "case_sensitive", "attribute"])
            let caseSensitive = args.value(1, "case_sensitive")?.isTruthy ?? false
            let key = multiAttributeGetter(args.value(2, "attribute"), renderer, lowercase: !caseSensitive)
            return .list(
                try sorted(try value.iterate(), reverse: args.value(0, "reverse")?.isTruthy ?? false, key: key))
        case "unique":
            try args.check(name, ["case_sensitive", "attribute"])
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let getter = attributeGetter(args.value(1, "attribute"), renderer, lowercase: !caseSensitive)
            var seen = Set<PyHashKey>()
            var out: [JinjaValue] = []
            for item in try value.iterate() {
                let key = try getter(item)
                guard let hash = PyHashKey(key) else { throw TemplateError.type("unhashable type: '\(key.typeName)'") }
                if seen.insert(hash).inserted { out.append(item) }
            }
            return .generator(JinjaGenerator(out))
        case "min", "max":
            try args.check(name, ["case_sensitive", "attribute"])
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let getter = attributeGetter(args.value(1, "attribute"), renderer, lowercase: !caseSensitive)
            let items = try value.iterate()
            guard var best = items.first else {
                return .undefined(JinjaUndefined(origin: .hint("No aggregated item, sequence was empty.")))
            }
            var bestKey = try getter(best)
            for item in items.dropFirst() {
                let key = try getter(item)
                let better = name == "min" ? try key.lessThan(bestKey) : try bestKey.lessThan(key)
                if better {
                    best = item
                    bestKey = key
                }
            }
            return best
        case "sum":
            try args.check(name, ["attribute", "start"])
            var total = args.value(1, "start") ?? .int(0)
            let getter = attributeGetter(args.value(0, "attribute"), renderer)
            for item in try value.iterate() { total = try TemplateOperators.binary(.add, total, try getter(item)) }
            return total
        case "batch":
            try args.check(name, ["linecount", "fill_with"])
            guard let size = args.value(0, "linecount")?.integer, size > 0 else {
                throw TemplateError.type("batch size must be a positive integer")
            }
            let items = try value.iterate()
            var batches: [JinjaValue] = []
            var start = 0
            while start < items.count {
                var batch = Array(items[start..<Swift.min(start + size, items.count)])
                if batch.count < size, let fill = args.value(1, "fill_with"), !fill.isNone {
                    batch += Array(repeating: fill, count: size - batch.count)
                }
                batches.append(.list(batch))
                start += size
            }
            return .generator(JinjaGenerator(batches))
        case "map":
            return .generator(JinjaGenerator(try map(value, args, renderer)))
        case "select", "reject", "selectattr", "rejectattr":
            guard value.isTruthy else { return .generator(JinjaGenerator([])) }
            let byAttribute = name.hasSuffix("attr")
            var rest = args.positional
            var transform: (JinjaValue) throws -> JinjaValue = { $0 }
            if byAttribute {
                guard !rest.isEmpty else { throw TemplateError.type("Missing parameter for attribute name") }
                transform = attributeGetter(rest.removeFirst(), renderer)
            }
            let testName = rest.isEmpty ? nil : rest.removeFirst()
            let testArguments = TemplateCallArguments(positional: rest, keywords: args.keywords)
            let keep = name.hasPrefix("select")
            return .generator(
                JinjaGenerator(
                    try value.iterate().filter { item in
                        let subject = try transform(item)
                        let passed: Bool
                        if let testName {
                            passed = try TemplateTests.apply(
                                testName.str, subject, testArguments, renderer, runtime: true)
                        } else {
                            passed = subject.isTruthy
                        }
                        return passed == keep
                    }))
        default:
            throw TemplateError(.syntax, "No filter named \(PythonText.repr(name)).")
        }
    }

    private static func map(_ value: JinjaValue, _ args: TemplateCallArguments, _ renderer: TemplateRenderer) throws
        -> [JinjaValue]
    {
        // jinja2's map yields nothing for a falsy value, whatever its type.
        guard value.isTruthy else { return [] }
        let items = try value.iterate()
        if args.positional.isEmpty, let attribute = args.keyword("attribute") {
            let fallback = args.keyword("default")
            if let unexpected = args.keywords.first(where: { $0.name != "attribute" && $0.name != "default" }) {
                throw TemplateError.type("Unexpected keyword argument \(PythonText.repr(unexpected.name))")
            }
            let getter = attributeGetter(attribute, renderer, default: fallback)
            return try items.map(getter)
        }
        guard let filter = args.positional.first else { throw TemplateError.type("map requires a filter argument") }
        let name = filter.str
        guard names.contains(name) else { throw TemplateError(.syntax, "No filter named \(PythonText.repr(name)).") }
        let rest = TemplateCallArguments(positional: Array(args.positional.dropFirst()), keywords: args.keywords)
        return try items.map { try apply(name, $0, rest, renderer) }
    }

    static func lowered(_ value: JinjaValue) -> JinjaValue {
        if case .string(let s) = value { return .string(PythonText.lower(s)) }
        return value
    }

    /// jinja2's `make_attrgetter`: "a.b.0" looks up `a`, then `b`, then item 0, via `getitem`.
    static func attributeGetter(
        _ attribute: JinjaValue?, _ renderer: TemplateRenderer, lowercase: Bool = false,
        default fallback: JinjaValue? = nil
    ) -> (JinjaValue) throws -> JinjaValue {
        let parts: [JinjaValue]
        switch attribute {
        case nil, .none?: parts = []
        case .string(let path)?:
            parts = path.split(separator: ".", omittingEmptySubsequences: false).map { part in
                part.allSatisfy(\.isASCII) && !part.isEmpty && part.allSatisfy(\.isNumber)
                    ? .int(Int(part) ?? 0) : .string(String(part))
            }
        case let other?: parts = [other]
        }
        return { item in
            var current = item
            for part in parts { current = try renderer.getItem(current, part) }
            if let fallback, current.isUndefined { current = fallback }
            return lowercase ? lowered(current) : current
        }
    }

    /// Like `attributeGetter`, but "a,b" sorts by `a` then `b`.
    static func multiAttributeGetter(_ attribute: JinjaValue?, _ renderer: TemplateRenderer, lowercase: Bool) -> (
        JinjaValue
    ) throws ->
        JinjaValue
    {
        guard case .string(let list)? = attribute, list.contains(",") else {
            return attributeGetter(attribute, renderer, lowercase: lowercase)
        }
        let getters = list.split(separator: ",").map {
            attributeGetter(.string(String($0)), renderer, lowercase: lowercase)
        }
        return { item in .list(try getters.map { try $0(item) }) }
    }

    /// Python's stable `sorted(key=, reverse=)`: equal keys keep their order even when reversed.
    static func sorted(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) throws -> JinjaValue) throws
        -> [JinjaValue]
    {
        let keys = try items.map(key)
        var order = Array(items.indices)
        func before(_ a: Int, _ b: Int) throws -> Bool {
            reverse ? try keys[b].lessThan(keys[a]) : try keys[a].lessThan(keys[b])
        }
        // Merge sort, because the comparison can throw (mixed types) and must stay stable.
        var buffer = order
        var width = 1
        while width < order.count {
            var start = 0
            while start < order.count {
                let middle = Swift.min(start + width, order.count)
                let end = Swift.min(start + 2 * width, order.count)
                var i = start
                var j = middle
                var k = start
                while i < middle, j < end {
                    if try before(order[j], order[i]) {
                        buffer[k] = order[j]
                        j += 1
                    } else {
                        buffer[k] = order[i]
                        i += 1
                    }
                    k += 1
                }
                while i < middle {
                    buffer[k] = order[i]
                    i += 1
                    k += 1
                }
                while j < end {
                    buffer[k] = order[j]
                    j += 1
                    k += 1
                }
                start += 2 * width
            }
            swap(&order, &buffer)
            width *= 2
        }
        return order.map { items[$0] }
    }
}
