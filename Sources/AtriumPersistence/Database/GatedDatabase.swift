import FluentKit
import Logging
import NIOCore
import FluentPostgresDriver
import FluentSQLiteDriver

/// The database as repositories see it: every statement first asks `DatabaseHealth` (failing at once
/// while the database is known to be away, rather than queueing for a connection that cannot be made)
/// and reports a lost connection back to it. Inside a guarded transaction it also refuses to send a
/// statement on a connection already closed: PostgresNIO drops such a statement without ever
/// answering it, and the pool would wait for that answer for ever.
struct GatedDatabase: Database, SQLDatabase {
    let base: any Database
    let health: DatabaseHealth
    /// The transaction's own connection is gone (nil outside a transaction).
    var connectionClosed: (@Sendable () -> Bool)?

    private var sql: any SQLDatabase { base as! any SQLDatabase }

    /// Why a statement may not be sent now, if it may not.
    private func refusal() -> (any Error)? {
        if let connectionClosed, connectionClosed() { return DatabaseUnavailable(reason: "the connection was closed") }
        return health.refusal()
    }

    private func guarded<T>(_ work: () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        if let refusal = refusal() { return base.eventLoop.makeFailedFuture(refusal) }
        return work().flatMapErrorThrowing { [health] error in
            health.report(error)
            throw error
        }
    }

    // Database

    var context: DatabaseContext { base.context }
    var inTransaction: Bool { base.inTransaction }

    func execute(query: DatabaseQuery, onOutput: @escaping @Sendable (any DatabaseOutput) -> Void) -> EventLoopFuture<Void> {
        guarded { base.execute(query: query, onOutput: onOutput) }
    }

    func execute(schema: DatabaseSchema) -> EventLoopFuture<Void> {
        guarded { base.execute(schema: schema) }
    }

    func execute(enum: DatabaseEnum) -> EventLoopFuture<Void> {
        guarded { base.execute(enum: `enum`) }
    }

    func transaction<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        guarded { base.transaction(closure) }
    }

    func withConnection<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        guarded { base.withConnection(closure) }
    }

    // SQLDatabase

    var logger: Logger { sql.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { sql.version }
    var dialect: any SQLDialect { sql.dialect }
    var queryLogLevel: Logger.Level? { sql.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        guarded { sql.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        if let refusal = refusal() { throw refusal }
        do {
            try await sql.execute(sql: query, onRow)
        } catch {
            health.report(error)
            throw error
        }
    }
}
