import AtriumCore
import AtriumPersistence
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import AtriumServer

/// The databases the database tests run on: SQLite always, PostgreSQL too when
/// `ATRIUM_TEST_POSTGRES_URL` names a server (CI sets it). Each test gets a fresh database (a new
/// SQLite file, or a new PostgreSQL schema).
enum TestDatabase: String, CustomStringConvertible, Sendable, CaseIterable {
    case sqlite, postgres

    var description: String { rawValue }

    static let postgresURL = ProcessInfo.processInfo.environment["ATRIUM_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    static var all: [TestDatabase] {
        if postgresURL == nil {
            print("note: PostgreSQL variants of the database tests are not run: ATRIUM_TEST_POSTGRES_URL is not set")
            return [.sqlite]
        }
        return [.sqlite, .postgres]
    }

    func makeURL() async throws -> String {
        switch self {
        case .sqlite:
            return "sqlite://\(FileManager.default.temporaryDirectory.path)/atrium-test-\(UUID().uuidString).db"
        case .postgres:
            let base = try #require(Self.postgresURL)
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let admin = try AtriumDatabase(location: try DatabaseLocation(url: base), logger: Logger(label: "test"))
            try await admin.execute("CREATE SCHEMA \(schema)")
            await admin.shutdown()
            return base + (base.contains("?") ? "&" : "?") + "search_path=\(schema)"
        }
    }
}

/// A test configuration: a fresh database, cheap bcrypt, no port, and a data directory of its own
/// (journal and models folder inside it), so nothing in the working tree (a `./data` that `make run`
/// filled, say) changes what the test sees.
func testConfig(_ database: TestDatabase, providers: [ProviderConfig] = []) async throws -> AtriumConfig {
    var config = AtriumConfig()
    config.dataDirectory = "\(FileManager.default.temporaryDirectory.path)/atrium-test-\(UUID().uuidString)"
    config.databaseURL = try await database.makeURL()
    config.bcryptCost = 4
    config.port = 0
    config.providers = providers
    config.maxBodyBytes = 64 * 1024
    // Most tests make keys right after signing up; the verification flow's own tests turn this on.
    config.requireVerifiedEmail = false
    config.signupsPerHour = 100_000
    config.mailLinksPerHour = 100_000
    return config
}

var testLogger: Logger {
    var logger = Logger(label: "atrium-test")
    logger.logLevel = .warning
    return logger
}

func withApp(
    _ database: TestDatabase, providers: [ProviderConfig] = [], setup: TestingSetup = .router,
    _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    let app = try await buildApplication(config: try await testConfig(database, providers: providers), logger: testLogger)
    try await app.test(setup) { client in try await body(client) }
}

extension TestResponse {
    var json: JSONValue { (try? JSONValue.parse(body.readableBytesView)) ?? .null }
    var errorCode: String? { json["error"]?["code"]?.stringValue }
    var errorParam: String? { json["error"]?["param"]?.stringValue }
    var sessionCookie: String? {
        headers[values: .setCookie].first { $0.hasPrefix("atrium_session=") }?.split(separator: ";").first.map(String.init)
    }
}

extension TestClientProtocol {
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, cookie: String? = nil, bearer: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if json != nil && headers[.contentType] == nil { headers[.contentType] = "application/json" }
        if let cookie { headers[.cookie] = cookie }
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Signs a new user up and returns their session cookie.
    func signUp(_ email: String, name: String = "Test User", password: String = "correct horse") async throws -> String {
        let response = try await send(.post, "/api/auth/signup", json: #"{"email":"\#(email)","password":"\#(password)","name":"\#(name)"}"#)
        #expect(response.status == .created)
        return try #require(response.sessionCookie)
    }

    /// Creates an API key with the session and returns its secret.
    func createKey(cookie: String, body: String = #"{"name":"test key"}"#) async throws -> String {
        let response = try await send(.post, "/api/keys", json: body, cookie: cookie)
        #expect(response.status == .created)
        return try #require(response.json["secret"]?.stringValue)
    }
}
