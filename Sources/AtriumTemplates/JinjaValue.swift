import Foundation

/// A value while rendering: Python's types as jinja2 sees them, plus the template's own objects.
/// Not Sendable (namespaces and loops are shared references); it never leaves a render call.
enum JinjaValue {
    case undefined(JinjaUndefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaValue])
    case tuple([JinjaValue])
    case dict(PyDict)
    case namespace(JinjaNamespace)
    /// What jinja2's `map`, `select`, `unique`, `items`, `batch` and `reverse` return.
    case generator(JinjaGenerator)
    /// `dict.items()`, `dict.keys()`, `dict.values()`.
    case view(JinjaDictView)
    case loop(JinjaLoop)
    case macro(JinjaMacro)
    case function(JinjaGlobal)
    /// `receiver.name`, called later: `'a'.upper`, `d.items`, `loop.cycle`.
    indirect case method(JinjaValue, String)

    /// A context value; refuses nesting deeper than JSON parsing allows, to keep recursion bounded.
    init(_ value: TemplateValue, depth: Int = 0) throws {
        guard depth <= 128 else { throw TemplateError(.limit, "a context value nests deeper than 128 levels") }
        switch value {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(try items.map { try JinjaValue($0, depth: depth + 1) })
        case .object(let object):
            var dict = PyDict()
            for (key, value) in object { dict[string: key] = try JinjaValue(value, depth: depth + 1) }
            self = .dict(dict)
        }
    }

    init(_ constant: TemplateConstant) {
        switch constant {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        }
    }

    static func undefined(_ name: String) -> JinjaValue { .undefined(JinjaUndefined(name: name)) }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }
}

/// jinja2's default `Undefined`: prints as "", is falsy and iterates as empty, but using it any other
/// way raises the message jinja2 would give.
struct JinjaUndefined {
    enum Origin {
        case variable(String)
        case attribute(owner: String, name: String)
        case element(owner: String, key: String)
        case hint(String)
    }

    let origin: Origin
    var kind: TemplateError.Kind = .undefined

    init(name: String) { origin = .variable(name) }
    init(origin: Origin, kind: TemplateError.Kind = .undefined) {
        self.origin = origin
        self.kind = kind
    }

    /// The lookup of `key` on `owner` failed.
    init(owner: JinjaValue, key: JinjaValue) {
        if case .string(let name) = key {
            origin = .attribute(owner: owner.objectTypeRepr, name: name)
        } else {
            origin = .element(owner: owner.objectTypeRepr, key: owner.isUndefined ? "" : key.repr)
        }
    }

    var message: String {
        switch origin {
        case .variable(let name): return "\(PythonText.repr(name)) is undefined"
        case .attribute(let owner, let name):
            return "\(PythonText.repr(owner)) has no attribute \(PythonText.repr(name))"
        case .element(let owner, let key): return "\(owner) has no element \(key)"
        case .hint(let hint): return hint
        }
    }

    var error: TemplateError { TemplateError(kind, message) }

    /// The sandbox's answer for an attribute it hides: prints as "", raises when used.
    static func unsafe(_ name: String, of value: JinjaValue) -> JinjaValue {
        let message =
            "access to attribute \(PythonText.repr(name)) of \(PythonText.repr(value.typeName)) object is unsafe."
        return .undefined(JinjaUndefined(origin: .hint(message), kind: .security))
    }
}

/// Python's dict: insertion-ordered, keyed by hashable values with `1 == 1.0 == True` as one key.
struct PyDict {
    private(set) var keys: [JinjaValue] = []
    private(set) var values: [JinjaValue] = []
    private var positions: [PyHashKey: Int] = [:]

    var count: Int { keys.count }

    var items: [(key: JinjaValue, value: JinjaValue)] { Array(zip(keys, values)).map { ($0.0, $0.1) } }

    func value(for key: JinjaValue) -> JinjaValue? {
        guard let hash = PyHashKey(key), let position = positions[hash] else { return nil }
        return values[position]
    }

    mutating func set(_ value: JinjaValue, for key: JinjaValue) throws {
        guard let hash = PyHashKey(key) else { throw TemplateError.type("unhashable type: '\(key.typeName)'") }
        if let position = positions[hash] {
            values[position] = value
        } else {
            positions[hash] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    subscript(string key: String) -> JinjaValue? {
        get { positions[.string(ExactString(key))].map { values[$0] } }
        set {
            guard let newValue else { return }
            try? set(newValue, for: .string(key))
        }
    }

    func contains(_ key: JinjaValue) -> Bool { value(for: key) != nil }
}

/// A String compared and hashed by code points, not by canonical equivalence.
struct ExactString: Hashable {
    let string: String
    init(_ string: String) { self.string = string }
    static func == (lhs: ExactString, rhs: ExactString) -> Bool { PythonText.equal(lhs.string, rhs.string) }
    func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
    }
}

enum PyHashKey: Hashable {
    case undefined
    case none
    case int(Int)
    case double(UInt64)
    case string(ExactString)
    case tuple([PyHashKey])

    init?(_ value: JinjaValue, depth: Int = 0) {
        guard depth <= JinjaValue.maximumNesting else { return nil }
        switch value {
        case .undefined: self = .undefined
        case .none: self = .none
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let i): self = .int(i)
        case .double(let d):
            if let i = Int(exactly: d) {
                self = .int(i)
            } else {
                self = .double(d.isNaN ? Double.nan.bitPattern : d.bitPattern)
            }
        case .string(let s): self = .string(ExactString(s))
        case .tuple(let items):
            var keys: [PyHashKey] = []
            for item in items {
                guard let key = PyHashKey(item, depth: depth + 1) else { return nil }
                keys.append(key)
            }
            self = .tuple(keys)
        default: return nil
        }
    }
}

/// `namespace(...)`: the one object a template may change, from inside loops too.
final class JinjaNamespace {
    var attributes: PyDict
    init(_ attributes: PyDict) { self.attributes = attributes }
}

/// A one-shot iterator: always truthy, without `len()`, not indexable, and empty once consumed, so
/// `{% if items|selectattr(...) %}` is true even when nothing matches, exactly as in jinja2.
final class JinjaGenerator {
    let typeName: String
    private let items: [JinjaValue]
    private var position = 0

    init(_ items: [JinjaValue], typeName: String = "generator") {
        self.items = items
        self.typeName = typeName
    }

    var remaining: ArraySlice<JinjaValue> { items[position...] }

    func next() -> JinjaValue? {
        guard position < items.count else { return nil }
        position += 1
        return items[position - 1]
    }

    func drain() -> [JinjaValue] {
        defer { position = items.count }
        return Array(items[position...])
    }
}

/// A dict view: sized and iterable, printed as `dict_items([...])`, but not indexable.
struct JinjaDictView {
    enum Kind: String {
        case keys, values, items
    }

    let kind: Kind
    let items: [JinjaValue]
}

/// A template macro with the scope it was defined in (it sees that scope's later changes).
struct JinjaMacro {
    let definition: TemplateMacroDefinition
    let scope: TemplateScope
}

enum JinjaGlobal: String {
    case raiseException = "raise_exception"
    case strftimeNow = "strftime_now"
    case namespace, range, dict
}

/// The items of a `for` loop, filtered lazily by its inline `if`: jinja2 tests an item only when the
/// loop reaches it, or when `loop.last`, `loop.length` or `loop.nextitem` needs to look ahead.
final class JinjaLoopIterator {
    private let items: [JinjaValue]
    private var position = 0
    private var lookahead: [JinjaValue] = []
    private let accepts: ((JinjaValue) throws -> Bool)?

    init(_ items: [JinjaValue], accepts: ((JinjaValue) throws -> Bool)?) {
        self.items = items
        self.accepts = accepts
    }

    private func fetch() throws -> JinjaValue? {
        while position < items.count {
            let item = items[position]
            position += 1
            if try accepts?(item) ?? true { return item }
        }
        return nil
    }

    func next() throws -> JinjaValue? {
        if !lookahead.isEmpty { return lookahead.removeFirst() }
        return try fetch()
    }

    func peek() throws -> JinjaValue? {
        if lookahead.isEmpty, let item = try fetch() { lookahead.append(item) }
        return lookahead.first
    }

    func remaining() throws -> Int {
        if accepts == nil { return lookahead.count + items.count - position }
        while let item = try fetch() { lookahead.append(item) }
        return lookahead.count
    }
}

/// jinja2's `loop` object.
final class JinjaLoop {
    let iterator: JinjaLoopIterator
    var index0 = -1
    var previous: JinjaValue?
    var lastChanged: [JinjaValue]?

    init(_ iterator: JinjaLoopIterator) { self.iterator = iterator }

    func attribute(_ name: String) throws -> JinjaValue? {
        switch name {
        case "index0": return .int(index0)
        case "index": return .int(index0 + 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(try iterator.peek() == nil)
        case "length": return .int(index0 + 1 + (try iterator.remaining()))
        case "revindex": return .int(try iterator.remaining() + 1)
        case "revindex0": return .int(try iterator.remaining())
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return previous ?? .undefined(JinjaUndefined(origin: .hint("there is no previous item")))
        case "nextitem":
            return try iterator.peek() ?? .undefined(JinjaUndefined(origin: .hint("there is no next item")))
        case "cycle", "changed": return .method(.loop(self), name)
        default: return nil
        }
    }
}
