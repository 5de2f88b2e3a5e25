import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import AtriumServer

/// The pooled client against upstreams that frame their answers in the other ways HTTP/1.1 allows (by
/// the close, by chunks in a whole answer, HTTP/1.0), and one that frames them wrongly: a raw socket
/// server that answers every request with fixed bytes.
@Suite struct UpstreamFramingTests {
    /// Answers each request (its head and `content-length` body read whole) with `answer`, then closes
    /// the connection when `close` is set.
    final class CannedUpstream: ChannelInboundHandler, @unchecked Sendable {  // one per channel, on its loop
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: String
        let close: Bool
        private var received = ""

        init(answer: String, close: Bool) {
            self.answer = answer
            self.close = close
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            guard let headEnd = received.range(of: "\r\n\r\n") else { return }
            let length = received[..<headEnd.lowerBound].lowercased().components(separatedBy: "\r\n")
                .first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            guard received[headEnd.upperBound...].utf8.count >= length else { return }
            received = ""
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
            if close { context.close(promise: nil) }
        }
    }

    /// Runs `body` with a client of a canned upstream; `body` gets how many connections it has accepted so far.
    static func withUpstream(
        answering answer: String, close: Bool, _ body: (PooledHTTPTransport, _ accepted: @Sendable () -> Int) async throws -> Void
    ) async throws {
        let accepted = Arc(Mutex(0))
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.value.withLock { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CannedUpstream(answer: answer, close: close)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let timeouts = UpstreamTimeouts(connect: .seconds(2), firstByte: .seconds(5), idle: .seconds(2))
        let transport = PooledHTTPTransport(host: "127.0.0.1", port: try #require(server.localAddress?.port), timeouts: timeouts)
        do {
            try await body(transport, { accepted.value.withLock { $0 } })
        } catch {
            await transport.shutdown()
            try await server.close()
            throw error
        }
        await transport.shutdown()
        try await server.close()
    }

    /// Shares one value between the server's channels and the test.
    final class Arc<Value: ~Copyable & Sendable>: Sendable {
        let value: Value
        init(_ value: consuming Value) { self.value = value }
    }

    /// One loop for every request of a test: each loop keeps a pool of its own.
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    static func post(_ transport: PooledHTTPTransport) async throws -> (Int, String) {
        let reply = try await transport.post(
            path: "/v1/x", headers: [("content-type", "application/json")], body: ByteBuffer(string: "{}"), stream: false, eventLoop: loop)
        guard case .complete(let body) = reply.body else { throw CancellationError() }
        return (reply.status, String(buffer: body))
    }

    @Test func anAnswerFramedByTheCloseArrivesWhole() async throws {
        try await Self.withUpstream(answering: "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"framed\":\"by the close\"}", close: true) { transport, accepted in
            for _ in 0..<3 {
                let (status, body) = try await Self.post(transport)
                #expect(status == 200 && body == #"{"framed":"by the close"}"#)
            }
            #expect(accepted() == 3)  // each on a connection of its own: the close ended the last one
        }
    }

    @Test func aChunkedWholeAnswerIsJoinedAndItsConnectionReused() async throws {
        let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"n\":\"c\r\n6\r\nhunks\"\r\n1;ext=1\r\n}\r\n0\r\n\r\n"
        try await Self.withUpstream(answering: answer, close: false) { transport, accepted in
            for _ in 0..<3 {
                let (status, body) = try await Self.post(transport)
                #expect(status == 200 && body == #"{"n":"chunks"}"#)
            }
            #expect(accepted() == 1)
        }
    }

    @Test func anHTTP10AnswerWithItsLengthWorksOnFreshConnections() async throws {
        try await Self.withUpstream(answering: "HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\n{\"v\":10}", close: true) { transport, accepted in
            for _ in 0..<3 {
                let (status, body) = try await Self.post(transport)
                #expect(status == 200 && body == #"{"v":10}"#)
            }
            #expect(accepted() == 3)  // HTTP/1.0 without keep-alive: never reused
        }
    }

    @Test func anAnswerThatCannotBeFramedIsAProtocolViolation() async throws {
        try await Self.withUpstream(answering: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody!", close: false) { transport, _ in
            await #expect {
                _ = try await Self.post(transport)
            } throws: { error in
                guard let failure = error as? ProviderFailure, case .protocolViolation = failure.kind else { return false }
                return failure.message.contains("two content-lengths")
            }
        }
    }
}
