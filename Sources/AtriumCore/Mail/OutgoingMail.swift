import Foundation

public struct MailID: TypedIdentifier {
    public let raw: UUID
    public init(raw: UUID) { self.raw = raw }
}

/// One message in the outbox, from the moment it is written until it is sent (or for as long as
/// sending fails: a message is never dropped).
public struct OutgoingMail: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        /// Waiting for its first try or a retry.
        case pending
        /// Handed to the SMTP server (or, with no server configured, written to the log).
        case sent
        /// Tried `MailOutbox.maxAttempts` times over about a day; kept for staff, who can try again.
        case failed
    }

    public var id: MailID
    public var recipient: String
    public var subject: String
    public var body: String
    /// What the message is for (`verify_email`, `reset_password`, …), for staff reading the outbox.
    public var kind: String
    public var status: Status
    public var attempts: Int
    public var lastError: String?
    public var createdAt: Date
    public var nextAttemptAt: Date
    public var sentAt: Date?

    public init(
        id: MailID, recipient: String, subject: String, body: String, kind: String, status: Status = .pending, attempts: Int = 0,
        lastError: String? = nil, createdAt: Date, nextAttemptAt: Date, sentAt: Date? = nil
    ) {
        self.id = id
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.kind = kind
        self.status = status
        self.attempts = attempts
        self.lastError = lastError
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt
        self.sentAt = sentAt
    }
}

/// A message ready to write to the outbox.
public struct MailDraft: Sendable, Equatable {
    public var recipient: String
    public var subject: String
    public var body: String
    public var kind: String

    public init(recipient: String, subject: String, body: String, kind: String) {
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.kind = kind
    }
}

public protocol MailOutboxRepository: Sendable {
    func insert(_ mail: OutgoingMail) async throws
    /// Up to `limit` pending messages due at `now`, each pushed to `leaseUntil` first so that another
    /// instance does not send it too while this one tries.
    func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutgoingMail]
    func markSent(_ id: MailID, attempts: Int, at date: Date) async throws
    /// Records a failed try: the message is due again at `retryAt`, or, with nil, it has failed for good.
    func markFailed(_ id: MailID, attempts: Int, error: String, retryAt: Date?) async throws
    /// Makes a pending or failed message due now (staff's "retry now"); false when there is none.
    func retryNow(_ id: MailID, now: Date) async throws -> Bool
    func find(_ id: MailID) async throws -> OutgoingMail?
    /// Newest first; `status` nil for all, `recipient` a part of the address.
    func list(status: OutgoingMail.Status?, recipient: String?, limit: Int) async throws -> [OutgoingMail]
}

/// Hands a message to whatever delivers mail.
public protocol MailTransport: Sendable {
    func send(_ mail: OutgoingMail) async throws
}
