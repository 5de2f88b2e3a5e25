import Foundation

/// A value while rendering: Python's types as jinja2 sees them, plus the template's own objects.
/// Not Sendable (namespaces and loops are shared references); it never leaves a render call.
enum Value {
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    case tuple([Value])
    case dict(PyDict)
    case namespace(Namespace)
    case loop(LoopContext)
    case macro(Macro)
    case function(GlobalFunction)
    /// `receiver.name`, called later: `'a'.upper`, `d.items`, `loop.cycle`.
    indirect case method(Value, String)

    /// A context value; refuses nesting deeper than JSON parsing allows, to keep recursion bounded.
    init(_ value: TemplateValue, depth: Int = 0) throws {
        guard depth <= 128 else { throw TemplateError(.limit, "a context value nests deeper than 128 levels") }
        switch value {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(try items.map { try Value($0, depth: depth + 1) })
        case .object(let object):
            var dict = PyDict()
            for (key, value) in object { dict[string: key] = try Value(value, depth: depth + 1) }
            self = .dict(dict)
        }
    }

    init(_ constant: Constant) {
        switch constant {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        }
    }

    static func undefined(_ name: String) -> Value { .undefined(Undefined(name: name)) }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }
}

/// jinja2's default `Undefined`: prints as "", is falsy and iterates as empty, but using it any other
/// way raises the message jinja2 would give.
struct Undefined {
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
    init(owner: Value, key: Value) {
        if case .string(let name) = key {
            origin = .attribute(owner: owner.objectTypeRepr, name: name)
        } else {
            origin = .element(owner: owner.objectTypeRepr, key: owner.isUndefined ? "" : key.repr)
        }
    }

    var message: String {
        switch origin {
        case .variable(let name): return "\(Python.repr(name)) is undefined"
        case .attribute(let owner, let name): return "\(Python.repr(owner)) has no attribute \(Python.repr(name))"
        case .element(let owner, let key): return "\(owner) has no element \(key)"
        case .hint(let hint): return hint
        }
    }

    var error: TemplateError { TemplateError(kind, message) }
}

/// Python's dict: insertion-ordered, keyed by hashable values with `1 == 1.0 == True` as one key.
struct PyDict {
    private(set) var keys: [Value] = []
    private(set) var values: [Value] = []
    private var positions: [HashKey: Int] = [:]

    var count: Int { keys.count }

    var items: [(key: Value, value: Value)] { Array(zip(keys, values)).map { ($0.0, $0.1) } }

    func value(for key: Value) -> Value? {
        guard let hash = HashKey(key), let position = positions[hash] else { return nil }
        return values[position]
    }

    mutating func set(_ value: Value, for key: Value) throws {
        guard let hash = HashKey(key) else { throw TemplateError.type("unhashable type: '\(key.typeName)'") }
        if let position = positions[hash] {
            values[position] = value
        } else {
            positions[hash] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    subscript(string key: String) -> Value? {
        get { positions[.string(ExactString(key))].map { values[$0] } }
        set {
            guard let newValue else { return }
            try? set(newValue, for: .string(key))
        }
    }

    func contains(_ key: Value) -> Bool { value(for: key) != nil }
}

/// A String compared and hashed by code points, not by canonical equivalence.
struct ExactString: Hashable {
    let string: String
    init(_ string: String) { self.string = string }
    static func == (lhs: ExactString, rhs: ExactString) -> Bool { Python.equal(lhs.string, rhs.string) }
    func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
    }
}

enum HashKey: Hashable {
    case undefined
    case none
    case int(Int)
    case double(UInt64)
    case string(ExactString)
    case tuple([HashKey])

    init?(_ value: Value, depth: Int = 0) {
        guard depth <= Value.maximumNesting else { return nil }
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
            var keys: [HashKey] = []
            for item in items {
                guard let key = HashKey(item, depth: depth + 1) else { return nil }
                keys.append(key)
            }
            self = .tuple(keys)
        default: return nil
        }
    }
}

/// `namespace(...)`: the one object a template may change, from inside loops too.
final class Namespace {
    var attributes: PyDict
    init(_ attributes: PyDict) { self.attributes = attributes }
}

/// A template macro with the scope it was defined in (it sees that scope's later changes).
struct Macro {
    let definition: MacroDefinition
    let scope: Scope
}

enum GlobalFunction: String {
    case raiseException = "raise_exception"
    case strftimeNow = "strftime_now"
    case namespace, range, dict
}

/// The items of a `for` loop, filtered lazily by its inline `if`: jinja2 tests an item only when the
/// loop reaches it, or when `loop.last`, `loop.length` or `loop.nextitem` needs to look ahead.
final class LoopIterator {
    private let items: [Value]
    private var position = 0
    private var lookahead: [Value] = []
    private let accepts: ((Value) throws -> Bool)?

    init(_ items: [Value], accepts: ((Value) throws -> Bool)?) {
        self.items = items
        self.accepts = accepts
    }

    private func fetch() throws -> Value? {
        while position < items.count {
            let item = items[position]
            position += 1
            if try accepts?(item) ?? true { return item }
        }
        return nil
    }

    func next() throws -> Value? {
        if !lookahead.isEmpty { return lookahead.removeFirst() }
        return try fetch()
    }

    func peek() throws -> Value? {
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
final class LoopContext {
    let iterator: LoopIterator
    var index0 = -1
    var previous: Value?
    var lastChanged: [Value]?

    init(_ iterator: LoopIterator) { self.iterator = iterator }

    func attribute(_ name: String) throws -> Value? {
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
        case "previtem": return previous ?? .undefined(Undefined(origin: .hint("there is no previous item")))
        case "nextitem": return try iterator.peek() ?? .undefined(Undefined(origin: .hint("there is no next item")))
        case "cycle", "changed": return .method(.loop(self), name)
        default: return nil
        }
    }
}
