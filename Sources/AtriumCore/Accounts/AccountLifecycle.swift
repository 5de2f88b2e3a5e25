import Foundation

/// What happens to an account after sign-up: verifying its email, a forgotten password, changing the
/// password or the email, and deleting it. One-time links go out by mail (`AccountMailer`); the
/// database keeps only their hashes, each works once and expires (`AccountTokenPurpose.lifetime`).
public struct AccountLifecycle: Sendable {
    private let accounts: any AccountRepository
    private let sessions: any SessionRepository
    private let tokens: any AccountTokenRepository
    private let keys: KeyService
    private let hasher: any PasswordHasher
    private let mailer: any AccountMailer
    private let clock: any TimeSource
    /// Links asked for, per address and per client: a mailbox cannot be flooded from here.
    private let mailThrottle: AttemptThrottle
    /// Wrong current passwords on the settings forms, per user: a stolen session cannot guess it.
    private let passwordThrottle: AttemptThrottle

    public init(
        accounts: any AccountRepository, sessions: any SessionRepository, tokens: any AccountTokenRepository, keys: KeyService,
        hasher: any PasswordHasher, mailer: any AccountMailer, clock: any TimeSource = SystemTimeSource(),
        mailThrottle: AttemptThrottle = AttemptThrottle(maxFailures: 5, window: 3600, message: "Too many emails asked for. Try again later."),
        passwordThrottle: AttemptThrottle = AttemptThrottle()
    ) {
        self.accounts = accounts
        self.sessions = sessions
        self.tokens = tokens
        self.keys = keys
        self.hasher = hasher
        self.mailer = mailer
        self.clock = clock
        self.mailThrottle = mailThrottle
        self.passwordThrottle = passwordThrottle
    }

    // MARK: Verifying the email

    /// Mails `user` a verification link (a new one replaces the last).
    public func sendVerification(to user: User, language: String) async throws {
        guard !user.isEmailVerified else { return }
        try mailThrottle.admit(["email:\(user.email)"], now: clock.now())
        let token = try await issue(.verifyEmail, for: user.id)
        try await mailer.send(.verifyEmail(user: user, token: token), language: language)
    }

    /// Marks the address verified; `invalidRequest` (`invalid_token`) when the link is unknown, used or expired.
    @discardableResult
    public func verifyEmail(token: String) async throws -> User {
        let record = try await consume(token, .verifyEmail)
        guard var user = try await accounts.findUser(id: record.userID) else { throw Self.invalidToken }
        if !user.isEmailVerified {
            let now = clock.now()
            try await accounts.markEmailVerified(user.id, at: now)
            user.emailVerifiedAt = now
        }
        return user
    }

    // MARK: A forgotten password

    /// Mails a reset link when an account has this address. It says nothing either way, so the form
    /// cannot tell which addresses have accounts; throttled per address and per client.
    public func requestPasswordReset(email rawEmail: String, clientAddress: String?, language: String) async throws {
        let email = try AccountRules.normalizedEmail(rawEmail)
        try mailThrottle.admit(["reset:\(email)"] + (clientAddress.map { ["reset-ip:\($0)"] } ?? []), now: clock.now())
        guard let user = try await accounts.findUser(email: email)?.user, !user.isDisabled else { return }
        let token = try await issue(.resetPassword, for: user.id)
        try await mailer.send(.resetPassword(user: user, token: token), language: language)
    }

    /// Sets a new password from a reset link; every session ends, and the address counts as verified
    /// (the link reached it).
    @discardableResult
    public func resetPassword(token: String, newPassword: String, language: String) async throws -> User {
        try AccountRules.validatePassword(newPassword)
        let record = try await consume(token, .resetPassword)
        guard let user = try await accounts.findUser(id: record.userID), !user.isDisabled else { throw Self.invalidToken }
        try await accounts.updatePasswordHash(user.id, to: try await hasher.hash(newPassword))
        try await sessions.deleteAll(of: user.id, keeping: nil)
        if !user.isEmailVerified { try await accounts.markEmailVerified(user.id, at: clock.now()) }
        try await mailer.send(.passwordChanged(user: user), language: language)
        return user
    }

    // MARK: Settings

    /// Changes the password after checking the current one; every other session ends.
    public func changePassword(
        user: User, current: String, new newPassword: String, keepingSession sessionToken: String?, language: String
    ) async throws {
        try await checkPassword(current, of: user)
        try AccountRules.validatePassword(newPassword)
        try await accounts.updatePasswordHash(user.id, to: try await hasher.hash(newPassword))
        try await sessions.deleteAll(of: user.id, keeping: sessionToken.map(Secrets.sha256Hex))
        try await mailer.send(.passwordChanged(user: user), language: language)
    }

    /// Mails a link to `newEmail`; the account moves there when it is followed.
    public func requestEmailChange(user: User, password: String, newEmail rawEmail: String, language: String) async throws {
        try await checkPassword(password, of: user)
        let newEmail = try AccountRules.normalizedEmail(rawEmail)
        guard newEmail != user.email else {
            throw AtriumError.invalidRequest("That is already your address.", param: "email", code: "same_email")
        }
        if try await accounts.findUser(email: newEmail) != nil {
            throw AtriumError.conflict("An account with this email already exists.", param: "email")
        }
        try mailThrottle.admit(["email:\(newEmail)", "user:\(user.id)"], now: clock.now())
        let token = try await issue(.changeEmail, for: user.id, newEmail: newEmail)
        try await mailer.send(.confirmEmailChange(user: user, newEmail: newEmail, token: token), language: language)
    }

    /// Moves the account to the address the link was sent to, and tells the old address.
    @discardableResult
    public func confirmEmailChange(token: String, language: String) async throws -> User {
        let record = try await consume(token, .changeEmail)
        guard var user = try await accounts.findUser(id: record.userID), let newEmail = record.newEmail else { throw Self.invalidToken }
        let oldEmail = user.email
        try await accounts.updateEmail(user.id, to: newEmail)
        let now = clock.now()
        try await accounts.markEmailVerified(user.id, at: now)
        user.email = newEmail
        user.emailVerifiedAt = now
        try await mailer.send(.emailChanged(user: user, oldEmail: oldEmail), language: language)
        return user
    }

    /// Deletes the account: its keys are revoked, its sessions end, its memberships go and its email
    /// and name are erased. An organization it owns with other members needs another owner first.
    public func deleteAccount(user: User, password: String) async throws {
        try await checkPassword(password, of: user)
        for membership in try await accounts.memberships(of: user.id) where !membership.organization.isPersonal && membership.role == .owner {
            let members = try await accounts.members(of: membership.organization.id)
            let otherOwners = members.filter { $0.role == .owner && $0.user.id != user.id }
            if otherOwners.isEmpty && members.count > 1 {
                throw AtriumError.invalidRequest(
                    "You are the only owner of \(membership.organization.name). Make another member an owner first.",
                    param: "organization", code: "sole_owner")
            }
        }
        try await keys.revokeAll(createdBy: user.id)
        try await sessions.deleteAll(of: user.id, keeping: nil)
        try await accounts.erase(user.id, at: clock.now())
    }

    // MARK: Helpers

    private func checkPassword(_ password: String, of user: User) async throws {
        let subject = ["user:\(user.id)"]
        try passwordThrottle.check(subject, now: clock.now())
        guard let hash = try await accounts.findUser(email: user.email)?.passwordHash,
            try await hasher.verify(password, hash: hash)
        else {
            passwordThrottle.recordFailure(subject, now: clock.now())
            throw AtriumError.invalidRequest("The current password is not right.", param: "password", code: "wrong_password")
        }
    }

    private func issue(_ purpose: AccountTokenPurpose, for user: UserID, newEmail: String? = nil) async throws -> String {
        let token = Secrets.randomBase62(count: 43)
        let now = clock.now()
        try await tokens.replace(
            with: AccountToken(
                tokenHash: Secrets.sha256Hex(token), userID: user, purpose: purpose, newEmail: newEmail, createdAt: now,
                expiresAt: now.addingTimeInterval(purpose.lifetime)))
        return token
    }

    private func consume(_ token: String, _ purpose: AccountTokenPurpose) async throws -> AccountToken {
        guard !token.isEmpty, token.utf8.count <= 128,
            let record = try await tokens.consume(tokenHash: Secrets.sha256Hex(token), purpose: purpose, now: clock.now())
        else { throw Self.invalidToken }
        return record
    }

    static let invalidToken = AtriumError.invalidRequest(
        "This link is not valid any more: it was used, replaced by a newer one, or it expired.", param: "token", code: "invalid_token")
}
