import Foundation

/// A message the account flows send to a person, with what it needs to be written; the server turns
/// it into mail in the reader's language (the strings live in its catalogs, not in the domain).
public enum AccountNotice: Sendable, Equatable {
    /// A link that proves the address belongs to `user`.
    case verifyEmail(user: User, token: String)
    /// A link to choose a new password.
    case resetPassword(user: User, token: String)
    /// Sent to `newEmail`: a link that moves the account there.
    case confirmEmailChange(user: User, newEmail: String, token: String)
    /// Sent to the old address once the account has moved, so a hijack does not go unseen.
    case emailChanged(user: User, oldEmail: String)
    /// Sent after a password change or reset.
    case passwordChanged(user: User)
    /// Sent to `email`: `inviter` asks them to join `organization`.
    case invitation(organization: Organization, inviter: User, email: String, token: String)
}

/// Writes account notices to the outbox.
public protocol AccountMailer: Sendable {
    func send(_ notice: AccountNotice, language: String) async throws
}
