import AtriumCore
import Foundation
import VaporCSQLite

/// A value going into or coming out of a raw SQLite statement.
enum SQLiteValue: Equatable {
    case integer(Int64)
    case real(Double)
    case text(String)
    /// Bound as text in Fluent's form (uppercase), without making a `String` of it.
    case uuid(UUID)
    case null

    var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}

struct SQLiteHandleError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var description: String { "SQLite error \(code): \(message)" }
}

/// One connection of our own to the SQLite file, on SQLite's C API, with its prepared statements kept
/// for reuse. For the hot write paths (the usage ledger's group commits): Fluent and SQLiteNIO prepare
/// every statement afresh and carry each value through several layers, which cost more than SQLite's
/// own work at thousands of rows a second. It links the same SQLite as SQLiteNIO, so both share the
/// file's locks. Not thread-safe: its owner serialises the calls.
final class SQLiteHandle {
    private let connection: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// `SQLITE_TRANSIENT`: SQLite copies a bound text before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self)

    init(path: String, busyTimeoutMilliseconds: Int32 = 10_000) throws {
        var connection: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE
        let status = sqlite_nio_sqlite3_open_v2(path, &connection, flags, nil)
        guard status == SQLITE_OK, let connection else {
            let message = connection.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "cannot open"
            sqlite_nio_sqlite3_close_v2(connection)
            throw SQLiteHandleError(code: status, message: "\(message) (\(path))")
        }
        self.connection = connection
        sqlite_nio_sqlite3_busy_timeout(connection, busyTimeoutMilliseconds)
        try execute("PRAGMA synchronous = NORMAL")
    }

    deinit {
        for statement in statements.values { sqlite_nio_sqlite3_finalize(statement) }
        sqlite_nio_sqlite3_close_v2(connection)
    }

    /// Runs statements that take no values and return no rows (`BEGIN`, `COMMIT`, pragmas).
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite_nio_sqlite3_exec(connection, sql, nil, nil, &error)
        guard status == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "failed"
            sqlite_nio_sqlite3_free(error)
            throw SQLiteHandleError(code: status, message: message)
        }
    }

    /// A statement prepared once for this connection, to run many times without looking it up by its text.
    struct Statement {
        fileprivate let pointer: OpaquePointer
    }

    func statement(_ sql: String) throws -> Statement {
        Statement(pointer: try prepared(sql))
    }

    /// Runs one statement with its values and returns its rows (for `SELECT` and `RETURNING`).
    @discardableResult
    func run(_ sql: String, _ values: [SQLiteValue]) throws -> [[SQLiteValue]] {
        try run(statement(sql), values)
    }

    @discardableResult
    func run(_ prepared: Statement, _ values: [SQLiteValue]) throws -> [[SQLiteValue]] {
        let statement = prepared.pointer
        defer {
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
        }
        for (index, value) in values.enumerated() {
            try check(bind(value, at: Int32(index + 1), in: statement))
        }
        var rows: [[SQLiteValue]] = []
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            if status == SQLITE_DONE { return rows }
            guard status == SQLITE_ROW else { throw failure(status) }
            rows.append((0..<sqlite_nio_sqlite3_column_count(statement)).map { column(statement, $0) })
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        try check(sqlite_nio_sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil))
        guard let statement else { throw SQLiteHandleError(code: SQLITE_MISUSE, message: "empty statement: \(sql)") }
        statements[sql] = statement
        return statement
    }

    private func bind(_ value: SQLiteValue, at index: Int32, in statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let value): return sqlite_nio_sqlite3_bind_int64(statement, index, value)
        case .real(let value): return sqlite_nio_sqlite3_bind_double(statement, index, value)
        case .null: return sqlite_nio_sqlite3_bind_null(statement, index)
        case .uuid(let id):
            return id.withHex(uppercase: true) { hex in
                hex.withMemoryRebound(to: CChar.self) { sqlite_nio_sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), Self.transient) }
            }
        case .text(var value):
            return value.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { characters in
                    // An empty string may have no address; SQLite needs one to store '' rather than NULL.
                    guard let start = characters.baseAddress else { return sqlite_nio_sqlite3_bind_text(statement, index, "", 0, Self.transient) }
                    return sqlite_nio_sqlite3_bind_text(statement, index, start, Int32(characters.count), Self.transient)
                }
            }
        }
    }

    private func column(_ statement: OpaquePointer, _ index: Int32) -> SQLiteValue {
        switch sqlite_nio_sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite_nio_sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite_nio_sqlite3_column_double(statement, index))
        case SQLITE_NULL: return .null
        default:
            guard let text = sqlite_nio_sqlite3_column_text(statement, index) else { return .null }
            return .text(String(cString: text))
        }
    }

    private func check(_ status: Int32) throws {
        guard status == SQLITE_OK else { throw failure(status) }
    }

    private func failure(_ status: Int32) -> SQLiteHandleError {
        SQLiteHandleError(code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(connection)))
    }
}
