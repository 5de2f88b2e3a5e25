import Foundation

/// A value handed to a chat template: the JSON-shaped data of messages, tools and flags.
///
/// `.none` is Python's `None` (JSON `null`); a variable that is simply absent from the context is
/// jinja2's `Undefined` instead, which templates tell apart with `is defined`.
public enum TemplateValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([TemplateValue])
    case object(TemplateObject)

    /// Python's `==`: `1 == 1.0 == True`, strings compare by code point, dicts ignore key order.
    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default:
            if let a = lhs.number, let b = rhs.number { return a == b }
            return false
        }
    }

    private var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(exactly: i) ?? Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// A string-keyed object that keeps insertion order, as Python's dicts do: `tojson`, `items()` and
/// `for key in object` all follow it.
public struct TemplateObject: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String] = []
    private var storage: [String: TemplateValue] = [:]

    public init() {}

    /// A repeated key keeps its first position and takes the last value, like a Python dict literal.
    public init(_ entries: [(key: String, value: TemplateValue)]) {
        for (key, value) in entries { self[key] = value }
    }

    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        for (key, value) in elements { self[key] = value }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> TemplateValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var entries: [(key: String, value: TemplateValue)] {
        keys.compactMap { key in storage[key].map { (key, $0) } }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: TemplateValue)]> {
        entries.makeIterator()
    }

    /// Order-insensitive, like Python's dict equality.
    public static func == (lhs: TemplateObject, rhs: TemplateObject) -> Bool {
        lhs.storage == rhs.storage
    }
}

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .none }
    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        self = .object(TemplateObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}
