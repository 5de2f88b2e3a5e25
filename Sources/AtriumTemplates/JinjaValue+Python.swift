import Foundation

/// Python's behaviour for runtime values: truthiness, `str`, `repr`, `==`, ordering, iteration, `len`.
extension JinjaValue {
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let items), .tuple(let items): return !items.isEmpty
        case .dict(let dict): return dict.count > 0
        case .view(let view): return !view.items.isEmpty
        case .namespace, .generator, .loop, .macro, .function, .method: return true
        }
    }

    /// Python's type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .generator(let generator): return generator.typeName
        case .view(let view): return "dict_" + view.kind.rawValue
        case .loop: return "LoopContext"
        case .macro: return "Macro"
        case .function: return "function"
        case .method: return "builtin_function_or_method"
        }
    }

    /// jinja2's `object_type_repr`, used in undefined messages ("'dict object' has no attribute ...").
    var objectTypeRepr: String {
        switch self {
        case .none: return "None"
        case .namespace: return "jinja2.utils.Namespace object"
        case .loop: return "jinja2.runtime.LoopContext object"
        case .macro: return "jinja2.runtime.Macro object"
        case .undefined: return "jinja2.runtime.Undefined object"
        default: return "\(typeName) object"
        }
    }

    /// `str(value)`, which is what `{{ value }}` prints.
    var str: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Values nested deeper than this (only a loop wrapping a value in itself builds them) are not
    /// walked further, so printing or comparing them cannot exhaust the stack.
    static let maximumNesting = 100

    /// How deeply containers nest inside this value, counting no further than `limit + 1`.
    func nesting(limit: Int = maximumNesting) -> Int {
        guard limit >= 0 else { return 1 }
        let children: [JinjaValue]
        switch self {
        case .list(let items), .tuple(let items): children = items
        case .dict(let dict): children = dict.values
        case .namespace(let namespace): children = namespace.attributes.values
        case .generator(let generator): children = Array(generator.remaining)
        case .view(let view): children = view.items
        default: return 0
        }
        var deepest = 0
        for child in children {
            deepest = Swift.max(deepest, child.nesting(limit: limit - 1))
            if deepest > limit { break }
        }
        return deepest + 1
    }

    /// `repr(value)`, used for items inside printed containers.
    var repr: String { repr(depth: 0) }

    private func repr(depth: Int) -> String {
        if depth > Self.maximumNesting { return "..." }
        let inner = { (value: JinjaValue) in value.repr(depth: depth + 1) }
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PythonText.floatRepr(d)
        case .string(let s): return PythonText.repr(s)
        case .list(let items): return "[" + items.map(inner).joined(separator: ", ") + "]"
        case .tuple(let items):
            return items.count == 1
                ? "(" + inner(items[0]) + ",)" : "(" + items.map(inner).joined(separator: ", ") + ")"
        case .dict(let dict):
            return "{" + dict.items.map { inner($0.key) + ": " + inner($0.value) }.joined(separator: ", ") + "}"
        case .namespace(let namespace): return "<Namespace " + inner(JinjaValue.dict(namespace.attributes)) + ">"
        case .generator(let generator): return "<\(generator.typeName) object>"
        case .view(let view): return "dict_\(view.kind.rawValue)(" + inner(.list(view.items)) + ")"
        case .loop(let loop): return "<LoopContext \(loop.index0 + 1)>"
        case .macro(let macro): return "<Macro '\(macro.definition.name)'>"
        case .function(let function): return "<function \(function.rawValue)>"
        case .method(let receiver, let name): return "<built-in method \(name) of \(receiver.typeName) object>"
        }
    }

    /// A number as Python compares it, with bools as 0 and 1.
    var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    var integer: Int? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return i
        default: return nil
        }
    }

    static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool { lhs.equals(rhs) }

    /// Python's `==`.
    func equals(_ other: JinjaValue) -> Bool { equals(other, depth: 0) }

    private func equals(_ other: JinjaValue, depth: Int) -> Bool {
        if depth > Self.maximumNesting { return false }
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return PythonText.equal(a, b)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1, depth: depth + 1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count
                && a.items.allSatisfy { item in
                    b.value(for: item.key).map { $0.equals(item.value, depth: depth + 1) } ?? false
                }
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.generator(let a), .generator(let b)): return a === b
        case (.view(let a), .view(let b)):
            // keys and items views compare as sets; values views only by identity.
            return a.kind == b.kind && a.kind != .values && a.items.count == b.items.count
                && a.items.allSatisfy { item in b.items.contains { $0.equals(item, depth: depth + 1) } }
        case (.loop(let a), .loop(let b)): return a === b
        default:
            if let a = integer, let b = other.integer { return a == b }
            if let a = number, let b = other.number { return a == b }
            return false
        }
    }

    /// Python's ordering: -1, 0 or 1, or nil when unordered (NaN). Mixed types raise as Python does.
    func compared(to other: JinjaValue, symbol: String = "<", depth: Int = 0) throws -> Int? {
        guard depth <= Self.maximumNesting else { throw TemplateError(.limit, "values nested too deeply to compare") }
        switch (self, other) {
        case (.undefined(let u), _), (_, .undefined(let u)): throw u.error
        case (.string(let a), .string(let b)):
            if PythonText.equal(a, b) { return 0 }
            return PythonText.less(a, b) ? -1 : 1
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !x.equals(y) {
                return try x.compared(to: y, symbol: symbol, depth: depth + 1)
            }
            return a.count == b.count ? 0 : a.count < b.count ? -1 : 1
        default:
            if let a = integer, let b = other.integer { return a == b ? 0 : a < b ? -1 : 1 }
            if let a = number, let b = other.number { return a == b ? 0 : a < b ? -1 : a > b ? 1 : nil }
            throw TemplateError.type(
                "'\(symbol)' not supported between instances of '\(typeName)' and '\(other.typeName)'")
        }
    }

    func lessThan(_ other: JinjaValue) throws -> Bool { try compared(to: other) == -1 }

    /// `iter(value)` materialised: strings give code points, dicts their keys, undefined nothing.
    func iterate() throws -> [JinjaValue] {
        switch self {
        case .undefined: return []
        case .list(let items), .tuple(let items): return items
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .dict(let dict): return dict.keys
        case .generator(let generator): return generator.drain()
        case .view(let view): return view.items
        default: throw TemplateError.type("'\(typeName)' object is not iterable")
        }
    }

    /// `len(value)`.
    func length() throws -> Int {
        switch self {
        case .undefined: return 0
        case .string(let s): return PythonText.length(s)
        case .list(let items), .tuple(let items): return items.count
        case .dict(let dict): return dict.count
        case .view(let view): return view.items.count
        case .namespace(let namespace): return namespace.attributes.count
        default: throw TemplateError.type("object of type '\(typeName)' has no len()")
        }
    }

    /// Python's `item in self`.
    func contains(_ item: JinjaValue) throws -> Bool {
        switch self {
        case .undefined: return false
        case .string(let s):
            guard case .string(let needle) = item else {
                throw TemplateError.type("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return PythonText.contains(s, needle)
        case .list(let items), .tuple(let items): return items.contains { $0.equals(item) }
        case .view(let view): return view.items.contains { $0.equals(item) }
        case .generator(let generator):
            // Like Python, `in` consumes the generator up to the match.
            while let next = generator.next() {
                if next.equals(item) { return true }
            }
            return false
        case .dict(let dict):
            guard PyHashKey(item) != nil else { throw TemplateError.type("unhashable type: '\(item.typeName)'") }
            return dict.contains(item)
        default: throw TemplateError.type("argument of type '\(typeName)' is not iterable")
        }
    }
}
