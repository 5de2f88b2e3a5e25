import HTTPTypes
import NIOCore

/// The fast lane's answers as bytes, head and body in one buffer, written straight to the socket.
/// Building `HTTPHeaders` and running them through NIO's encoder (which checks and frames each field)
/// was about 4 % of a proxied request's CPU; the lane's fields are its own (numbers and checked request
/// ids), so it writes them as they are.
enum LaneResponse {
    /// One HTTP/1.1 response, head and body. `fields` must hold no line breaks: they are the gateway's
    /// own, never a client's text.
    static func bytes(
        _ status: HTTPResponse.Status, fields: [(String, String)], body: ByteBuffer, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        // The common status line is a constant; others are rare (refusals and errors).
        let statusLine = status == .ok ? nil : "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        let headBytes = (statusLine?.utf8.count ?? 17) + fields.reduce(2) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: headBytes + body.readableBytes)
        buffer.writeHead(capacity: headBytes) { head in
            if let statusLine { head.write(statusLine) } else { head.write("HTTP/1.1 200 OK\r\n") }
            for (name, value) in fields {
                assert(!name.utf8.contains { $0 == 13 || $0 == 10 } && !value.utf8.contains { $0 == 13 || $0 == 10 })
                head.write(name)
                head.write(": ")
                head.write(value)
                head.write("\r\n")
            }
            head.write("\r\n")
        }
        var body = body
        buffer.writeBuffer(&body)
        return buffer
    }
}
