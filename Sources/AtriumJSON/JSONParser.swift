import Foundation

/// A strict RFC 8259 parser straight from bytes to a `JSONDocument`, several times faster than going
/// through `JSONDecoder` and `Codable` (which cost a fifth of the gateway's CPU before). It refuses
/// invalid UTF-8, control characters in strings, lone surrogates, trailing data and nesting deeper than
/// `maxDepth`, so hostile input cannot exhaust the stack.
///
/// Generic over the document it builds and `@inlinable`, so each caller gets a parser specialised for
/// its own representation: no protocol dispatch on the gateway's hot path.
public struct JSONParser<Document: JSONDocument> {
    public static var maxDepth: Int { 256 }

    @usableFromInline let start: UnsafePointer<UInt8>
    @usableFromInline let end: UnsafePointer<UInt8>
    @usableFromInline var cursor: UnsafePointer<UInt8>
    /// A member of the top-level object whose value's byte range is wanted (see `parse(_:locating:)`).
    @usableFromInline var wantedKey: String?
    @usableFromInline var wantedRange: Range<Int>?

    @inlinable init(_ buffer: UnsafeBufferPointer<UInt8>) {
        start = buffer.baseAddress!
        end = start + buffer.count
        cursor = start
    }

    @inlinable public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> Document {
        try parse(bytes, locating: nil).value
    }

    /// Parses a whole text held in any byte collection.
    @inlinable public static func parse(_ bytes: some Collection<UInt8>) throws(JSONSyntaxError) -> Document {
        if let result = bytes.withContiguousStorageIfAvailable({ buffer in
            Result { () throws(JSONSyntaxError) in try parse(UnsafeRawBufferPointer(buffer)) }
        }) {
            return try result.get()
        }
        let result = Array(bytes).withUnsafeBytes { buffer in Result { () throws(JSONSyntaxError) in try parse(buffer) } }
        return try result.get()
    }

    /// Parses, and also reports where the value of the top-level member `key` lies in the bytes, so it
    /// can be replaced without writing the whole document again.
    @inlinable public static func parse(
        _ bytes: UnsafeRawBufferPointer, locating key: String?
    ) throws(JSONSyntaxError) -> (value: Document, range: Range<Int>?) {
        let buffer = bytes.bindMemory(to: UInt8.self)
        guard buffer.count > 0 else { throw JSONSyntaxError(offset: 0, reason: .empty) }
        var parser = JSONParser(buffer)
        parser.wantedKey = key
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.cursor == parser.end else { throw parser.failure(.trailingData) }
        return (value, parser.wantedRange)
    }

    /// Checks that `bytes` is one JSON object and returns the members named in `keep` with their byte
    /// ranges (in `keep`'s order, nil where absent), skipping over every other value without building it.
    /// For the upstream's answers, whose bulk (choices, embeddings) the gateway forwards as it came.
    @inlinable public static func scanObject(
        _ bytes: UnsafeRawBufferPointer, keep: [StaticString]
    ) throws(JSONSyntaxError) -> [(value: Document, range: Range<Int>)?] {
        try scanObject(bytes, keep: keep, locating: []).kept
    }

    /// `scanObject(_:keep:)`, also reporting where the members named in `locating` lie, without building
    /// them (checked all the same).
    @inlinable public static func scanObject(
        _ bytes: UnsafeRawBufferPointer, keep: [StaticString], locating: [StaticString]
    ) throws(JSONSyntaxError) -> (kept: [(value: Document, range: Range<Int>)?], located: [Range<Int>?]) {
        let buffer = bytes.bindMemory(to: UInt8.self)
        guard buffer.count > 0 else { throw JSONSyntaxError(offset: 0, reason: .empty) }
        var parser = JSONParser(buffer)
        var kept = [(value: Document, range: Range<Int>)?](repeating: nil, count: keep.count)
        var located = [Range<Int>?](repeating: nil, count: locating.count)
        parser.skipWhitespace()
        try parser.members(depth: 1, keep: keep, into: &kept, locating: locating, into: &located)
        parser.skipWhitespace()
        guard parser.cursor == parser.end else { throw parser.failure(.trailingData) }
        return (kept, located)
    }

    /// The members `keep` of the first element of the array that lies at `range` in `bytes` (nil when the
    /// array is empty or its first element is not an object). Ranges are in `bytes`, like `scanObject`'s;
    /// the elements after the first are not looked at.
    @inlinable public static func scanFirstElement(
        _ bytes: UnsafeRawBufferPointer, at range: Range<Int>, keep: [StaticString]
    ) throws(JSONSyntaxError) -> [(value: Document, range: Range<Int>)?]? {
        let buffer = bytes.bindMemory(to: UInt8.self)
        guard range.lowerBound >= 0, range.upperBound <= buffer.count, !range.isEmpty else {
            throw JSONSyntaxError(offset: 0, reason: .empty)
        }
        var parser = JSONParser(UnsafeBufferPointer(rebasing: buffer[range]))
        try parser.expect(UInt8(ascii: "["))
        parser.skipWhitespace()
        guard parser.cursor < parser.end, parser.cursor.pointee == UInt8(ascii: "{") else { return nil }
        var kept = [(value: Document, range: Range<Int>)?](repeating: nil, count: keep.count)
        var located: [Range<Int>?] = []
        try parser.members(depth: 2, keep: keep, into: &kept, locating: [], into: &located)
        return kept.map { $0.map { ($0.value, ($0.range.lowerBound + range.lowerBound)..<($0.range.upperBound + range.lowerBound)) } }
    }

    /// Steps over the object at the cursor, building only the members named in `keep` and noting where
    /// those named in `locating` lie.
    @inlinable mutating func members(
        depth: Int, keep: [StaticString], into kept: inout [(value: Document, range: Range<Int>)?],
        locating: [StaticString], into located: inout [Range<Int>?]
    ) throws(JSONSyntaxError) {
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "}") {
            cursor += 1
            return
        }
        while true {
            skipWhitespace()
            guard cursor < end, cursor.pointee == UInt8(ascii: "\"") else { throw failure(.unexpectedCharacter) }
            let key = try skipString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let valueStart = cursor - start
            if let wanted = Self.index(of: key, in: keep) {
                let value = try value(depth: depth)
                kept[wanted] = (value, valueStart..<(cursor - start))
            } else {
                try skipValue(depth: depth)
                if let wanted = Self.index(of: key, in: locating) { located[wanted] = valueStart..<(cursor - start) }
            }
            if try nextMember(closing: UInt8(ascii: "}")) { return }
        }
    }

    @inlinable static func index(of key: UnsafeBufferPointer<UInt8>, in names: [StaticString]) -> Int? {
        names.firstIndex { $0.utf8CodeUnitCount == key.count && memcmp($0.utf8Start, key.baseAddress!, key.count) == 0 }
    }

    @inlinable func failure(_ reason: JSONSyntaxError.Reason) -> JSONSyntaxError {
        JSONSyntaxError(offset: cursor - start, reason: cursor < end ? reason : .unexpectedEnd)
    }

    @inlinable mutating func expect(_ byte: UInt8) throws(JSONSyntaxError) {
        guard cursor < end, cursor.pointee == byte else { throw failure(.unexpectedCharacter) }
        cursor += 1
    }

    /// After a member or an element: true at the closing bracket, false at a comma.
    @inlinable mutating func nextMember(closing: UInt8) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        guard cursor < end else { throw failure(.unexpectedEnd) }
        if cursor.pointee == UInt8(ascii: ",") {
            cursor += 1
            return false
        }
        try expect(closing)
        return true
    }

    /// Steps over one value, checking its structure but building nothing.
    @inlinable mutating func skipValue(depth: Int) throws(JSONSyntaxError) {
        skipWhitespace()
        guard cursor < end else { throw failure(.unexpectedEnd) }
        switch cursor.pointee {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw failure(.tooDeep) }
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
                    guard cursor < end, cursor.pointee == UInt8(ascii: "\"") else { throw failure(.unexpectedCharacter) }
                    _ = try skipString()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                }
                try skipValue(depth: depth + 1)
                if try nextMember(closing: close) { return }
            }
        case UInt8(ascii: "\""):
            _ = try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    /// Steps over a string (its escapes' syntax checked, no copy) and returns its raw bytes between the
    /// quotes. What is skipped is forwarded as it came, so its UTF-8 and surrogates are not judged.
    @inlinable mutating func skipString() throws(JSONSyntaxError) -> UnsafeBufferPointer<UInt8> {
        cursor += 1
        let begin = cursor
        while cursor < end {
            let byte = cursor.pointee
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(start: begin, count: cursor - begin)
                cursor += 1
                return raw
            }
            if byte < 0x20 { throw failure(.invalidString) }
            if byte == UInt8(ascii: "\\") {
                guard end - cursor >= 2 else { throw failure(.unexpectedEnd) }
                switch cursor[1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    cursor += 2
                case UInt8(ascii: "u"):
                    cursor += 2
                    _ = try hex4()
                default:
                    throw failure(.invalidString)
                }
                continue
            }
            cursor += 1
        }
        throw failure(.unexpectedEnd)
    }

    @inlinable mutating func skipWhitespace() {
        while cursor < end {
            switch cursor.pointee {
            case 0x20, 0x0A, 0x0D, 0x09: cursor += 1
            default: return
            }
        }
    }

    @inlinable mutating func value(depth: Int) throws(JSONSyntaxError) -> Document {
        skipWhitespace()
        guard cursor < end else { throw failure(.unexpectedEnd) }
        switch cursor.pointee {
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw failure(.tooDeep) }
            return try object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw failure(.tooDeep) }
            return try array(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .jsonString(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .jsonBool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .jsonBool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .jsonNull
        default:
            return try number()
        }
    }

    @inlinable mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard end - cursor >= count, memcmp(cursor, word.utf8Start, count) == 0 else { throw failure(.unexpectedCharacter) }
        cursor += count
    }

    @inlinable mutating func object(depth: Int) throws(JSONSyntaxError) -> Document {
        cursor += 1
        var members = Document.Members()
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "}") {
            cursor += 1
            return .jsonObject(members)
        }
        while true {
            skipWhitespace()
            guard cursor < end, cursor.pointee == UInt8(ascii: "\"") else { throw failure(.unexpectedCharacter) }
            let key = try string()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let valueStart = cursor - start
            members.append(key: key, value: try value(depth: depth))
            if depth == 1, key == wantedKey { wantedRange = valueStart..<(cursor - start) }
            if try nextMember(closing: UInt8(ascii: "}")) { return .jsonObject(members) }
        }
    }

    @inlinable mutating func array(depth: Int) throws(JSONSyntaxError) -> Document {
        cursor += 1
        var elements: [Document] = []
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "]") {
            cursor += 1
            return .jsonArray(elements)
        }
        while true {
            elements.append(try value(depth: depth))
            if try nextMember(closing: UInt8(ascii: "]")) { return .jsonArray(elements) }
        }
    }

    @inlinable mutating func string() throws(JSONSyntaxError) -> String {
        cursor += 1
        let begin = cursor
        var plainASCII = true
        // Fast path: no escapes.
        while cursor < end {
            let byte = cursor.pointee
            if byte == UInt8(ascii: "\"") {
                let bytes = UnsafeBufferPointer(start: begin, count: cursor - begin)
                if plainASCII {
                    cursor += 1
                    return String(decoding: bytes, as: UTF8.self)
                }
                guard let text = String(validating: bytes, as: UTF8.self) else { throw failure(.invalidString) }
                cursor += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw failure(.invalidString) }
            if byte >= 0x80 { plainASCII = false }
            cursor += 1
        }
        // Slow path: escapes. Collect bytes, then validate the whole as UTF-8.
        var bytes = [UInt8](UnsafeBufferPointer(start: begin, count: cursor - begin))
        while cursor < end {
            let byte = cursor.pointee
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: bytes, as: UTF8.self) else { throw failure(.invalidString) }
                cursor += 1
                return text
            case UInt8(ascii: "\\"):
                guard end - cursor >= 2 else { throw failure(.unexpectedEnd) }
                let escape = cursor[1]
                cursor += 2
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escape)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"): bytes.append(contentsOf: UTF8.encode(try unicodeEscape())!)
                default:
                    cursor -= 1
                    throw failure(.invalidString)
                }
            default:
                if byte < 0x20 { throw failure(.invalidString) }
                bytes.append(byte)
                cursor += 1
            }
        }
        throw failure(.unexpectedEnd)
    }

    /// The scalar of a `\u` escape whose four digits start at the cursor, with its low surrogate if it
    /// is a high one. A lone surrogate is refused: it has no UTF-8 form.
    @inlinable mutating func unicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard end - cursor >= 6, cursor[0] == UInt8(ascii: "\\"), cursor[1] == UInt8(ascii: "u") else { throw failure(.invalidString) }
            cursor += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure(.invalidString) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw failure(.invalidString) }
        return unicode
    }

    @inlinable mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - cursor >= 4 else { throw failure(.unexpectedEnd) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = cursor.pointee
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure(.invalidString)
            }
            value = value << 4 | digit
            cursor += 1
        }
        return value
    }

    @inlinable mutating func number() throws(JSONSyntaxError) -> Document {
        let begin = cursor
        var negative = false
        if cursor.pointee == UInt8(ascii: "-") {
            negative = true
            cursor += 1
        }
        guard cursor < end, isDigit(cursor.pointee) else { throw failure(negative ? .invalidNumber : .unexpectedCharacter) }
        if cursor.pointee == UInt8(ascii: "0") {
            cursor += 1
            if cursor < end && isDigit(cursor.pointee) { throw failure(.invalidNumber) }
        } else {
            while cursor < end && isDigit(cursor.pointee) { cursor += 1 }
        }
        var integral = true
        if cursor < end && cursor.pointee == UInt8(ascii: ".") {
            integral = false
            cursor += 1
            guard cursor < end, isDigit(cursor.pointee) else { throw failure(.invalidNumber) }
            while cursor < end && isDigit(cursor.pointee) { cursor += 1 }
        }
        if cursor < end && (cursor.pointee == UInt8(ascii: "e") || cursor.pointee == UInt8(ascii: "E")) {
            integral = false
            cursor += 1
            if cursor < end && (cursor.pointee == UInt8(ascii: "+") || cursor.pointee == UInt8(ascii: "-")) { cursor += 1 }
            guard cursor < end, isDigit(cursor.pointee) else { throw failure(.invalidNumber) }
            while cursor < end && isDigit(cursor.pointee) { cursor += 1 }
        }
        let text = UnsafeBufferPointer(start: begin, count: cursor - begin)
        let digits = negative ? text.count - 1 : text.count
        if integral && digits <= 18 {
            // At most 18 digits cannot overflow: the quick way.
            var value: Int64 = 0
            for byte in text where byte != UInt8(ascii: "-") { value = value * 10 + Int64(byte - UInt8(ascii: "0")) }
            return .jsonInteger(negative ? -value : value)
        }
        let string = String(decoding: text, as: UTF8.self)
        // Every Int64 exactly, -2^63 included; an integer beyond them is a double (and so "not an integer").
        if integral, let value = Int64(string) { return .jsonInteger(value) }
        guard let double = Double(string), double.isFinite else { throw failure(.invalidNumber) }
        return .jsonNumber(double)
    }

    @inlinable func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
