import FluentKit
import Foundation
import NIOCore
import NIOPosix
import FluentPostgresDriver

/// A failure to reach or use the database, said in one line an operator can act on: the database is
/// missing, the password was refused, the host does not answer, migration N failed. PostgresNIO's own
/// description is deliberately generic ("to prevent accidental leakage of sensitive data"); the server's
/// message and the connection's cause are what the operator needs, and neither holds the password.
public struct DatabaseFailure: Error, CustomStringConvertible, Sendable {
    /// What Atrium was doing: "connecting to PostgreSQL", "migration 3 (0003_CreateUsage)", ….
    public var stage: String
    public var reason: String

    public init(stage: String, reason: String) {
        self.stage = stage
        self.reason = reason
    }

    public init(stage: String, _ error: any Error) {
        self.init(stage: stage, reason: Self.reason(error))
    }

    public var description: String { "The database failed while \(stage): \(reason)" }

    /// Whether `error` came from the database or the way to it (rather than from a rule of the domain).
    public static func isDatabaseError(_ error: any Error) -> Bool {
        switch error {
        case is DatabaseFailure, is PSQLError, is NIOConnectionError, is IOError, is ChannelError, is SocketAddressError: true
        case let error as any DatabaseError: error.isConnectionClosed || error.isSyntaxError || error.isConstraintFailure
        default: false
        }
    }

    /// The cause of `error`, in one line.
    public static func reason(_ error: any Error) -> String {
        switch error {
        case let failure as DatabaseFailure:
            return failure.reason
        case let error as PSQLError:
            if let info = error.serverInfo {
                let state = info[.sqlState] ?? ""
                let message = info[.message] ?? "the server refused the request"
                switch state {
                case "3D000": return "\(message) (create it, or fix the database name in DATABASE_URL)"
                case "28P01", "28000": return "authentication failed: \(message) (check the user and password in DATABASE_URL)"
                case "57P01", "57P02", "57P03": return "the server is shutting down or starting up: \(message)"
                default: return state.isEmpty ? message : "\(message) (SQLSTATE \(state))"
                }
            }
            if let underlying = error.underlying { return reason(underlying) }
            switch error.code {
            case .serverClosedConnection, .uncleanShutdown: return "the server closed the connection"
            case .clientClosedConnection, .poolClosed: return "the connection was closed"
            case .sslUnsupported: return "the server does not support TLS (add ?sslmode=disable to DATABASE_URL to connect without it)"
            case .authMechanismRequiresPassword: return "the server asks for a password and DATABASE_URL gives none"
            case .unsupportedAuthMechanism: return "the server asks for an authentication method this client does not support"
            default: return "\(error.code)"
            }
        case let error as NIOConnectionError:
            let causes = error.connectionErrors.map { reason($0.error) }
            let detail = causes.first ?? error.dnsAAAAError.map(reason) ?? error.dnsAError.map(reason) ?? "no address to connect to"
            return "cannot connect to \(error.host):\(error.port): \(detail)"
        case let error as SocketAddressError:
            if case .unknown(let host, _) = error { return "the host \(host) is not known (check the host in DATABASE_URL)" }
            return "\(error)"
        case let error as IOError:
            return error.errnoCode == ECONNREFUSED ? "connection refused (is the server running, and on this port?)" : "\(error)"
        case is ChannelError:
            return "the connection failed (\(error))"
        case let error as any DatabaseError where error.isConnectionClosed:
            return "the connection was closed"
        default:
            let text = String(describing: error)
            return text.count > 300 ? String(text.prefix(300)) + "…" : text
        }
    }
}
