import NIOCore
import Testing

@testable import AtriumServer

@Suite struct ServerSentEventParserTests {
    @Test func eventsSplitAcrossBuffersAreReassembled() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(ByteBuffer(string: "data: {\"a\"")) == [])
        #expect(parser.feed(ByteBuffer(string: ":1}\n")) == [])
        #expect(parser.feed(ByteBuffer(string: "\ndata: [DONE]\n\n")) == ["{\"a\":1}", "[DONE]"])
        #expect(!parser.hasPartialEvent)
    }

    @Test func crlfCommentsAndMultiLineDataFollowTheSpec() {
        var parser = ServerSentEventParser()
        let events = parser.feed(ByteBuffer(string: ": keep-alive\r\n\r\nevent: x\r\ndata: one\r\ndata:two\r\n\r\n"))
        #expect(events == ["one\ntwo"])
    }
}
