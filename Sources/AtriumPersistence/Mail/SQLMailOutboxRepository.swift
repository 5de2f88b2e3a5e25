import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// The outbox in `mail_outbox`.
public struct SQLMailOutboxRepository: MailOutboxRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    private static let columns = ["id", "recipient", "subject", "body", "kind", "status", "attempts", "last_error", "created_at", "next_attempt_at", "sent_at"]

    public func insert(_ mail: OutgoingMail) async throws {
        try await sql.insert(into: "mail_outbox").columns(Self.columns)
            .values(
                SQLBind(mail.id.raw), SQLBind(mail.recipient), SQLBind(mail.subject), SQLBind(mail.body), SQLBind(mail.kind),
                SQLBind(mail.status.rawValue), SQLBind(Int64(mail.attempts)), SQLBind(mail.lastError), SQLBind(mail.createdAt),
                SQLBind(mail.nextAttemptAt), SQLBind(mail.sentAt))
            .run()
    }

    public func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutgoingMail] {
        let due = try await sql.select().columns(Self.columns.map { SQLColumn($0) }).from("mail_outbox")
            .where("status", .equal, OutgoingMail.Status.pending.rawValue).where("next_attempt_at", .lessThanOrEqual, now)
            .orderBy("next_attempt_at").limit(limit).all().map(Self.mail)
        var claimed: [OutgoingMail] = []
        for mail in due {
            // Only the instance whose update still finds the message due takes it (the lease moves it
            // past `now` for everyone else). Dates are not compared for equality: they round on the way
            // through SQLite's REAL.
            let taken = try await sql.update("mail_outbox").set("next_attempt_at", to: leaseUntil)
                .where("id", .equal, mail.id.raw).where("status", .equal, OutgoingMail.Status.pending.rawValue)
                .where("next_attempt_at", .lessThanOrEqual, now)
                .returning("id").all()
            if !taken.isEmpty { claimed.append(mail) }
        }
        return claimed
    }

    public func markSent(_ id: MailID, attempts: Int, at date: Date) async throws {
        try await sql.update("mail_outbox")
            .set("status", to: OutgoingMail.Status.sent.rawValue).set("attempts", to: Int64(attempts)).set("sent_at", to: date)
            .where("id", .equal, id.raw).run()
    }

    public func markFailed(_ id: MailID, attempts: Int, error: String, retryAt: Date?) async throws {
        let update = sql.update("mail_outbox").set("attempts", to: Int64(attempts)).set("last_error", to: error)
        if let retryAt { update.set("next_attempt_at", to: retryAt) } else { update.set("status", to: OutgoingMail.Status.failed.rawValue) }
        try await update.where("id", .equal, id.raw).run()
    }

    public func retryNow(_ id: MailID, now: Date) async throws -> Bool {
        try await !sql.update("mail_outbox")
            .set("status", to: OutgoingMail.Status.pending.rawValue).set("next_attempt_at", to: now)
            .where("id", .equal, id.raw).where("status", .notEqual, OutgoingMail.Status.sent.rawValue)
            .returning("id").all().isEmpty
    }

    public func find(_ id: MailID) async throws -> OutgoingMail? {
        try await sql.select().columns(Self.columns.map { SQLColumn($0) }).from("mail_outbox").where("id", .equal, id.raw).first().map(Self.mail)
    }

    public func list(status: OutgoingMail.Status?, recipient: String?, limit: Int) async throws -> [OutgoingMail] {
        let select = sql.select().columns(Self.columns.map { SQLColumn($0) }).from("mail_outbox")
        if let status { select.where("status", .equal, status.rawValue) }
        if let recipient, !recipient.isEmpty {
            select.where("recipient", .like, "%" + SQLAuditRepository.escapedLike(recipient.lowercased()) + "%")
        }
        return try await select.orderBy("created_at", .descending).limit(limit).all().map(Self.mail)
    }

    private static func mail(_ row: any SQLRow) throws -> OutgoingMail {
        OutgoingMail(
            id: MailID(raw: try row.decode(column: "id", as: UUID.self)), recipient: try row.decode(column: "recipient", as: String.self),
            subject: try row.decode(column: "subject", as: String.self), body: try row.decode(column: "body", as: String.self),
            kind: try row.decode(column: "kind", as: String.self),
            status: OutgoingMail.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .pending,
            attempts: Int(try row.decode(column: "attempts", as: Int64.self)), lastError: try row.decode(column: "last_error", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), nextAttemptAt: try row.decode(column: "next_attempt_at", as: Date.self),
            sentAt: try row.decode(column: "sent_at", as: Date?.self))
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }
}
