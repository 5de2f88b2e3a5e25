import AtriumJSON
import Foundation
import NIOCore

/// Any JSON document, as the gateway sees request and response bodies it passes through: it checks the
/// fields it knows and forwards the rest untouched.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            if let count = array.count { values.reserveCapacity(count) }
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(object.allKeys.count)
            for key in object.allKeys { values[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let bool = try? single.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? single.decode(Int64.self) {
            self = .int(int)
        } else if let double = try? single.decode(Double.self) {
            self = .double(double)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .int(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .double(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .array(let values):
            var container = encoder.unkeyedContainer()
            for value in values { try container.encode(value) }
        case .object(let values):
            var container = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in values { try container.encode(value, forKey: AnyKey(key)) }
        }
    }

    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let values) = self else { return nil }
            return values[key]
        }
        set {
            guard case .object(var values) = self else { return }
            values[key] = newValue
            self = .object(values)
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The word OpenAI's error messages use for this value's type.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a decimal"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension JSONValue: JSONDocument {
    public struct Members: JSONMembers {
        var dictionary: [String: JSONValue]
        public init() { dictionary = Dictionary(minimumCapacity: 8) }
        public mutating func append(key: String, value: JSONValue) { dictionary[key] = value }
    }

    public static var jsonNull: JSONValue { .null }
    public static func jsonBool(_ value: Bool) -> JSONValue { .bool(value) }
    public static func jsonInteger(_ value: Int64) -> JSONValue { .int(value) }
    public static func jsonNumber(_ value: Double) -> JSONValue { .double(value) }
    public static func jsonString(_ value: String) -> JSONValue { .string(value) }
    public static func jsonArray(_ elements: [JSONValue]) -> JSONValue { .array(elements) }
    public static func jsonObject(_ members: Members) -> JSONValue { .object(members.dictionary) }
}

extension JSONValue {
    private typealias Parser = JSONParser<JSONValue>

    /// Parses a request or upstream body. Invalid JSON (or invalid UTF-8) becomes the error OpenAI gives.
    static func parse(_ bytes: some Collection<UInt8>) throws(JSONBodyError) -> JSONValue {
        do { return try Parser.parse(bytes) } catch { throw .unparsable }
    }

    static func parse(_ buffer: ByteBuffer) throws(JSONBodyError) -> JSONValue {
        try reading(buffer) { bytes throws(JSONSyntaxError) in try Parser.parse(bytes) }
    }

    /// Parses `buffer` and finds the bytes of the top-level member `key`'s value.
    static func parse(_ buffer: ByteBuffer, locating key: String) throws(JSONBodyError) -> (value: JSONValue, range: Range<Int>?) {
        try reading(buffer) { bytes throws(JSONSyntaxError) in try Parser.parse(bytes, locating: key) }
    }

    /// The top-level members `keep` of the JSON object in `buffer`, with their byte ranges, in `keep`'s
    /// order (nil where absent); the rest is checked but not built.
    static func scanObject(_ buffer: ByteBuffer, keep: [StaticString]) throws(JSONBodyError) -> [(value: JSONValue, range: Range<Int>)?] {
        try reading(buffer) { bytes throws(JSONSyntaxError) in try Parser.scanObject(bytes, keep: keep) }
    }

    /// `scanObject(_:keep:)`, also finding where the members named in `locating` lie without building them.
    static func scanObject(
        _ buffer: ByteBuffer, keep: [StaticString], locating: [StaticString]
    ) throws(JSONBodyError) -> (kept: [(value: JSONValue, range: Range<Int>)?], located: [Range<Int>?]) {
        try reading(buffer) { bytes throws(JSONSyntaxError) in try Parser.scanObject(bytes, keep: keep, locating: locating) }
    }

    /// The members `keep` of the first element of the array at `range` in `buffer` (nil when it has none,
    /// or the first is not an object).
    static func scanFirstElement(
        _ buffer: ByteBuffer, at range: Range<Int>, keep: [StaticString]
    ) throws(JSONBodyError) -> [(value: JSONValue, range: Range<Int>)?]? {
        try reading(buffer) { bytes throws(JSONSyntaxError) in try Parser.scanFirstElement(bytes, at: range, keep: keep) }
    }

    /// The value at `range` in `buffer`, built.
    static func parse(_ buffer: ByteBuffer, at range: Range<Int>) throws(JSONBodyError) -> JSONValue {
        try reading(buffer) { bytes throws(JSONSyntaxError) in try Parser.parse(UnsafeRawBufferPointer(rebasing: bytes[range])) }
    }

    /// `read` over `buffer`'s readable bytes, its syntax error turned into the error OpenAI gives.
    private static func reading<T>(
        _ buffer: ByteBuffer, _ read: (UnsafeRawBufferPointer) throws(JSONSyntaxError) -> T
    ) throws(JSONBodyError) -> T {
        try buffer.withUnsafeReadableBytes { bytes in Result { () throws(JSONSyntaxError) in try read(bytes) } }
            .mapError { _ in JSONBodyError.unparsable }.get()
    }

    /// `buffer` with the bytes in `range` replaced by the JSON string `replacement`.
    static func splice(_ buffer: ByteBuffer, replacing range: Range<Int>, with replacement: String) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(buffer.readableBytes + replacement.utf8.count)
        output.writeImmutableBuffer(buffer.getSlice(at: buffer.readerIndex, length: range.lowerBound)!)
        JSONSerializer.writeString(replacement, into: &output)
        output.writeImmutableBuffer(
            buffer.getSlice(at: buffer.readerIndex + range.upperBound, length: buffer.readableBytes - range.upperBound)!)
        return output
    }

    /// Compact JSON.
    func encodedBuffer() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256)
        JSONSerializer.write(self, into: &buffer)
        return buffer
    }

    func encoded() -> Data { Data(encodedBuffer().readableBytesView) }
}

enum JSONBodyError: Error {
    case unparsable
}
