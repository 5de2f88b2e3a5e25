/// A strict RFC 8259 parser straight from bytes to `JSONValue`, several times faster than going through
/// `JSONDecoder` and `Codable` (which cost a fifth of the gateway's CPU before). It refuses invalid
/// UTF-8, control characters in strings, trailing garbage and nesting deeper than `maxDepth`, so hostile
/// input cannot exhaust the stack.
struct JSONParser {
    static let maxDepth = 256

    private let start: UnsafePointer<UInt8>
    private let end: UnsafePointer<UInt8>
    private var cursor: UnsafePointer<UInt8>
    /// A member of the top-level object whose value's byte range is wanted (see `parse(_:locating:)`).
    private var wantedKey: String?
    private var wantedRange: Range<Int>?

    private init(_ buffer: UnsafeBufferPointer<UInt8>) {
        start = buffer.baseAddress!
        end = start + buffer.count
        cursor = start
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONBodyError) -> JSONValue {
        try parse(bytes, locating: nil).value
    }

    /// Parses, and also reports where the value of the top-level member `key` lies in the bytes, so it
    /// can be replaced without writing the whole document again.
    static func parse(_ bytes: UnsafeRawBufferPointer, locating key: String?) throws(JSONBodyError) -> (value: JSONValue, range: Range<Int>?) {
        let buffer = bytes.bindMemory(to: UInt8.self)
        guard buffer.count > 0 else { throw .unparsable }
        var parser = JSONParser(buffer)
        parser.wantedKey = key
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.cursor == parser.end else { throw .unparsable }
        return (value, parser.wantedRange)
    }

    /// Checks that `bytes` is one JSON object and returns the members named in `keep` with their byte
    /// ranges, skipping over every other value without building it. For the upstream's answers, whose
    /// bulk (choices, embeddings) the gateway forwards as it came.
    static func scanObject(
        _ bytes: UnsafeRawBufferPointer, keep: [StaticString]
    ) throws(JSONBodyError) -> [String: (value: JSONValue, range: Range<Int>)] {
        let buffer = bytes.bindMemory(to: UInt8.self)
        guard buffer.count > 0 else { throw .unparsable }
        var parser = JSONParser(buffer)
        var kept: [String: (value: JSONValue, range: Range<Int>)] = [:]
        parser.skipWhitespace()
        guard parser.cursor < parser.end, parser.cursor.pointee == UInt8(ascii: "{") else { throw .unparsable }
        parser.cursor += 1
        parser.skipWhitespace()
        if parser.cursor < parser.end && parser.cursor.pointee == UInt8(ascii: "}") {
            parser.cursor += 1
        } else {
            while true {
                parser.skipWhitespace()
                guard parser.cursor < parser.end, parser.cursor.pointee == UInt8(ascii: "\"") else { throw .unparsable }
                let key = try parser.skipString()
                parser.skipWhitespace()
                guard parser.cursor < parser.end, parser.cursor.pointee == UInt8(ascii: ":") else { throw .unparsable }
                parser.cursor += 1
                parser.skipWhitespace()
                let valueStart = parser.cursor - parser.start
                if let wanted = keep.first(where: { $0.utf8CodeUnitCount == key.count && memcmp($0.utf8Start, key.baseAddress!, key.count) == 0 }) {
                    let value = try parser.value(depth: 1)
                    kept[wanted.description] = (value, valueStart..<(parser.cursor - parser.start))
                } else {
                    try parser.skipValue(depth: 1)
                }
                parser.skipWhitespace()
                guard parser.cursor < parser.end else { throw .unparsable }
                if parser.cursor.pointee == UInt8(ascii: ",") {
                    parser.cursor += 1
                } else if parser.cursor.pointee == UInt8(ascii: "}") {
                    parser.cursor += 1
                    break
                } else {
                    throw .unparsable
                }
            }
        }
        parser.skipWhitespace()
        guard parser.cursor == parser.end else { throw .unparsable }
        return kept
    }

    /// Steps over one value, checking its structure but building nothing.
    private mutating func skipValue(depth: Int) throws(JSONBodyError) {
        skipWhitespace()
        guard cursor < end, depth < Self.maxDepth else { throw .unparsable }
        switch cursor.pointee {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = cursor.pointee == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            cursor += 1
            skipWhitespace()
            if cursor < end && cursor.pointee == close {
                cursor += 1
                return
            }
            while true {
                if isObject {
                    skipWhitespace()
                    guard cursor < end, cursor.pointee == UInt8(ascii: "\"") else { throw .unparsable }
                    _ = try skipString()
                    skipWhitespace()
                    guard cursor < end, cursor.pointee == UInt8(ascii: ":") else { throw .unparsable }
                    cursor += 1
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard cursor < end else { throw .unparsable }
                if cursor.pointee == UInt8(ascii: ",") {
                    cursor += 1
                } else if cursor.pointee == close {
                    cursor += 1
                    return
                } else {
                    throw .unparsable
                }
            }
        case UInt8(ascii: "\""):
            _ = try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    /// Steps over a string (escapes checked, no copy) and returns its raw bytes between the quotes.
    private mutating func skipString() throws(JSONBodyError) -> UnsafeBufferPointer<UInt8> {
        cursor += 1
        let begin = cursor
        while cursor < end {
            let byte = cursor.pointee
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(start: begin, count: cursor - begin)
                cursor += 1
                return raw
            }
            if byte < 0x20 { throw .unparsable }
            if byte == UInt8(ascii: "\\") {
                guard end - cursor >= 2 else { throw .unparsable }
                switch cursor[1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    cursor += 2
                case UInt8(ascii: "u"):
                    cursor += 2
                    _ = try hex4()
                default:
                    throw .unparsable
                }
                continue
            }
            cursor += 1
        }
        throw .unparsable
    }

    private mutating func skipWhitespace() {
        while cursor < end {
            switch cursor.pointee {
            case 0x20, 0x0A, 0x0D, 0x09: cursor += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(JSONBodyError) -> JSONValue {
        skipWhitespace()
        guard cursor < end else { throw .unparsable }
        switch cursor.pointee {
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw .unparsable }
            return try object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw .unparsable }
            return try array(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            return try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONBodyError) {
        let count = word.utf8CodeUnitCount
        guard end - cursor >= count, memcmp(cursor, word.utf8Start, count) == 0 else { throw .unparsable }
        cursor += count
    }

    private mutating func object(depth: Int) throws(JSONBodyError) -> JSONValue {
        cursor += 1
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(8)
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "}") {
            cursor += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard cursor < end, cursor.pointee == UInt8(ascii: "\"") else { throw .unparsable }
            let key = try string()
            skipWhitespace()
            guard cursor < end, cursor.pointee == UInt8(ascii: ":") else { throw .unparsable }
            cursor += 1
            skipWhitespace()
            let valueStart = cursor - start
            members[key] = try value(depth: depth)
            if depth == 1, key == wantedKey { wantedRange = valueStart..<(cursor - start) }
            skipWhitespace()
            guard cursor < end else { throw .unparsable }
            switch cursor.pointee {
            case UInt8(ascii: ","): cursor += 1
            case UInt8(ascii: "}"):
                cursor += 1
                return .object(members)
            default: throw .unparsable
            }
        }
    }

    private mutating func array(depth: Int) throws(JSONBodyError) -> JSONValue {
        cursor += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "]") {
            cursor += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard cursor < end else { throw .unparsable }
            switch cursor.pointee {
            case UInt8(ascii: ","): cursor += 1
            case UInt8(ascii: "]"):
                cursor += 1
                return .array(elements)
            default: throw .unparsable
            }
        }
    }

    private mutating func string() throws(JSONBodyError) -> String {
        cursor += 1
        let begin = cursor
        var plainASCII = true
        // Fast path: no escapes.
        while cursor < end {
            let byte = cursor.pointee
            if byte == UInt8(ascii: "\"") {
                let bytes = UnsafeBufferPointer(start: begin, count: cursor - begin)
                cursor += 1
                if plainASCII { return String(decoding: bytes, as: UTF8.self) }
                guard let text = String(validating: bytes, as: UTF8.self) else { throw .unparsable }
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw .unparsable }
            if byte >= 0x80 { plainASCII = false }
            cursor += 1
        }
        // Slow path: escapes. Collect bytes, then validate the whole as UTF-8.
        var bytes = [UInt8](UnsafeBufferPointer(start: begin, count: cursor - begin))
        while cursor < end {
            let byte = cursor.pointee
            cursor += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: bytes, as: UTF8.self) else { throw .unparsable }
                return text
            case UInt8(ascii: "\\"):
                guard cursor < end else { throw .unparsable }
                let escape = cursor.pointee
                cursor += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escape)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard end - cursor >= 6, cursor[0] == UInt8(ascii: "\\"), cursor[1] == UInt8(ascii: "u") else { throw .unparsable }
                        cursor += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw .unparsable }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw .unparsable
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .unparsable }
                    bytes.append(contentsOf: UTF8.encode(unicode)!)
                default: throw .unparsable
                }
            default:
                if byte < 0x20 { throw .unparsable }
                bytes.append(byte)
            }
        }
        throw .unparsable
    }

    private mutating func hex4() throws(JSONBodyError) -> UInt32 {
        guard end - cursor >= 4 else { throw .unparsable }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = cursor.pointee
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw .unparsable
            }
            value = value << 4 | digit
            cursor += 1
        }
        return value
    }

    private mutating func number() throws(JSONBodyError) -> JSONValue {
        let begin = cursor
        var negative = false
        if cursor.pointee == UInt8(ascii: "-") {
            negative = true
            cursor += 1
        }
        guard cursor < end, isDigit(cursor.pointee) else { throw .unparsable }
        if cursor.pointee == UInt8(ascii: "0") {
            cursor += 1
            if cursor < end && isDigit(cursor.pointee) { throw .unparsable }
        } else {
            while cursor < end && isDigit(cursor.pointee) { cursor += 1 }
        }
        var integral = true
        if cursor < end && cursor.pointee == UInt8(ascii: ".") {
            integral = false
            cursor += 1
            guard cursor < end, isDigit(cursor.pointee) else { throw .unparsable }
            while cursor < end && isDigit(cursor.pointee) { cursor += 1 }
        }
        if cursor < end && (cursor.pointee == UInt8(ascii: "e") || cursor.pointee == UInt8(ascii: "E")) {
            integral = false
            cursor += 1
            if cursor < end && (cursor.pointee == UInt8(ascii: "+") || cursor.pointee == UInt8(ascii: "-")) { cursor += 1 }
            guard cursor < end, isDigit(cursor.pointee) else { throw .unparsable }
            while cursor < end && isDigit(cursor.pointee) { cursor += 1 }
        }
        let text = UnsafeBufferPointer(start: begin, count: cursor - begin)
        let digits = negative ? text.count - 1 : text.count
        if integral && digits <= 18 {
            // At most 18 digits cannot overflow: the quick way.
            var value: Int64 = 0
            for byte in text where byte != UInt8(ascii: "-") { value = value * 10 + Int64(byte - UInt8(ascii: "0")) }
            return .int(negative ? -value : value)
        }
        let string = String(decoding: text, as: UTF8.self)
        // Every Int64 exactly, -2^63 included; an integer beyond them is a double (and so "not an integer").
        if integral, let value = Int64(string) { return .int(value) }
        guard let double = Double(string), double.isFinite else { throw .unparsable }
        return .double(double)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

import Foundation
