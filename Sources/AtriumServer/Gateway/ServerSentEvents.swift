import NIOCore

/// Splits an SSE byte stream into the `data` payloads of its events (blank-line separated, LF or CRLF).
struct ServerSentEventParser {
    private var pending: [UInt8] = []

    /// The data of every event completed by `buffer`.
    mutating func feed(_ buffer: ByteBuffer) -> [String] {
        pending.append(contentsOf: buffer.readableBytesView)
        var events: [String] = []
        var eventStart = 0
        var lineStart = 0
        var dataLines: [Substring] = []
        var index = 0
        while index < pending.count {
            guard pending[index] == UInt8(ascii: "\n") else {
                index += 1
                continue
            }
            var lineEnd = index
            if lineEnd > lineStart && pending[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            if lineEnd == lineStart {
                if !dataLines.isEmpty { events.append(dataLines.joined(separator: "\n")) }
                dataLines.removeAll()
                eventStart = index + 1
            } else {
                let line = String(decoding: pending[lineStart..<lineEnd], as: UTF8.self)
                if line.hasPrefix("data:") {
                    var value = line.dropFirst(5)
                    if value.first == " " { value = value.dropFirst() }
                    dataLines.append(value)
                }
            }
            index += 1
            lineStart = index
        }
        pending.removeFirst(eventStart)
        return events
    }

    /// True when bytes of an unfinished event remain.
    var hasPartialEvent: Bool { pending.contains { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") } }
}

/// Writes SSE frames as OpenAI sends them: `data: <json>\n\n`, ending with `data: [DONE]\n\n`.
enum ServerSentEventWriter {
    static func frame(_ json: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.readableBytes + 8)
        buffer.writeStaticString("data: ")
        buffer.writeImmutableBuffer(json)
        buffer.writeStaticString("\n\n")
        return buffer
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
