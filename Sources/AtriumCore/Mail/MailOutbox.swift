import Foundation
import Logging

/// The outbox every message goes through: written to the database first, then sent by `deliverDue`
/// (a service calls it every second), retried with growing waits when the transport fails, and kept
/// for staff to read either way. Nothing is lost to a mail server that is down: the message waits,
/// and after `maxAttempts` (about a day of tries) it stays in the outbox as failed, for staff to retry.
public struct MailOutbox: Sendable {
    public static let maxAttempts = 30

    /// The waits before retries: 30 s, 1 min, 2 min, … up to an hour.
    public static func retryDelay(afterAttempts attempts: Int) -> TimeInterval {
        min(3600, 30 * pow(2, Double(max(0, min(attempts - 1, 12)))))
    }

    /// How long a claimed message is held back from other instances while this one sends it.
    static let lease: TimeInterval = 120

    private let repository: any MailOutboxRepository
    private let transport: any MailTransport
    private let clock: any TimeSource
    private let logger: Logger

    public init(repository: any MailOutboxRepository, transport: any MailTransport, clock: any TimeSource = SystemTimeSource(), logger: Logger) {
        self.repository = repository
        self.transport = transport
        self.clock = clock
        self.logger = logger
    }

    /// Writes the message to the outbox; it goes out within a second or so.
    @discardableResult
    public func enqueue(_ draft: MailDraft) async throws -> OutgoingMail {
        let now = clock.now()
        let mail = OutgoingMail(
            id: MailID(raw: TimeOrderedID.make()), recipient: draft.recipient, subject: draft.subject, body: draft.body, kind: draft.kind,
            createdAt: now, nextAttemptAt: now)
        try await repository.insert(mail)
        return mail
    }

    /// Sends what is due; returns how many went out.
    @discardableResult
    public func deliverDue(limit: Int = 20) async throws -> Int {
        let now = clock.now()
        let due = try await repository.claimDue(now: now, leaseUntil: now.addingTimeInterval(Self.lease), limit: limit)
        var sent = 0
        for mail in due {
            let attempts = mail.attempts + 1
            do {
                try await transport.send(mail)
                try await repository.markSent(mail.id, attempts: attempts, at: clock.now())
                sent += 1
            } catch {
                let retryAt = attempts < Self.maxAttempts ? clock.now().addingTimeInterval(Self.retryDelay(afterAttempts: attempts)) : nil
                let reason = String(String(describing: error).prefix(500))
                logger.warning(
                    "mail \(mail.id) (\(mail.kind)) to \(mail.recipient) failed, attempt \(attempts): \(reason); \(retryAt.map { "next try at \($0)" } ?? "no more tries")")
                try await repository.markFailed(mail.id, attempts: attempts, error: reason, retryAt: retryAt)
            }
        }
        return sent
    }

    public func retryNow(_ id: MailID) async throws {
        guard try await repository.retryNow(id, now: clock.now()) else {
            throw AtriumError.notFound("No pending or failed message with id \(id).")
        }
    }

    public func message(_ id: MailID) async throws -> OutgoingMail? { try await repository.find(id) }

    public func list(status: OutgoingMail.Status? = nil, recipient: String? = nil, limit: Int = 100) async throws -> [OutgoingMail] {
        try await repository.list(status: status, recipient: recipient, limit: limit)
    }
}
