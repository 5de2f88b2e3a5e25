/// A value a JSON text can be read into. `JSONParser` builds it through these, so each caller keeps its
/// own representation (the gateway's unordered objects, the templates' ordered ones) with one parser,
/// specialised for it.
public protocol JSONDocument {
    associatedtype Members: JSONMembers where Members.Value == Self

    static var jsonNull: Self { get }
    static func jsonBool(_ value: Bool) -> Self
    /// An integer written without a fraction or exponent that fits 64 bits.
    static func jsonInteger(_ value: Int64) -> Self
    /// Any other number (finite).
    static func jsonNumber(_ value: Double) -> Self
    static func jsonString(_ value: String) -> Self
    static func jsonArray(_ elements: [Self]) -> Self
    static func jsonObject(_ members: Members) -> Self
}

/// An object's members as they are read, in the document's order. A repeated key is the representation's
/// to settle (both of ours keep the last value).
public protocol JSONMembers {
    associatedtype Value
    init()
    mutating func append(key: String, value: Value)
}

/// Where and why a text is not JSON.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    /// The byte offset at which reading stopped.
    public let offset: Int
    public let reason: Reason

    public enum Reason: String, Sendable {
        case empty = "no JSON value"
        case unexpectedCharacter = "unexpected character"
        case unexpectedEnd = "unexpected end of input"
        case trailingData = "unexpected data after the JSON value"
        case tooDeep = "nesting too deep"
        case invalidString = "invalid string (control character, escape or UTF-8)"
        case invalidNumber = "invalid number"
    }

    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason.rawValue)" }
}
