import NIOCore
import Testing

@testable import AtriumServer

/// The fast lane's own reading of request heads: what it takes from a head, and every head it leaves to
/// NIO's decoder for the rest of the connection.
@Suite struct LaneRequestHeadTests {
    static let plain = """
        POST /v1/chat/completions HTTP/1.1\r
        Host: atrium\r
        authorization:  Bearer sk-1 \r
        CONTENT-LENGTH: 12\r
        X-Request-Id: req-1\r
        x-forwarded-for: 10.0.0.1\r
        X-Forwarded-For: 10.0.0.2, 10.0.0.3\r
        Content-Type: application/json\r
        \r
        {"model":1}x
        """

    func scan(_ text: String) -> LaneRequestHead.Scan {
        LaneRequestHead.scan(ByteBuffer(string: text))
    }

    func head(_ text: String) throws -> LaneRequestHead {
        guard case .head(let head) = scan(text) else {
            Issue.record("not read as a head: \(text.debugDescription)")
            throw Unreadable()
        }
        return head
    }

    struct Unreadable: Error {}

    @Test func readsTheFieldsTheLaneUses() throws {
        let head = try head(Self.plain)
        #expect(head.length == Self.plain.utf8.count - 12)
        #expect(head.bodyLength == 12)
        #expect(head.operation == .chatCompletions)
        #expect(head.keepAlive && !head.routerOnly)
        #expect(head.authorization == "Bearer sk-1")
        #expect(head.requestID == "req-1")
        #expect(head.forwardedFor == ["10.0.0.1", "10.0.0.2, 10.0.0.3"])
    }

    @Test func aHeadNotYetWholeIsIncomplete() {
        let headLength = Self.plain.utf8.count - 12
        for length in [0, 1, 20, 35, 36, 100, headLength - 2, headLength - 1] {
            let prefix = String(decoding: Self.plain.utf8.prefix(length), as: UTF8.self)
            guard case .incomplete = scan(prefix) else {
                Issue.record("\(length) bytes: not incomplete")
                continue
            }
        }
    }

    @Test func onlyAPostToAModelPathIsTheLanes() throws {
        for operation in ModelOperation.allCases {
            #expect(try head("POST /v1/\(operation.rawValue) HTTP/1.1\r\n\r\n").operation == operation)
            #expect(LaneRequestHead.path(of: operation) == "/v1/\(operation.rawValue)")
        }
        for line in [
            "GET /v1/models HTTP/1.1", "GET /v1/chat/completions HTTP/1.1", "POST /v1/chat/completions?x=1 HTTP/1.1",
            "POST /v1/chat/completions/ HTTP/1.1", "POST /portal/login HTTP/1.1",
        ] {
            let head = try head(line + "\r\nContent-Length: 3\r\n\r\nabc")
            #expect(head.operation == nil, "\(line)")
            #expect(head.bodyLength == 3)
        }
    }

    @Test func whatTheRouterMustAnswerIsMarked() throws {
        let base = "POST /v1/embeddings HTTP/1.1\r\nAuthorization: Bearer a\r\n"
        #expect(try head(base + "Expect: 100-continue\r\n\r\n").routerOnly)
        #expect(try head(base + "X-Atrium-Prior-Attempt: up|connect|x\r\n\r\n").routerOnly)
        #expect(try head(base + "Authorization: Bearer b\r\n\r\n").routerOnly)
        #expect(try head(base + "Connection: keep-alive\r\n\r\n").keepAlive)
        #expect(try !head(base + "Connection: Keep-Alive, Close\r\n\r\n").keepAlive)
        #expect(try !head(base + "Proxy-Connection: close\r\n\r\n").keepAlive)
    }

    /// Each of these the lane leaves to NIO's decoder (which refuses some of them): it frames only what
    /// it reads strictly, so it can never disagree with the decoder on where a request ends.
    @Test func anythingUnusualIsLeftToTheDecoder() {
        let unusual = [
            "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Length:\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.0\r\n\r\n",
            "POST /v1/chat/completions HTTP/2\r\n\r\n",
            "POST /v1/chat/completions\r\n\r\n",
            "POST  /v1/chat/completions HTTP/1.1\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1 \r\n\r\n",
            "\r\nPOST /v1/chat/completions HTTP/1.1\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\nHost: a\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nHost : a\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\n: a\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\u{0}b\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
            "POST /v1/chat\u{7f}completions HTTP/1.1\r\n\r\n",
            "PO(ST /v1/chat/completions HTTP/1.1\r\n\r\n",
            "CONNECT atrium:443 HTTP/1.1\r\n\r\n",
            "FOO /v1/chat/completions HTTP/1.1\r\n\r\n",
            "post /v1/chat/completions HTTP/1.1\r\n\r\n",
        ]
        for text in unusual {
            guard case .unusual = scan(text) else {
                Issue.record("read as usual: \(text.debugDescription)")
                continue
            }
        }
        let many = "POST /v1/chat/completions HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 101) + "\r\n"
        guard case .unusual = scan(many) else {
            Issue.record("101 fields read as usual")
            return
        }
    }

    /// A value may hold UTF-8 and tabs; the bytes after the head are not the head's business.
    @Test func valuesKeepWhatTheyMay() throws {
        let head = try head("POST /v1/embeddings HTTP/1.1\r\nX-Request-Id:\tcafé\t\r\nContent-Length: 0\r\n\r\nGARBAGE \u{0}\n")
        #expect(head.requestID == "café")
        #expect(head.bodyLength == 0)
    }
}
