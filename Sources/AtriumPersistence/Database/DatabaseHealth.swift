import FluentKit
import FluentPostgresDriver
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Whether the database answers, as this process last saw it. A lost connection anywhere marks it
/// down at once; the probe (`DatabaseProbe`) marks it up again when a query answers. While it is down,
/// every use of the database fails at once with `DatabaseUnavailable` (a 503) instead of queueing for a
/// connection that cannot be made.
public final class DatabaseHealth: Sendable {
    private struct State {
        var up = true
        var reason = ""
        /// When a probe last answered (or failed): readiness wants a recent answer.
        var lastProbe: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    public init() {}

    public var isUp: Bool { state.withLock(\.up) }

    /// Up, and a probe answered within `freshness` (a probe that stopped answering is not readiness).
    public func isReady(freshness: Duration = .seconds(5)) -> Bool {
        state.withLock { state in
            guard state.up else { return false }
            guard let last = state.lastProbe else { return true }
            return ContinuousClock.now - last < freshness
        }
    }

    /// The error to fail with at once while the database is away; nil while it is up.
    public func refusal() -> DatabaseUnavailable? {
        state.withLock { $0.up ? nil : DatabaseUnavailable(reason: $0.reason) }
    }

    public func check() throws {
        if let refusal = refusal() { throw refusal }
    }

    /// Marks the database down when `error` says the connection to it was lost (not for a broken rule
    /// or a bad statement).
    public func report(_ error: any Error) {
        guard DatabaseFailure.isConnectionLoss(error) else { return }
        markDown(DatabaseFailure.reason(error))
    }

    func markDown(_ reason: String) {
        state.withLock { state in (state.up, state.reason) = (false, reason) }
    }

    func probed(answered: Bool, reason: String = "") {
        state.withLock { state in
            state.lastProbe = .now
            if answered { state.up = true } else { (state.up, state.reason) = (false, reason) }
        }
    }
}

/// The database is away (restarting, unreachable); the request may be retried in a moment.
public struct DatabaseUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { "The database is unavailable: \(reason)" }
}

extension DatabaseFailure {
    /// Whether `error` means the connection to the database is gone or cannot be made, rather than
    /// that one statement failed on a working connection.
    public static func isConnectionLoss(_ error: any Error) -> Bool {
        switch error {
        case is DatabaseUnavailable, is ConnectionPoolTimeoutError, is NIOConnectionError, is ChannelError, is IOError:
            return true
        case let error as PSQLError:
            if let info = error.serverInfo {
                let state = info[.sqlState] ?? ""
                // 08: connection exceptions; 57P01-57P03: shutdown, crash, starting up; FATAL ends the session.
                return state.hasPrefix("08") || state.hasPrefix("57P") || info[.severity] == "FATAL" || info[.severity] == "PANIC"
            }
            return [.serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .sslUnsupported].contains(error.code)
        default:
            return false
        }
    }
}
