import NIOCore

/// The head of an HTTP/1.1 request as the fast lane reads it, straight from the connection's bytes:
/// where it ends, how long its body is, and, for a request the lane may serve, the few fields it uses.
/// Going through NIO's decoder (llhttp, then `HTTPHeaders` of `String`s for every field) was about 6 % of
/// a proxied request's CPU.
///
/// It reads strictly: anything it would have to interpret — a chunked body, an upgrade, CONNECT or a
/// method NIO's decoder does not know, a version other than 1.1, a folded or malformed line, two
/// `Content-Length`s, a control character — makes the head `unusual`, and the lane then leaves the
/// connection's bytes to NIO's decoder for good. So the two never disagree on where a request ends (no
/// request can be smuggled past one of them): where the lane frames a request, its framing is the plain
/// `Content-Length` one that NIO's decoder gives too.
struct LaneRequestHead {
    enum Scan {
        /// The blank line that ends the head has not arrived yet.
        case incomplete
        case head(LaneRequestHead)
        /// Left to NIO's decoder, with the rest of the connection.
        case unusual
    }

    /// Bytes of the head, its blank line included.
    var length: Int
    /// `Content-Length`, 0 without one.
    var bodyLength: Int
    /// The model API operation of a `POST` to its path; nil for any other request.
    var operation: ModelOperation?
    var keepAlive = true
    /// The request asks for what only the router does (`Expect`), or carries a field the lane reads
    /// more than once or must not take from a client (a second `Authorization`, `x-atrium-prior-attempt`).
    var routerOnly = false
    var authorization: String?
    var forwardedFor: [String] = []
    var requestID: String?

    /// The lane's model API paths, as strings and as bytes.
    fileprivate static let paths: [(path: String, bytes: [UInt8], operation: ModelOperation)] = ModelOperation.allCases.map {
        let path = "/v1/\($0.rawValue)"
        return (path, Array(path.utf8), $0)
    }

    /// The path clients send `operation` to.
    static func path(of operation: ModelOperation) -> String {
        paths.first { $0.operation == operation }!.path
    }

    /// Reads the head at the start of `buffer`'s readable bytes.
    static func scan(_ buffer: ByteBuffer) -> Scan {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return .incomplete }
            var reader = Reader(base: base, count: bytes.count)
            return reader.head()
        }
    }

    private struct Reader {
        let base: UnsafePointer<UInt8>
        let count: Int
        var position = 0

        /// The next line's bounds, up to its LF (its CR still in: the caller refuses a line without one),
        /// or nil when it has not all arrived.
        mutating func line() -> (start: Int, end: Int)? {
            var index = position
            while index < count && base[index] != 10 { index += 1 }
            guard index < count else { return nil }
            let start = position
            position = index + 1
            return (start, index)
        }

        func bytes(_ start: Int, _ end: Int) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(start: base + start, count: end - start)
        }

        mutating func head() -> Scan {
            guard let requestLine = line() else { return .incomplete }
            guard requestLine.end > requestLine.start, base[requestLine.end - 1] == 13 else { return .unusual }
            guard let target = requestTarget(requestLine.start, requestLine.end - 1) else { return .unusual }
            var head = LaneRequestHead(length: 0, bodyLength: 0)
            var sawLength = false
            var fields = 0
            while true {
                guard let (start, lineEnd) = line() else { return .incomplete }
                guard lineEnd > start, base[lineEnd - 1] == 13 else { return .unusual }
                let end = lineEnd - 1
                if end == start { break }  // the blank line
                fields += 1
                guard fields <= 100, let field = Self.field(bytes(start, end)) else { return .unusual }
                switch field.name {
                case .contentLength:
                    guard !sawLength, let length = Self.decimal(field.value) else { return .unusual }
                    sawLength = true
                    head.bodyLength = length
                case .transferEncoding, .upgrade:
                    return .unusual
                case .connection, .proxyConnection:
                    let tokens = String(decoding: field.value, as: UTF8.self).lowercased().split(separator: ",")
                        .map { $0.filter { $0 != " " && $0 != "\t" } }
                    if tokens.contains("upgrade") { return .unusual }
                    if tokens.contains("close") { head.keepAlive = false }
                case .expect, .priorAttempt:
                    head.routerOnly = true
                case .authorization:
                    if head.authorization != nil { head.routerOnly = true }
                    head.authorization = String(decoding: field.value, as: UTF8.self)
                case .forwardedFor:
                    head.forwardedFor.append(String(decoding: field.value, as: UTF8.self))
                case .requestID:
                    if head.requestID == nil { head.requestID = String(decoding: field.value, as: UTF8.self) }
                case .other:
                    break
                }
            }
            head.length = position
            if target.isPost, let path = LaneRequestHead.paths.first(where: { $0.bytes.elementsEqual(target.bytes) }) {
                head.operation = path.operation
            }
            return .head(head)
        }

        /// `METHOD SP target SP HTTP/1.1`, strictly; whether the method is `POST`, and the target's bytes.
        func requestTarget(_ start: Int, _ end: Int) -> (isPost: Bool, bytes: UnsafeBufferPointer<UInt8>)? {
            var firstSpace = start
            while firstSpace < end && base[firstSpace] != 32 { firstSpace += 1 }
            var secondSpace = firstSpace + 1
            while secondSpace < end && base[secondSpace] != 32 { secondSpace += 1 }
            guard firstSpace > start, secondSpace < end, secondSpace > firstSpace + 1 else { return nil }
            let method = bytes(start, firstSpace)
            let target = bytes(firstSpace + 1, secondSpace)
            guard method.allSatisfy(Self.isToken), target.allSatisfy({ $0 > 32 && $0 < 127 }),
                bytes(secondSpace + 1, end).elementsEqual("HTTP/1.1".utf8)
            else { return nil }
            // CONNECT (after which NIO's decoder reads no more requests) and methods it does not know are
            // left to it with the rest of the connection.
            guard Self.methods.contains(where: { method.elementsEqual($0) }) else { return nil }
            return (method.elementsEqual("POST".utf8), target)
        }

        static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].map { Array($0.utf8) }

        enum FieldName {
            case contentLength, transferEncoding, upgrade, connection, proxyConnection, expect, authorization, forwardedFor, requestID
            case priorAttempt, other
        }

        /// `name: value` with optional whitespace around the value; nil when it is not a field line.
        static func field(_ line: UnsafeBufferPointer<UInt8>) -> (name: FieldName, value: UnsafeBufferPointer<UInt8>)? {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
            let name = UnsafeBufferPointer(rebasing: line[..<colon])
            guard name.allSatisfy(isToken) else { return nil }
            var valueStart = colon + 1
            var valueEnd = line.count
            while valueStart < valueEnd && (line[valueStart] == 32 || line[valueStart] == 9) { valueStart += 1 }
            while valueEnd > valueStart && (line[valueEnd - 1] == 32 || line[valueEnd - 1] == 9) { valueEnd -= 1 }
            let value = UnsafeBufferPointer(rebasing: line[valueStart..<valueEnd])
            // Visible ASCII, spaces, tabs and UTF-8's high bytes; no other control character.
            guard value.allSatisfy({ $0 >= 32 && $0 != 127 || $0 == 9 }) else { return nil }
            return (fieldName(name), value)
        }

        static func fieldName(_ name: UnsafeBufferPointer<UInt8>) -> FieldName {
            func named(_ known: StaticString) -> Bool {
                guard name.count == known.utf8CodeUnitCount else { return false }
                // `| 0x20` lowercases a letter and leaves `-` as it is; no other token byte becomes either.
                for index in 0..<name.count where name[index] | 0x20 != known.utf8Start[index] { return false }
                return true
            }
            switch name.count {
            case 6: return named("expect") ? .expect : .other
            case 7: return named("upgrade") ? .upgrade : .other
            case 10: return named("connection") ? .connection : .other
            case 12: return named("x-request-id") ? .requestID : .other
            case 13: return named("authorization") ? .authorization : .other
            case 14: return named("content-length") ? .contentLength : .other
            case 15: return named("x-forwarded-for") ? .forwardedFor : .other
            case 16: return named("proxy-connection") ? .proxyConnection : .other
            case 17: return named("transfer-encoding") ? .transferEncoding : .other
            case 22: return named("x-atrium-prior-attempt") ? .priorAttempt : .other
            default: return .other
            }
        }

        /// A `Content-Length`: digits only, at most 15 of them.
        static func decimal(_ value: UnsafeBufferPointer<UInt8>) -> Int? {
            guard !value.isEmpty, value.count <= 15 else { return nil }
            var result = 0
            for byte in value {
                guard byte >= 48 && byte <= 57 else { return nil }
                result = result * 10 + Int(byte - 48)
            }
            return result
        }

        /// RFC 9110's `tchar`.
        static func isToken(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
                UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
            default: false
            }
        }
    }
}
