import NIOCore
import Testing

@testable import AtriumServer

/// The pooled client's reader of upstream responses: every framing HTTP/1.1 allows an upstream, fed in
/// every way the bytes can arrive, and a clear refusal of what it cannot frame with certainty.
@Suite struct UpstreamResponseParserTests {
    /// A head's status, and whether the parser lets the connection carry another exchange after it.
    struct Head: Equatable {
        var status: Int
        var keepAlive: Bool
    }

    /// What a whole feed yields: the heads, the body's bytes joined, how many ends, and the parser after.
    struct Reading: Equatable {
        var heads: [Head] = []
        var body = ""
        var ends = 0
    }

    static func read(_ pieces: [String], closeAtEnd: Bool = false) throws -> (Reading, UpstreamResponseParser) {
        var parser = UpstreamResponseParser()
        var reading = Reading()
        for piece in pieces {
            parser.append(ByteBuffer(string: piece))
            while let event = try parser.next() {
                switch event {
                case .head(let status): reading.heads.append(Head(status: status, keepAlive: parser.keepAlive))
                case .body(let part): reading.body += String(buffer: part)
                case .end: reading.ends += 1
                }
            }
        }
        if closeAtEnd, parser.closed() == .end { reading.ends += 1 }
        return (reading, parser)
    }

    /// The same bytes whole, split at every point in two, and one byte at a time.
    static func everySplit(_ text: String) -> [[String]] {
        let bytes = Array(text.utf8)
        var feeds = [[text], bytes.map { String(decoding: [$0], as: UTF8.self) }]
        for cut in 1..<bytes.count {
            feeds.append([String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)])
        }
        return feeds
    }

    static let lengthFramed = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n{\"ok\":\"yes\"}\n"
    static let chunked = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "e\r\ndata: {\"i\":0}\n\r\n" + "E;name=value\r\ndata: {\"i\":1}\n\r\n" + "0\r\nx-trailer: done\r\n\r\n"

    @Test func aLengthFramedResponseReadsTheSameHoweverItArrives() throws {
        for feed in Self.everySplit(Self.lengthFramed) {
            let (reading, parser) = try Self.read(feed)
            #expect(reading == Reading(heads: [Head(status: 200, keepAlive: true)], body: "{\"ok\":\"yes\"}\n", ends: 1), "\(feed)")
            #expect(parser.keepAlive && parser.bufferedBytes == 0)
        }
    }

    @Test func aChunkedResponseReadsTheSameHoweverItArrives() throws {
        for feed in Self.everySplit(Self.chunked) {
            let (reading, _) = try Self.read(feed)
            #expect(reading == Reading(heads: [Head(status: 200, keepAlive: true)], body: "data: {\"i\":0}\ndata: {\"i\":1}\n", ends: 1), "\(feed)")
        }
    }

    @Test func aChunksDataComesAsItArrivesNotWhenTheChunkEnds() throws {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        let (reading, _) = try Self.read([head + "20\r\ndata: half"])
        #expect(reading.body == "data: half" && reading.ends == 0)
    }

    @Test func responsesOneAfterAnotherOnOneConnection() throws {
        let (reading, parser) = try Self.read([Self.lengthFramed + Self.chunked + "HTTP/1.1 204 No Content\r\n\r\n"])
        #expect(reading.heads == [Head(status: 200, keepAlive: true), Head(status: 200, keepAlive: true), Head(status: 204, keepAlive: true)])
        #expect(reading.ends == 3 && parser.bufferedBytes == 0)
    }

    @Test func anInterimResponseIsPassedOver() throws {
        let (reading, _) = try Self.read(["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi"])
        #expect(reading == Reading(heads: [Head(status: 201, keepAlive: true)], body: "hi", ends: 1))
    }

    /// What makes no event is read in a loop, so thousands of interim heads or trailer lines in one read
    /// cannot exhaust the stack of the event loop that reads them.
    @Test func manyHeadsOrTrailersInOneReadAreLoopedOver() throws {
        let interim = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 20_000) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        let (afterInterim, _) = try Self.read([interim])
        #expect(afterInterim == Reading(heads: [Head(status: 200, keepAlive: true)], body: "ok", ends: 1))
        let trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + String(repeating: "x-t: 1\r\n", count: 50_000) + "\r\n"
        let (afterTrailers, _) = try Self.read([trailers])
        #expect(afterTrailers == Reading(heads: [Head(status: 200, keepAlive: true)], body: "ok", ends: 1))
    }

    @Test func whetherTheConnectionStaysOpen() throws {
        let cases: [(String, Bool)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true),
            // A transfer coding beside a length: read as chunked, then the connection is not trusted again.
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false),
        ]
        for (text, keepAlive) in cases {
            let (reading, parser) = try Self.read([text])
            #expect(reading.ends == 1 && parser.keepAlive == keepAlive, "\(text)")
        }
    }

    @Test func aBodyWithoutALengthEndsWhenTheUpstreamCloses() throws {
        let (open, _) = try Self.read(["HTTP/1.1 200 OK\r\n\r\nall of ", "it"])
        #expect(open.body == "all of it" && open.ends == 0)
        let (closed, parser) = try Self.read(["HTTP/1.1 200 OK\r\n\r\nall of ", "it"], closeAtEnd: true)
        #expect(closed.ends == 1 && !parser.keepAlive)
        // A close in the middle of a framed body is no end.
        let (cut, _) = try Self.read(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"], closeAtEnd: true)
        #expect(cut.ends == 0)
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ])
    func whatCannotBeFramedWithCertaintyIsRefused(_ text: String) {
        #expect(throws: UpstreamResponseParser.Malformed.self, "\(text.debugDescription)") { try Self.read([text]) }
    }

    @Test func aHeadThatNeverEndsIsRefusedAtItsLimit() throws {
        let endless = "HTTP/1.1 200 OK\r\n" + String(repeating: "x-padding: 0123456789abcdef\r\n", count: 2_400)
        #expect(throws: UpstreamResponseParser.Malformed.self) { try Self.read([endless]) }
        // Just under the limit, it is a head like any other.
        let (reading, _) = try Self.read(["HTTP/1.1 200 OK\r\n" + String(repeating: "x-padding: 0123456789abcdef\r\n", count: 2_000) + "Content-Length: 0\r\n\r\n"])
        #expect(reading.ends == 1)
    }

    @Test func randomBytesAreReadOrRefusedNeverACrash() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("HTTP/1.1 200 OK\r\n:;,0123456789abcdefContent-Length Transfer-Encoding chunked\r\n\r\n".utf8) + [0, 0xFF]
        for _ in 0..<3_000 {
            let count = Int.random(in: 0..<200, using: &generator)
            let bytes = (0..<count).map { _ in alphabet.randomElement(using: &generator)! }
            var parser = UpstreamResponseParser()
            parser.append(ByteBuffer(bytes: bytes))
            var events = 0
            while events < 1_000, let event = try? parser.next() {
                _ = event
                events += 1
            }
            #expect(events < 1_000)
        }
    }
}
