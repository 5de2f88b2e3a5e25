import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import AtriumServer

/// Both transports against a real HTTP server on a loopback socket (a small Hummingbird app that plays
/// an OpenAI-compatible upstream).
@Suite struct UpstreamTransportTests {
    enum Kind: String, CaseIterable, CustomStringConvertible, Sendable {
        case pooled, asyncHTTPClient
        var description: String { rawValue }
    }

    private static func upstream() -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/echo") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        router.post("/v1/fail") { _, _ in
            Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"busy"}}"#)))
        }
        router.post("/v1/stream") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                for index in 0..<3 {
                    try await writer.write(ByteBuffer(string: "data: {\"i\":\(index)}\n\n"))
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
        }
        router.post("/v1/slow") { _, _ -> Response in
            try await Task.sleep(for: .seconds(5))
            return Response(status: .ok)
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    private static func transport(_ kind: Kind, port: Int, firstByte: Duration = .seconds(5)) -> any UpstreamTransport {
        let timeouts = UpstreamTimeouts(connect: .seconds(2), firstByte: firstByte, idle: .seconds(2))
        switch kind {
        case .pooled: return PooledHTTPTransport(host: "127.0.0.1", port: port, timeouts: timeouts)
        case .asyncHTTPClient: return AsyncHTTPClientTransport(baseURL: "http://127.0.0.1:\(port)", timeouts: timeouts, logger: Logger(label: "test"))
        }
    }

    @Test(arguments: Kind.allCases)
    func postsAndReusesConnections(_ kind: Kind) async throws {
        try await Self.upstream().test(.live) { client in
            let transport = Self.transport(kind, port: try #require(client.port))
            for index in 0..<5 {
                let reply = try await transport.post(
                    path: "/v1/echo", headers: [("content-type", "application/json")], body: ByteBuffer(string: #"{"n":\#(index)}"#),
                    stream: false, eventLoop: nil)
                #expect(reply.status == 200)
                guard case .complete(let body) = reply.body else { Issue.record("expected a whole body"); return }
                #expect(String(buffer: body) == #"{"n":\#(index)}"#)
            }
            await transport.shutdown()
        }
    }

    @Test(arguments: Kind.allCases)
    func errorStatusesComeBackWhole(_ kind: Kind) async throws {
        try await Self.upstream().test(.live) { client in
            let transport = Self.transport(kind, port: try #require(client.port))
            let reply = try await transport.post(path: "/v1/fail", headers: [], body: ByteBuffer(), stream: true, eventLoop: nil)
            #expect(reply.status == 503)
            guard case .complete(let body) = reply.body else { Issue.record("expected a whole body"); return }
            #expect(String(buffer: body).contains("busy"))
            await transport.shutdown()
        }
    }

    @Test(arguments: Kind.allCases)
    func streamsArriveInPieces(_ kind: Kind) async throws {
        try await Self.upstream().test(.live) { client in
            let transport = Self.transport(kind, port: try #require(client.port))
            let reply = try await transport.post(path: "/v1/stream", headers: [], body: ByteBuffer(), stream: true, eventLoop: nil)
            guard case .stream(let chunks) = reply.body else { Issue.record("expected a stream"); return }
            var parser = ServerSentEventParser()
            var events: [String] = []
            for try await chunk in chunks { events += parser.feed(chunk) }
            #expect(events == [#"{"i":0}"#, #"{"i":1}"#, #"{"i":2}"#, "[DONE]"])
            await transport.shutdown()
        }
    }

    @Test(arguments: Kind.allCases)
    func aSlowUpstreamTimesOut(_ kind: Kind) async throws {
        try await Self.upstream().test(.live) { client in
            let transport = Self.transport(kind, port: try #require(client.port), firstByte: .milliseconds(300))
            await #expect {
                _ = try await transport.post(path: "/v1/slow", headers: [], body: ByteBuffer(), stream: false, eventLoop: nil)
            } throws: { error in
                (error as? ProviderFailure)?.kind == .timeout
            }
            await transport.shutdown()
        }
    }

    @Test(arguments: Kind.allCases)
    func aClosedPortIsAConnectFailure(_ kind: Kind) async throws {
        let transport = Self.transport(kind, port: 9)
        await #expect {
            _ = try await transport.post(path: "/v1/echo", headers: [], body: ByteBuffer(), stream: false, eventLoop: nil)
        } throws: { error in
            (error as? ProviderFailure)?.kind == .connect
        }
        await transport.shutdown()
    }

    /// The pooled client sends requests without NIO's per-request header check, so the one value from
    /// outside the code, a provider's API key, is checked at start: one that would split a header line
    /// stops the start with a message naming its variable, before any database opens.
    @Test func anAPIKeyAHeaderCannotCarryStopsTheStart() async throws {
        let variable = "UPSTREAM_TEST_KEY_\(UUID().uuidString.prefix(8))"
        setenv(variable, "sk-one\r\nx-injected: yes", 1)
        defer { unsetenv(variable) }
        let providers = [ProviderConfig(name: "box", baseURL: "http://127.0.0.1:9/v1", apiKeyEnv: variable, models: [.init(name: "m", kind: .chat)])]
        var config = try await testConfig(.sqlite, providers: providers)
        config.databaseURL = "postgres://nobody@127.0.0.1:9/none"  // never reached: the key is checked first
        do {
            _ = try await buildApplication(config: config, logger: testLogger)
            Issue.record("the server started with a key that holds CR LF")
        } catch let error as ConfigError {
            #expect(error.description.contains(variable) && error.description.contains("control character"))
        }
    }
}
