import FluentKit
import Foundation
import Logging
import SQLKit
import Testing

@testable import AtriumPersistence

/// A PostgreSQL URL's `search_path` names the schema every pooled connection works in. It travels in
/// the connection's startup message (a `SET` after connecting left an unclosed connection behind when
/// it failed), so it must hold on every connection, the transaction's included, and keep a schema name
/// that needs quoting intact.
@Suite struct DatabaseSearchPathTests {
    @Test func everyConnectionWorksInTheURLsSchema() async throws {
        guard let base = TestDatabase.postgresURL else {
            print("note: skipped: needs PostgreSQL (ATRIUM_TEST_POSTGRES_URL)")
            return
        }
        let schema = "Search-\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try AtriumDatabase(location: try DatabaseLocation(url: base), logger: testLogger)
        try await admin.execute("CREATE SCHEMA \"\(schema)\"")
        let escaped = schema.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? schema
        let database = try AtriumDatabase(
            location: try DatabaseLocation(url: base + (base.contains("?") ? "&" : "?") + "search_path=\(escaped)"), logger: testLogger)
        do {
            try await database.execute("CREATE TABLE marker (id integer)")
            // Several statements at once, so that more than one pooled connection answers.
            let schemas = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await Self.currentSchema(database.database as! any SQLDatabase) }
                }
                group.addTask { try await database.transaction { try await Self.currentSchema($0 as! any SQLDatabase) } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(schemas == Array(repeating: schema, count: 9))
            let row = try await (admin.database as! any SQLDatabase).raw(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = \(bind: schema) AND table_name = 'marker'").first()
            #expect(try row?.decode(column: "n", as: Int.self) == 1)
        } catch {
            await database.shutdown()
            try? await admin.execute("DROP SCHEMA \"\(schema)\" CASCADE")
            await admin.shutdown()
            throw error
        }
        await database.shutdown()
        try await admin.execute("DROP SCHEMA \"\(schema)\" CASCADE")
        await admin.shutdown()
    }

    private static func currentSchema(_ sql: any SQLDatabase) async throws -> String {
        let row = try await sql.raw("SELECT current_schema() AS name, pg_sleep(0.05)").first()
        return try #require(row).decode(column: "name", as: String.self)
    }
}
