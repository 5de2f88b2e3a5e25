import NIOCore

/// Reads an upstream's HTTP/1.1 responses from its bytes as they arrive, for the pooled client: the
/// status line and the few headers that frame a response (`content-length`, `transfer-encoding`,
/// `connection`), then the body as slices of what was read, with no copy and no header dictionary.
/// NIO's codec (llhttp, a header list of strings per response, a part per write) cost a proxied
/// request more than everything the gateway does with the answer.
///
/// A response the parser cannot frame with certainty is an error, never a guess: the connection then
/// closes and the exchange fails as a protocol violation (the router goes on with another provider).
/// Bodies come as fast as they arrive, a chunk's data included, so a stream's events are not held back.
struct UpstreamResponseParser {
    enum Event: Equatable {
        /// A final response's head (1xx interim responses are passed over); the parser's `keepAlive`
        /// then says whether the connection may carry another exchange after this response.
        case head(status: Int)
        case body(ByteBuffer)
        case end
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    static let maxHeadBytes = 64 * 1024
    static let maxChunkLineBytes = 1024

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    private var buffer = ByteBuffer()
    private var state = State.head
    /// Whether the connection may carry another exchange after the current response.
    private(set) var keepAlive = true

    /// Bytes read but not parsed yet (after an `.end`, bytes the upstream sent unasked).
    var bufferedBytes: Int { buffer.readableBytes }

    mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes  // the usual case: one read holds the whole response; no copy
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next event the bytes so far make, or nil until more arrive. A loop, not recursion, over what
    /// makes no event (interim heads, chunk sizes, trailers): an upstream sending thousands of them in
    /// one read cannot exhaust the stack.
    mutating func next() throws(Malformed) -> Event? {
        while true {
            switch state {
            case .head:
                guard let head = try readHead() else { return nil }
                if let head { return head }  // nil: an interim response, passed over
            case .fixed(remaining: 0):
                state = .head
                return .end
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let take = min(remaining, buffer.readableBytes)
                state = .fixed(remaining: remaining - take)
                return .body(buffer.readSlice(length: take)!)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunkSize:
                guard let line = try readLine(limit: Self.maxChunkLineBytes, what: "a chunk's size line") else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let take = min(remaining, buffer.readableBytes)
                let part = buffer.readSlice(length: take)!
                state = remaining == take ? .chunkDataEnd : .chunkData(remaining: remaining - take)
                return .body(part)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw Malformed(description: "a chunk's data does not end with CRLF") }
                state = .chunkSize
            case .trailers:
                guard let line = try readLine(limit: Self.maxHeadBytes, what: "the trailers") else { return nil }
                if line.readableBytes == 0 {
                    state = .head
                    return .end
                }
            }
        }
    }

    /// The upstream closed the connection: the end of a response framed by the close, else nil (the
    /// caller decides what an unfinished response means).
    mutating func closed() -> Event? {
        guard case .untilClose = state else { return nil }
        state = .head
        return .end
    }

    /// A final head's event; `.some(nil)` for an interim one, passed over; nil until the head has arrived.
    private mutating func readHead() throws(Malformed) -> Event?? {
        // The head is found and read in place, in one pass over the bytes as they lie in memory.
        let scanned = buffer.withUnsafeReadableBytes { bytes -> Result<(end: Int, framing: Framing)?, Malformed> in
            guard let end = Self.endOfHead(bytes) else { return .success(nil) }
            return Result { () throws(Malformed) in (end, try Self.parseHead(bytes[..<end])) }
        }
        guard let (end, framing) = try scanned.get() else {
            if buffer.readableBytes > Self.maxHeadBytes { throw Malformed(description: "the response head is larger than \(Self.maxHeadBytes) bytes") }
            return nil
        }
        guard end <= Self.maxHeadBytes else { throw Malformed(description: "the response head is larger than \(Self.maxHeadBytes) bytes") }
        buffer.moveReaderIndex(forwardBy: end + 4)
        keepAlive = framing.keepAlive
        if (100..<200).contains(framing.status) {
            guard framing.status != 101 else { throw Malformed(description: "the upstream switched protocols (101)") }
            return .some(nil)  // an interim response: the final one follows
        }
        // With no body, `.end` is what the next call returns.
        switch framing.length {
        case .empty:
            state = .fixed(remaining: 0)
        case .fixed(let length):
            state = .fixed(remaining: length)
        case .chunked:
            state = .chunkSize
        case .untilClose:
            keepAlive = false
            state = .untilClose
        }
        return Event.head(status: framing.status)
    }

    /// Where the head ends (the offset of its blank line's CRLF CRLF), if it has arrived.
    private static func endOfHead(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = 0
        while index <= bytes.count - 4 {
            if bytes[index + 3] != 0x0A {
                index += bytes[index + 3] == 0x0D ? 1 : 4  // no CRLF CRLF can end before the next CR
                continue
            }
            if bytes[index] == 0x0D, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x0D { return index }
            index += 1
        }
        return nil
    }

    private typealias Framing = (status: Int, keepAlive: Bool, length: Length)

    private enum Length: Equatable {
        case empty, fixed(Int), chunked, untilClose
    }

    private static func parseHead(_ bytes: Slice<UnsafeRawBufferPointer>) throws(Malformed) -> Framing {
        var lines = HeadLines(bytes)
        guard let statusLine = try lines.next() else { throw Malformed(description: "the response has no status line") }
        // "HTTP/1.1 200 OK": the version, a space, three digits, then a space and a reason, or nothing.
        guard statusLine.count >= 12, statusLine.starts(with: "HTTP/1.".utf8), statusLine[statusLine.startIndex + 8] == 0x20 else {
            throw Malformed(description: "the response is not HTTP/1.0 or HTTP/1.1")
        }
        let minor = statusLine[statusLine.startIndex + 7]
        guard minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else { throw Malformed(description: "the response is not HTTP/1.0 or HTTP/1.1") }
        let http10 = minor == UInt8(ascii: "0")
        guard let status = decimal(statusLine.dropFirst(9).prefix(3)), status >= 100,
            statusLine.count == 12 || statusLine[statusLine.startIndex + 12] == 0x20
        else { throw Malformed(description: "the status line is malformed") }
        var keepAlive = !http10
        var contentLength: Int?
        var chunked: Bool?
        while let line = try lines.next() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw Malformed(description: "a header line has no name")
            }
            let name = line[..<colon]
            guard name.allSatisfy(Self.isTokenByte) else { throw Malformed(description: "a header name holds a character a name cannot") }
            let value = trimmed(line[(colon + 1)...])
            if equalsLowercased(name, "content-length") {
                guard let length = decimal(value) else { throw Malformed(description: "content-length is not a number") }
                guard contentLength == nil || contentLength == length else { throw Malformed(description: "the response has two content-lengths") }
                contentLength = length
            } else if equalsLowercased(name, "transfer-encoding") {
                // The last coding decides: chunked frames the body; anything else ends it at the close.
                var last = value
                forEachToken(value) { last = $0 }
                chunked = equalsLowercased(last, "chunked")
            } else if equalsLowercased(name, "connection") {
                forEachToken(value) { token in
                    if equalsLowercased(token, "close") { keepAlive = false }
                    if http10, equalsLowercased(token, "keep-alive") { keepAlive = true }
                }
            }
        }
        if (100..<200).contains(status) || status == 204 || status == 304 { return (status, keepAlive, .empty) }
        if let chunked {
            // A length beside a transfer coding is a message to distrust: read it, then close.
            if contentLength != nil { keepAlive = false }
            return (status, keepAlive, chunked ? .chunked : .untilClose)
        }
        if let contentLength { return (status, keepAlive, .fixed(contentLength)) }
        return (status, false, .untilClose)
    }

    private mutating func readLine(limit: Int, what: String) throws(Malformed) -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: 0x0A) else {
            if view.count > limit { throw Malformed(description: "\(what) is longer than \(limit) bytes") }
            return nil
        }
        let length = newline - view.startIndex
        guard length >= 1, view[newline - 1] == 0x0D else { throw Malformed(description: "\(what) does not end with CRLF") }
        guard length <= limit else { throw Malformed(description: "\(what) is longer than \(limit) bytes") }
        let line = buffer.readSlice(length: length - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func chunkSize(_ line: ByteBuffer) throws(Malformed) -> Int {
        let view = line.readableBytesView
        let hex = trimmed(view[..<(view.firstIndex(of: UInt8(ascii: ";")) ?? view.endIndex)])
        guard !hex.isEmpty, hex.count <= 15 else { throw Malformed(description: "a chunk's size is not a hexadecimal number") }
        var size = 0
        for byte in hex {
            let digit: Int
            switch byte {
            case 0x30...0x39: digit = Int(byte - 0x30)
            case 0x41...0x46: digit = Int(byte - 0x41 + 10)
            case 0x61...0x66: digit = Int(byte - 0x61 + 10)
            default: throw Malformed(description: "a chunk's size is not a hexadecimal number")
            }
            size = size << 4 | digit
        }
        return size
    }

    /// RFC 9110's `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }
}

private func decimal<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int? {
    guard !bytes.isEmpty, bytes.count <= 15 else { return nil }
    var value = 0
    for byte in bytes {
        guard (0x30...0x39).contains(byte) else { return nil }
        value = value * 10 + Int(byte - 0x30)
    }
    return value
}

private func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes where Bytes.SubSequence == Bytes {
    let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
    guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
        return bytes[bytes.startIndex..<bytes.startIndex]
    }
    return bytes[first...last]
}

/// Calls `body` with each comma-separated token of a header value, trimmed, without building an array.
private func forEachToken(_ value: Slice<UnsafeRawBufferPointer>, _ body: (Slice<UnsafeRawBufferPointer>) -> Void) {
    var start = value.startIndex
    while true {
        let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
        let token = trimmed(value[start..<end])
        if !token.isEmpty { body(token) }
        guard end < value.endIndex else { return }
        start = end + 1
    }
}

private func equalsLowercased(_ bytes: Slice<UnsafeRawBufferPointer>, _ lowercase: StaticString) -> Bool {
    guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
    var index = 0
    for byte in bytes {
        let folded = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
        guard folded == lowercase.utf8Start[index] else { return false }
        index += 1
    }
    return true
}

/// The CRLF-separated lines of a response head (without its final blank line). A bare CR or LF, or a
/// folded line, is malformed: the upstream and this parser could read such a head differently.
private struct HeadLines {
    private let bytes: Slice<UnsafeRawBufferPointer>
    private var index: Int

    init(_ bytes: Slice<UnsafeRawBufferPointer>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    mutating func next() throws(UpstreamResponseParser.Malformed) -> Slice<UnsafeRawBufferPointer>? {
        guard index < bytes.endIndex else { return nil }
        var end = index
        while end < bytes.endIndex, bytes[end] != 0x0D, bytes[end] != 0x0A { end += 1 }
        let line = bytes[index..<end]
        if end < bytes.endIndex {
            guard end + 1 < bytes.endIndex, bytes[end] == 0x0D, bytes[end + 1] == 0x0A else {
                throw UpstreamResponseParser.Malformed(description: "the response head holds a bare CR or LF")
            }
            index = end + 2
        } else {
            index = end
        }
        if let first = line.first, first == 0x20 || first == 0x09 {
            throw UpstreamResponseParser.Malformed(description: "the response head holds a folded line")
        }
        return line
    }
}
