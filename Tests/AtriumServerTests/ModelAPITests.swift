import AtriumCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import AtriumServer

/// The `/v1` surface up to the provider: authentication, validation and error envelopes. The providers
/// point at a closed port, so a request that passes validation ends in a 502 from the gateway.
@Suite struct ModelAPITests {
    static let providers = [
        ProviderConfig(
            name: "nowhere", baseURL: "http://127.0.0.1:9/v1", timeouts: .init(connect: 1, firstByte: 2, idle: 2),
            models: [.init(name: "chat-model", upstream: "upstream-chat", kind: .chat), .init(name: "embedder", kind: .embedding)])
    ]

    private func withKey(_ body: @Sendable @escaping (any TestClientProtocol, String) async throws -> Void) async throws {
        try await withApp(.sqlite, providers: Self.providers) { client in
            let cookie = try await client.signUp("v1@example.com")
            try await body(client, try await client.createKey(cookie: cookie))
        }
    }

    @Test func modelsAreListedAndShown() async throws {
        try await withKey { client, key in
            let list = try await client.send(.get, "/v1/models", bearer: key)
            #expect(list.status == .ok)
            #expect(list.json["object"] == .string("list"))
            #expect(list.json["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["chat-model", "embedder"])
            let one = try await client.send(.get, "/v1/models/chat-model", bearer: key)
            #expect(one.json["id"] == .string("chat-model"))
            #expect(one.json["object"] == .string("model"))
            let missing = try await client.send(.get, "/v1/models/nope", bearer: key)
            #expect(missing.status == .notFound)
            #expect(missing.errorCode == "model_not_found")
        }
    }

    @Test func missingAndWrongKeysGet401() async throws {
        try await withKey { client, key in
            let none = try await client.send(.get, "/v1/models")
            #expect(none.status == .unauthorized)
            #expect(none.json["error"]?["type"] == .string("invalid_request_error"))
            let wrong = try await client.send(.get, "/v1/models", bearer: "atr_" + String(repeating: "A", count: 38))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.errorCode == "invalid_api_key")
            var tampered = Array(key)
            tampered[20] = tampered[20] == "x" ? "y" : "x"
            #expect(try await client.send(.get, "/v1/models", bearer: String(tampered)).status == .unauthorized)
            let basic = try await client.send(.get, "/v1/models", headers: [.authorization: "Basic abc"])
            #expect(basic.status == .unauthorized)
        }
    }

    @Test func invalidBodiesGet400WithTheParameter() async throws {
        try await withKey { client, key in
            let cases: [(String, String?)] = [
                ("{not json", nil),
                (#"[1,2]"#, nil),
                (#"{"model":"chat-model","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#, "max_tokens"),
                (#"{"model":"chat-model","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
                (#"{"model":"chat-model","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, "stream"),
                (#"{"model":"chat-model","messages":[{"role":"user","content":"x"}],"surprise":true}"#, "surprise"),
                (#"{"model":"chat-model"}"#, "messages"),
            ]
            for (body, param) in cases {
                let response = try await client.send(.post, "/v1/chat/completions", json: body, bearer: key)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.errorParam == param, "\(body)")
                #expect(response.json["error"]?["message"]?.stringValue?.isEmpty == false)
            }
            let invalidUTF8 = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                body: ByteBuffer(bytes: Array(#"{"model":""#.utf8) + [0xC3, 0x28] + Array(#"","messages":[]}"#.utf8)))
            #expect(invalidUTF8.status == .badRequest)
            let empty = try await client.send(.post, "/v1/embeddings", json: #"{"model":"embedder","input":[]}"#, bearer: key)
            #expect(empty.status == .badRequest)
            #expect(empty.errorParam == "input")
        }
    }

    @Test func hugeBodiesGet413() async throws {
        try await withKey { client, key in
            let content = String(repeating: "a", count: 200_000)
            let response = try await client.send(
                .post, "/v1/chat/completions", json: #"{"model":"chat-model","messages":[{"role":"user","content":"\#(content)"}]}"#, bearer: key)
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "request_too_large")
        }
    }

    @Test func unknownModelsAndWrongOperationsAreNamed() async throws {
        try await withKey { client, key in
            let unknown = try await client.send(.post, "/v1/chat/completions", json: #"{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}"#, bearer: key)
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "model_not_found")
            let wrongKind = try await client.send(.post, "/v1/embeddings", json: #"{"model":"chat-model","input":"x"}"#, bearer: key)
            #expect(wrongKind.status == .badRequest)
            #expect(wrongKind.errorParam == "model")
        }
    }

    @Test func anUnreachableUpstreamIsABadGatewayWithARequestID() async throws {
        try await withKey { client, key in
            let response = try await client.send(
                .post, "/v1/chat/completions", json: #"{"model":"chat-model","messages":[{"role":"user","content":"x"}]}"#, bearer: key,
                headers: [.init("x-request-id")!: "my-trace-1"])
            #expect(response.status == .badGateway)
            #expect(response.json["error"]?["type"] == .string("server_error"))
            #expect(response.headers[.init("x-request-id")!] == "my-trace-1")
        }
    }

    @Test func unknownURLsGetTheEnvelope() async throws {
        try await withKey { client, key in
            let response = try await client.send(.post, "/v1/nope", json: "{}", bearer: key)
            #expect(response.status == .notFound)
            #expect(response.json["error"]?["message"]?.stringValue?.contains("/v1/nope") == true)
        }
    }

    @Test func healthReadinessMetricsAndContract() async throws {
        try await withApp(.sqlite, providers: Self.providers) { client in
            #expect(try await client.send(.get, "/healthz").status == .ok)
            let ready = try await client.send(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.json["database"] == .string("up"))
            let metrics = try await client.send(.get, "/metrics")
            #expect(String(decoding: metrics.body.readableBytesView, as: UTF8.self).contains("atrium_http_requests_total"))
            let contract = try await client.send(.get, "/openapi.json")
            #expect(contract.json["openapi"]?.stringValue?.hasPrefix("3.") == true)
        }
    }
}
