import Foundation

/// What a one-time link sent by mail lets its holder do.
public enum AccountTokenPurpose: String, Sendable, CaseIterable {
    case verifyEmail = "verify_email"
    case resetPassword = "reset_password"
    case changeEmail = "change_email"

    /// How long a link stays good: a reset is sensitive, so it is short.
    public var lifetime: TimeInterval {
        switch self {
        case .verifyEmail: 48 * 3600
        case .resetPassword: 3600
        case .changeEmail: 24 * 3600
        }
    }
}

/// A one-time link's record: the mail holds the token, the database only its hash.
public struct AccountToken: Sendable, Equatable {
    public var tokenHash: String
    public var userID: UserID
    public var purpose: AccountTokenPurpose
    /// The address a `changeEmail` link moves the account to.
    public var newEmail: String?
    public var createdAt: Date
    public var expiresAt: Date

    public init(tokenHash: String, userID: UserID, purpose: AccountTokenPurpose, newEmail: String?, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userID = userID
        self.purpose = purpose
        self.newEmail = newEmail
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public protocol AccountTokenRepository: Sendable {
    /// Stores `token`, dropping the user's earlier tokens of the same purpose (only the newest link works).
    func replace(with token: AccountToken) async throws
    /// Deletes and returns the token when it exists, has `purpose` and has not expired at `now`; one
    /// caller at most gets it, however many race.
    func consume(tokenHash: String, purpose: AccountTokenPurpose, now: Date) async throws -> AccountToken?
}
