import AtriumCore
import Logging

/// With no SMTP server configured, mail is written to the log (and stays in the outbox, where staff
/// read it): a developer running Atrium on a laptop finds the verification link there.
struct LogTransport: MailTransport {
    let logger: Logger

    func send(_ mail: OutgoingMail) async throws {
        logger.notice("mail (no smtp_host configured, so logged) to \(mail.recipient): \(mail.subject)\n\(mail.body)")
    }
}
