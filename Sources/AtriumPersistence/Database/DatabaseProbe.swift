import FluentPostgresDriver
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Asks PostgreSQL `SELECT 1` on a connection of its own, outside the pool (so it tells of the
/// database, not of the pool), every 2 s while the database is up and every 250 ms while it is down or
/// just after a lost connection was reported, with a deadline of 1 s. Its answers move `DatabaseHealth`.
public struct DatabaseProbe: Service {
    let configuration: PostgresConnection.Configuration
    let health: DatabaseHealth
    let logger: Logger
    let eventLoop: any EventLoop

    init(configuration: PostgresConnection.Configuration, health: DatabaseHealth, logger: Logger,
         eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        var configuration = configuration
        configuration.options.connectTimeout = .seconds(1)
        self.configuration = configuration
        self.health = health
        self.logger = logger
        self.eventLoop = eventLoop
    }

    public func run() async throws {
        var connection: PostgresConnection?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let wasUp = health.isUp
            do {
                connection = try await probe(connection)
                health.probed(answered: true)
                if !wasUp { logger.notice("The database answers again") }
            } catch {
                connection = nil  // `probe` closed it
                let reason = DatabaseFailure.reason(error)
                health.probed(answered: false, reason: reason)
                if wasUp { logger.error("The database does not answer: \(reason)") }
            }
            // Sleeps for the pause, or less when a lost connection is reported meanwhile.
            let pause: Duration = health.isUp ? .seconds(2) : .milliseconds(250)
            let until = ContinuousClock.now + pause
            let upNow = health.isUp
            while ContinuousClock.now < until && !(upNow && !health.isUp) && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        if let connection { try? await connection.close().get() }
    }

    /// One `SELECT 1`, on `connection` or a new one; the connection that answered.
    private func probe(_ connection: PostgresConnection?) async throws -> PostgresConnection {
        let connection = try await {
            if let connection, !connection.isClosed { return connection }
            return try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 0, logger: logger).get()
        }()
        // The check and the send in one turn of the connection's loop: a statement written after the
        // connection closed would never be answered. The deadline closes a connection that hangs.
        let answered = connection.eventLoop.makePromise(of: Void.self)
        let deadline = connection.eventLoop.scheduleTask(in: .seconds(1)) {
            answered.fail(DatabaseUnavailable(reason: "no answer to SELECT 1 within 1 s"))
            let _: EventLoopFuture<Void> = connection.close()
        }
        connection.eventLoop.execute {
            guard !connection.isClosed else { return answered.fail(DatabaseUnavailable(reason: "the connection was closed")) }
            connection.query("SELECT 1").map { _ in }.cascade(to: answered)
        }
        do {
            try await answered.futureResult.get()
            deadline.cancel()
            return connection
        } catch {
            deadline.cancel()
            // Closed before it goes (PostgresNIO insists on it).
            try? await connection.close().get()
            throw error
        }
    }
}
