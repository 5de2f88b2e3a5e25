import AtriumCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import AtriumServer

@Suite struct AccountAPITests {
    @Test(arguments: TestDatabase.all)
    func signUpOpensASessionWithAPersonalOrganization(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let response = try await client.send(.post, "/api/auth/signup", json: #"{"email":" Ada@Example.com","password":"correct horse","name":"Ada"}"#)
            #expect(response.status == .created)
            let cookieHeader = try #require(response.headers[values: .setCookie].first)
            #expect(cookieHeader.contains("HttpOnly"))
            #expect(cookieHeader.contains("SameSite=Lax"))
            #expect(response.json["user"]?["email"] == .string("ada@example.com"))
            #expect(response.json["user"]?["password_hash"] == nil)

            let me = try await client.send(.get, "/api/auth/me", cookie: response.sessionCookie)
            #expect(me.status == .ok)
            #expect(me.json["organizations"]?.arrayValue?.count == 1)
            #expect(me.json["organizations"]?.arrayValue?.first?["personal"] == .bool(true))
            #expect(me.json["organizations"]?.arrayValue?.first?["role"] == .string("owner"))
        }
    }

    @Test(arguments: TestDatabase.all)
    func emailsAreUniqueWhateverTheirCase(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            _ = try await client.signUp("grace@example.com")
            let again = try await client.send(.post, "/api/auth/signup", json: #"{"email":"GRACE@example.com","password":"another one","name":"G"}"#)
            #expect(again.status == .conflict)
            #expect(again.errorParam == "email")
        }
    }

    @Test(arguments: TestDatabase.all)
    func badSignUpInputIsRefusedWithTheField(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cases: [(String, String?)] = [
                (#"{"email":"nope","password":"correct horse","name":"A"}"#, "email"),
                (#"{"email":"a@b.co","password":"short","name":"A"}"#, "password"),
                (#"{"email":"a@b.co","password":"correct horse","name":""}"#, "name"),
                (#"{"email":"a@b.co","password":"correct horse"}"#, "name"),
                (#"{"email":"a@b.co","password":12345678,"name":"A"}"#, "password"),
            ]
            for (body, param) in cases {
                let response = try await client.send(.post, "/api/auth/signup", json: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.errorParam == param, "\(body)")
            }
            let malformed = try await client.send(.post, "/api/auth/signup", json: #"{"email":"#)
            #expect(malformed.status == .badRequest)
            #expect(malformed.json["error"]?["type"] == .string("invalid_request_error"))
        }
    }

    @Test(arguments: TestDatabase.all)
    func loginLogoutAndThrottling(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            _ = try await client.signUp("lin@example.com")
            let good = try await client.send(.post, "/api/auth/login", json: #"{"email":"LIN@example.com","password":"correct horse"}"#)
            #expect(good.status == .ok)
            let cookie = try #require(good.sessionCookie)

            let logout = try await client.send(.post, "/api/auth/logout", json: "{}", cookie: cookie)
            #expect(logout.status == .noContent)
            #expect(try await client.send(.get, "/api/auth/me", cookie: cookie).status == .unauthorized)

            for _ in 0..<5 {
                let wrong = try await client.send(.post, "/api/auth/login", json: #"{"email":"lin@example.com","password":"wrong password"}"#)
                #expect(wrong.status == .unauthorized)
            }
            let throttled = try await client.send(.post, "/api/auth/login", json: #"{"email":"lin@example.com","password":"correct horse"}"#)
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.headers[.retryAfter] != nil)
        }
    }

    @Test(arguments: TestDatabase.all)
    func cookieWritesMustBeJSONFromTheSameOrigin(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let cookie = try await client.signUp("csrf@example.com")
            let form = try await client.send(
                .post, "/api/keys", cookie: cookie, headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(form.status == .badRequest)
            let crossSite = try await client.send(
                .post, "/api/keys", json: #"{"name":"x"}"#, cookie: cookie, headers: [.origin: "https://evil.example"])
            #expect(crossSite.status == .forbidden)
        }
    }

    @Test(arguments: TestDatabase.all)
    func organizationsAndMembers(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            let owner = try await client.signUp("owner@example.com")
            let member = try await client.signUp("member@example.com")
            let outsider = try await client.signUp("outsider@example.com")

            let created = try await client.send(.post, "/api/organizations", json: #"{"name":"Acme"}"#, cookie: owner)
            #expect(created.status == .created)
            let org = try #require(created.json["id"]?.stringValue)

            let added = try await client.send(.post, "/api/organizations/\(org)/members", json: #"{"email":"member@example.com"}"#, cookie: owner)
            #expect(added.status == .created)
            #expect(added.json["role"] == .string("member"))

            let members = try await client.send(.get, "/api/organizations/\(org)/members", cookie: member)
            #expect(members.json["data"]?.arrayValue?.count == 2)

            let byMember = try await client.send(.post, "/api/organizations/\(org)/members", json: #"{"email":"outsider@example.com"}"#, cookie: member)
            #expect(byMember.status == .forbidden)

            #expect(try await client.send(.get, "/api/organizations/\(org)", cookie: outsider).status == .notFound)
            #expect(try await client.send(.get, "/api/organizations/\(org)/members", cookie: outsider).status == .notFound)
            #expect(try await client.send(.get, "/api/organizations/not-a-uuid", cookie: outsider).status == .notFound)

            let memberID = try #require(added.json["user_id"]?.stringValue)
            #expect(try await client.send(.delete, "/api/organizations/\(org)/members/\(memberID)", cookie: owner).status == .noContent)
            #expect(try await client.send(.get, "/api/organizations/\(org)", cookie: member).status == .notFound)
        }
    }

    @Test(arguments: TestDatabase.all)
    func managementNeedsASession(_ database: TestDatabase) async throws {
        try await withApp(database) { client in
            for (method, path) in [(HTTPRequest.Method.get, "/api/keys"), (.get, "/api/organizations"), (.get, "/api/auth/me")] {
                let response = try await client.send(method, path)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.init("x-request-id")!] != nil)
            }
            let forged = try await client.send(.get, "/api/keys", cookie: "atrium_session=forged")
            #expect(forged.status == .unauthorized)
        }
    }
}
