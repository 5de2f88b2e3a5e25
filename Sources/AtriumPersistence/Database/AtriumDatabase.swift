import AtriumCore
import FluentKit
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the data lives, parsed from `DATABASE_URL`.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqliteFile(String)
    case sqliteMemory
    case postgres(url: String, searchPath: [String]? = nil)

    /// `sqlite:///absolute/path.db`, `sqlite://relative.db`, `sqlite::memory:`, `postgres://…` or `postgresql://…`.
    public init(url: String) throws {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            // `?search_path=schema` picks a schema (the tests give each run its own); the rest of the URL
            // goes to PostgresKit as it is.
            guard var components = URLComponents(string: url) else { throw DatabaseURLError(url: url) }
            let searchPath = components.queryItems?.first { $0.name == "search_path" }?.value
            components.queryItems = components.queryItems?.filter { $0.name != "search_path" }
            if components.queryItems?.isEmpty == true { components.queryItems = nil }
            self = .postgres(url: components.string ?? url, searchPath: searchPath.map { [$0] })
        } else if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            self = .sqliteMemory
        } else if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw DatabaseURLError(url: url) }
            self = .sqliteFile(path)
        } else {
            throw DatabaseURLError(url: url)
        }
    }

    public var description: String {
        switch self {
        case .sqliteFile(let path): "SQLite at \(path)"
        case .sqliteMemory: "SQLite in memory"
        case .postgres(let url, _):
            // Where, never with the password.
            if let parts = URLComponents(string: url), let host = parts.host {
                "PostgreSQL at \(parts.user.map { "\($0)@" } ?? "")\(host):\(parts.port ?? 5432)\(parts.path)"
            } else {
                "PostgreSQL"
            }
        }
    }

    public var isSQLite: Bool {
        if case .postgres = self { return false }
        return true
    }
}

public struct DatabaseURLError: Error, CustomStringConvertible {
    public var url: String
    public var description: String {
        "Unsupported DATABASE_URL \"\(url.prefix(40))\": use sqlite:///path/to/file.db, sqlite::memory: or postgres://user:password@host:port/database."
    }
}

/// Owns Fluent's `Databases` for the process: opens the pool, runs migrations, shuts it down.
public final class AtriumDatabase: Sendable {
    public let location: DatabaseLocation
    /// The SQLite file, for connections of our own (an in-memory database is a temporary file that
    /// goes at shutdown, so that every connection sees the same one).
    public let sqlitePath: String?
    private let databases: Databases
    private let logger: Logger
    /// One handle per event loop, made once: after `shutdown` they answer with errors instead of the
    /// crash that asking `Databases` for a new handle would be (a background task may still be
    /// finishing a query when the process stops).
    private let handles: [any Database]
    private let nextHandle = Atomic<Int>(0)
    /// Whether the database answers; every handle asks it before a statement.
    public let health = DatabaseHealth()
    /// PostgreSQL's connection settings, for the probe's connection of its own.
    private let postgresConfiguration: PostgresConnection.Configuration?

    /// How long a transaction may hold its connection: past it the connection is closed and given
    /// back, so a statement the server never answers cannot keep a pool's connection for ever.
    static let transactionDeadline = TimeAmount.seconds(10)

    public init(location: DatabaseLocation, logger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.location = location
        self.logger = logger
        self.databases = Databases(threadPool: NIOThreadPool.singleton, on: eventLoopGroup)
        switch location {
        case .sqliteFile(let path):
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            sqlitePath = path
            postgresConfiguration = nil
            databases.use(.sqlite(.file(path), sqlLogLevel: .trace), as: .sqlite)
        case .sqliteMemory:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("atrium-memory-\(UUID().hexString()).db").path
            sqlitePath = path
            postgresConfiguration = nil
            databases.use(.sqlite(.file(path), sqlLogLevel: .trace), as: .sqlite)
        case .postgres(let url, let searchPath):
            var configuration = try SQLPostgresConfiguration(url: url)
            // The search path goes in the startup message, not in PostgresKit's `searchPath` (a `SET`
            // after connecting): when that `SET` fails, as it does while PostgreSQL shuts down, PostgresKit
            // drops the new connection unclosed, and PostgresNIO's debug builds trap on it.
            if let searchPath {
                let quoted = searchPath.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                configuration.coreConfiguration.options.additionalStartupParameters.append(("search_path", quoted.joined(separator: ",")))
            }
            // A host that does not answer is given up on in 2 s (PostgresNIO waits 10 s), and a request
            // waits at most 3 s for a connection (AsyncKit: 10 s): while the database is away, requests
            // fail fast (503) rather than pile up. Four connections per event loop (the driver's default
            // is one): requests rarely queue for one, and a request queued when the database goes away
            // is not woken until the pool's timeout, since the gate keeps new ones from reaching the pool.
            configuration.coreConfiguration.options.connectTimeout = .seconds(2)
            sqlitePath = nil
            postgresConfiguration = configuration.coreConfiguration
            databases.use(
                .postgres(
                    configuration: configuration, maxConnectionsPerEventLoop: 4, connectionPoolTimeout: .seconds(3), encodingContext: .default,
                    decodingContext: .default, sqlLogLevel: .trace),
                as: .psql)
        }
        self.handles = eventLoopGroup.makeIterator().map { [databases, logger] in databases.database(logger: logger, on: $0)! }
    }

    /// A database handle for repositories; cheap to create, shares the pool. While the database is
    /// away every statement fails at once with `DatabaseUnavailable`.
    public var database: any Database {
        GatedDatabase(base: pooled, health: health)
    }

    private var pooled: any Database {
        // The current event loop's handle when called on one (no hop), else the next in turn.
        let preferred = databases.eventLoopGroup.any()
        return handles.first { $0.eventLoop === preferred }
            ?? handles[nextHandle.wrappingAdd(1, ordering: .relaxed).oldValue % handles.count]
    }

    /// The service that watches whether PostgreSQL answers (nil on SQLite, which cannot go away).
    public func probe() -> (any Service)? {
        postgresConfiguration.map { DatabaseProbe(configuration: $0, health: health, logger: logger) }
    }

    /// Settings every SQLite connection needs. Fluent keeps one connection per event loop, so two
    /// transactions can write at once (the usage committer and a grant, or the CLI next to a server);
    /// without a busy timeout the second would fail at once with "database is locked" instead of
    /// waiting its turn.
    public func prepareConnections() async throws {
        guard location.isSQLite else { return }
        for database in handles {
            guard let sql = database as? any SQLDatabase else { continue }
            _ = try await sql.raw("PRAGMA busy_timeout = 10000").all()
            // In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit survives a
            // crash of the process, and at worst the last moments are lost when the power fails.
            _ = try await sql.raw("PRAGMA synchronous = NORMAL").all()
            _ = try await sql.raw("PRAGMA cache_size = -32768").all()
        }
    }

    /// Runs `body` in a transaction that writes. On SQLite it begins `IMMEDIATE`, taking the write lock
    /// up front: a deferred transaction that reads first and writes later fails with "database is
    /// locked" when another connection wrote in between, and no busy timeout can save it.
    public func writeTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        guard location.isSQLite else {
            return try await transaction { try await body($0 as! any SQLDatabase) }
        }
        return try await database.withConnection { connection in
            let sql = connection as! any SQLDatabase
            try await sql.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Runs `body` in a transaction on one connection (the handle it gets is bound to it). On PostgreSQL
    /// the transaction is guarded: a statement is never sent on a connection already closed, no
    /// ROLLBACK is sent on a connection that was lost (PostgresNIO would drop either without an answer,
    /// and the pool would never get its connection back), and a watchdog gives the connection back when
    /// it closes or the deadline passes, whatever the body is still waiting for.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        guard !location.isSQLite else { return try await database.transaction { try await body($0) } }
        try health.check()
        let health = self.health
        do {
            return try await pooled.withConnection { (handle: any Database) -> EventLoopFuture<T> in
                (handle as! any PostgresDatabase).withConnection { connection in
                    let finished = connection.eventLoop.makePromise(of: T.self)
                    let started = NIODeadline.now()
                    let watchdog = connection.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { task in
                        let overdue = NIODeadline.now() - started > Self.transactionDeadline
                        guard connection.isClosed || overdue else { return }
                        task.cancel()
                        let _: EventLoopFuture<Void> = connection.close()
                        finished.fail(DatabaseUnavailable(reason: overdue ? "a transaction outlived its deadline" : "the connection was closed"))
                    }
                    let bound = GatedDatabase(base: handle, health: health, connectionClosed: { connection.isClosed })
                    finished.completeWithTask {
                        let sql = bound as any SQLDatabase
                        try await sql.raw("BEGIN").run()
                        do {
                            let result = try await body(bound)
                            try await sql.raw("COMMIT").run()
                            return result
                        } catch {
                            // Whatever failed (this connection, or another use of the database inside the
                            // body), a live connection must not go back to the pool inside a transaction.
                            try? await Self.rollback(connection)
                            throw error
                        }
                    }
                    return finished.futureResult.always { _ in watchdog.cancel() }
                }
            }.get()
        } catch {
            health.report(error)
            throw error
        }
    }

    /// ROLLBACK, checked and sent in one turn of the connection's loop, so that it is never written
    /// after the connection closed (where it would go unanswered); a closed connection has rolled back.
    private static func rollback(_ connection: PostgresConnection) async throws {
        try await connection.eventLoop.flatSubmit {
            connection.isClosed ? connection.eventLoop.makeSucceededVoidFuture() : connection.query("ROLLBACK").map { _ in }
        }.get()
    }

    /// Brings the schema up to date with every numbered migration. A failure says which step failed
    /// and why, in one line (`DatabaseFailure`).
    public func migrate() async throws {
        do {
            if location.isSQLite {
                // WAL lets readers proceed while the writer commits; the ledger writers of later issues need it.
                _ = try await (database as? any SQLDatabase)?.raw("PRAGMA journal_mode=WAL").all()
            }
            _ = try await (database as? any SQLDatabase)?.raw("SELECT 1").all()
        } catch {
            throw DatabaseFailure(stage: "connecting to \(location)", error)
        }
        let migrator = Migrator(
            databases: databases, migrations: AtriumMigrations.all(), logger: logger,
            on: databases.eventLoopGroup.any())
        do {
            try await migrator.setupIfNeeded().get()
            try await migrator.prepareBatch().get()
        } catch {
            throw DatabaseFailure(stage: await failedMigrationStep(), error)
        }
    }

    /// "migration N (name)": the first one the database has not recorded as done.
    private func failedMigrationStep() async -> String {
        let names = AtriumMigrations.names
        guard let sql = database as? any SQLDatabase,
            let row = try? await sql.raw("SELECT count(*) AS done FROM _fluent_migrations").first(),
            let done = try? row.decode(column: "done", as: Int.self), done < names.count
        else { return "migrating \(location)" }
        return "running migration \(done + 1) of \(names.count) (\(names[done]))"
    }

    /// Runs one statement outside any model (test setup, pragmas).
    public func execute(_ sql: String) async throws {
        guard let database = database as? any SQLDatabase else { return }
        _ = try await database.raw(SQLQueryString(sql)).all()
    }

    /// True when a trivial query answers (on PostgreSQL: when the probe's last one did, lately).
    public func isReachable() async -> Bool {
        guard location.isSQLite else { return health.isReady() }
        guard let sql = database as? any SQLDatabase else { return false }
        do {
            _ = try await sql.raw("SELECT 1").all()
            return true
        } catch {
            return false
        }
    }

    public func shutdown() async {
        await databases.shutdownAsync()
        if case .sqliteMemory = location, let sqlitePath {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) }
        }
    }
}
