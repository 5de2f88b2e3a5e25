import AtriumCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import AtriumServer

@Suite struct KeyAPITests {
    @Test(arguments: TestDatabase.all)
    func aKeyIsShownOnceAndListedByPrefix(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cookie = try await client.signUp("keys@example.com")
            let created = try await client.send(.post, "/api/keys", json: #"{"name":"ci","scopes":["model.read"]}"#, cookie: cookie)
            #expect(created.status == .created)
            let secret = try #require(created.json["secret"]?.stringValue)
            #expect(APIKeyFormat.isWellFormed(secret))
            #expect(created.json["scopes"] == .array([.string("model.read")]))

            let listed = try await client.send(.get, "/api/keys", cookie: cookie)
            let keys = try #require(listed.json["data"]?.arrayValue)
            #expect(keys.count == 1)
            #expect(keys[0]["secret"] == nil)
            #expect(keys[0]["prefix"]?.stringValue == String(secret.prefix(12)))
            #expect(!String(decoding: listed.body.readableBytesView, as: UTF8.self).contains(secret))
        }
    }

    @Test(arguments: TestDatabase.all)
    func badKeyRequestsAreRefused(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cookie = try await client.signUp("badkeys@example.com")
            let cases: [(String, String?)] = [
                (#"{"name":""}"#, "name"),
                (#"{"name":"x","scopes":["root"]}"#, "scopes"),
                (#"{"name":"x","scopes":[]}"#, "scopes"),
                (#"{"name":"x","expires_at":1}"#, "expires_at"),
                (#"{"name":"x","expires_at":"tomorrow"}"#, "expires_at"),
                // Once stored, then aborted the process while its answer was encoded.
                (#"{"name":"x","expires_at":19004593971798160961607706911703040}"#, "expires_at"),
                (#"{"name":"x","expires_at":9223372036854775808}"#, "expires_at"),
                (#"{"name":"x","expires_at":-9223372036854775808}"#, "expires_at"),
                (#"{"name":"x","expires_at":1e308}"#, "expires_at"),
                (#"{"name":"x","expires_at":-1e308}"#, "expires_at"),
                (#"{"name":"x","expires_at":-0}"#, "expires_at"),
                // PostgreSQL cannot store NUL: a 400, not the 500 of a failed statement.
                (#"{"name":"a\u0000b"}"#, "name"),
                // Beyond what a Double holds: Foundation's decoder calls the body unparsable.
                (#"{"name":"x","expires_at":\#(String(repeating: "9", count: 5000))}"#, nil),
            ]
            for (body, param) in cases {
                let response = try await client.send(.post, "/api/keys", json: body, cookie: cookie)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.errorParam == param, "\(body)")
            }
            let huge = try await client.send(.post, "/api/keys", json: #"{"name":"\#(String(repeating: "x", count: 100_000))"}"#, cookie: cookie)
            #expect(huge.status == .contentTooLarge)
            let listed = try await client.send(.get, "/api/keys", cookie: cookie)
            #expect(listed.status == .ok && listed.json["data"]?.arrayValue?.isEmpty == true)
            let nulQuery = try await client.send(.get, "/api/usage?model=%00", cookie: cookie)
            #expect(nulQuery.status == .badRequest && nulQuery.errorParam == "model")
            #expect(try await client.send(.get, "/api/prices/a%00b", cookie: cookie).status == .badRequest)
        }
    }

    @Test(arguments: TestDatabase.all)
    func revocationTakesEffectAtOnce(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cookie = try await client.signUp("revoke@example.com")
            let created = try await client.send(.post, "/api/keys", json: #"{"name":"soon gone"}"#, cookie: cookie)
            let secret = try #require(created.json["secret"]?.stringValue)
            let id = try #require(created.json["id"]?.stringValue)
            #expect(try await client.send(.get, "/v1/models", bearer: secret).status == .ok)

            #expect(try await client.send(.delete, "/api/keys/\(id)", cookie: cookie).status == .noContent)
            let after = try await client.send(.get, "/v1/models", bearer: secret)
            #expect(after.status == .unauthorized)
            #expect(after.errorCode == "invalid_api_key")
            #expect(try await client.send(.delete, "/api/keys/\(id)", cookie: cookie).status == .notFound)
        }
    }

    @Test(arguments: TestDatabase.all)
    func anExpiredKeyIsRefused(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cookie = try await client.signUp("expiry@example.com")
            // A few seconds ahead: a loaded machine may take a while between here and the server's check.
            let expiry = Int(Date().timeIntervalSince1970) + 5
            let secret = try await client.createKey(cookie: cookie, body: #"{"name":"short","expires_at":\#(expiry)}"#)
            #expect(try await client.send(.get, "/v1/models", bearer: secret).status == .ok)
            try await Task.sleep(for: .seconds(max(0, Double(expiry) - Date().timeIntervalSince1970) + 1))
            let expired = try await client.send(.get, "/v1/models", bearer: secret)
            #expect(expired.status == .unauthorized)
            #expect(expired.errorCode == "expired_api_key")
        }
    }

    @Test(arguments: TestDatabase.all)
    func anotherOrganizationsKeysAreNotFound(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let alice = try await client.signUp("alice@example.com")
            let mallory = try await client.signUp("mallory@example.com")
            let created = try await client.send(.post, "/api/keys", json: #"{"name":"alice's"}"#, cookie: alice)
            let id = try #require(created.json["id"]?.stringValue)
            let aliceOrg = try #require(created.json["organization_id"]?.stringValue)

            #expect(try await client.send(.delete, "/api/keys/\(id)", cookie: mallory).status == .notFound)
            #expect(try await client.send(.get, "/api/keys?organization_id=\(aliceOrg)", cookie: mallory).status == .notFound)
            let intoAlice = try await client.send(.post, "/api/keys", json: #"{"name":"sneaky","organization_id":"\#(aliceOrg)"}"#, cookie: mallory)
            #expect(intoAlice.status == .notFound)
            #expect(try await client.send(.get, "/api/keys", cookie: mallory).json["data"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test(arguments: TestDatabase.all)
    func keysAuthenticateOnlyWithTheRightScope(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cookie = try await client.signUp("scopes@example.com")
            let readOnly = try await client.createKey(cookie: cookie, body: #"{"name":"ro","scopes":["model.read"]}"#)
            #expect(try await client.send(.get, "/v1/models", bearer: readOnly).status == .ok)
            let call = try await client.send(.post, "/v1/chat/completions", json: #"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, bearer: readOnly)
            #expect(call.status == .forbidden)
            #expect(call.errorCode == "insufficient_permissions")
        }
    }
}
