import AtriumCore
import Foundation
import Synchronization
import Testing

@testable import AtriumPersistence
@testable import AtriumServer

/// A clock the test moves by hand.
final class ManualClock: TimeSource, Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_900_000_000.123_456))  // fractional, as real times are
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

/// The account flows after sign-up, through the real repositories and the outbox, on SQLite and
/// PostgreSQL: links are read back out of the mail, as a person would.
@Suite struct AccountLifecycleTests {
    func services(_ database: TestDatabase) async throws -> AtriumServices {
        try await AtriumServices.make(config: try await testConfig(database), logger: testLogger)
    }

    /// The token in the newest mail of `kind` to `recipient`.
    func link(_ services: AtriumServices, to recipient: String, kind: String) async throws -> String {
        let mail = try #require(try await services.outbox.list(recipient: recipient).first { $0.kind == kind && $0.recipient == recipient })
        let token = try #require(mail.body.components(separatedBy: "token=").dropFirst().first?.prefix { $0.isLetter || $0.isNumber })
        return String(token)
    }

    @Test(arguments: TestDatabase.all)
    func verificationLinksWorkOnceAndOnlyTheNewest(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let email = "verify-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let user = try await services.accounts.register(email: email, password: "correct horse", name: "Vera")
        #expect(!user.isEmailVerified)
        try await services.lifecycle.sendVerification(to: user, language: "en")
        let first = try await link(services, to: email, kind: "verify_email")
        try await services.lifecycle.sendVerification(to: user, language: "zh-Hans")
        let second = try await link(services, to: email, kind: "verify_email")
        #expect(first != second)
        let newest = try #require(try await services.outbox.list(recipient: email).first)
        #expect(newest.subject.contains("验证") && newest.body.contains("/verify-email?token=\(second)"))

        // A replaced link is dead; the newest works once.
        await #expect(throws: AtriumError.self) { try await services.lifecycle.verifyEmail(token: first) }
        let verified = try await services.lifecycle.verifyEmail(token: second)
        #expect(verified.isEmailVerified)
        #expect(try await services.accounts.user(id: user.id)?.isEmailVerified == true)
        await #expect(throws: AtriumError.self) { try await services.lifecycle.verifyEmail(token: second) }
        await #expect(throws: AtriumError.self) { try await services.lifecycle.verifyEmail(token: "") }
    }

    @Test(arguments: TestDatabase.all)
    func aResetLinkSetsANewPasswordAndEndsEverySession(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let email = "reset-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let session = try await services.accounts.signUp(email: email, password: "correct horse", name: "Rita")

        // An unknown address is answered the same way, and no mail goes out.
        try await services.lifecycle.requestPasswordReset(email: "nobody-\(email)", clientAddress: nil, language: "en")
        #expect(try await services.outbox.list(recipient: "nobody-\(email)").isEmpty)

        try await services.lifecycle.requestPasswordReset(email: email.uppercased(), clientAddress: nil, language: "en")
        let token = try await link(services, to: email, kind: "reset_password")
        // A weak password is refused without using the link up.
        await #expect(throws: AtriumError.invalidRequest("A password needs at least 8 characters.", param: "password", code: "password_too_short")) {
            try await services.lifecycle.resetPassword(token: token, newPassword: "short", language: "en")
        }
        // A link for another purpose does not reset.
        await #expect(throws: AtriumError.self) { try await services.lifecycle.verifyEmail(token: token) }
        try await services.lifecycle.requestPasswordReset(email: email, clientAddress: nil, language: "en")
        let fresh = try await link(services, to: email, kind: "reset_password")
        try await services.lifecycle.resetPassword(token: fresh, newPassword: "battery staple", language: "en")

        #expect(try await services.accounts.user(sessionToken: session.token) == nil)
        await #expect(throws: AtriumError.self) { try await services.accounts.logIn(email: email, password: "correct horse", clientAddress: nil) }
        let again = try await services.accounts.logIn(email: email, password: "battery staple", clientAddress: nil)
        #expect(again.user.isEmailVerified)  // the link reached the mailbox
        await #expect(throws: AtriumError.self) {
            try await services.lifecycle.resetPassword(token: fresh, newPassword: "another one", language: "en")
        }
        #expect(try await services.outbox.list(recipient: email).contains { $0.kind == "password_changed" })
    }

    @Test(arguments: TestDatabase.all)
    func resetRequestsAreThrottledPerAddress(_ database: TestDatabase) async throws {
        var config = try await testConfig(database)
        config.mailLinksPerHour = 5  // the default
        let services = try await AtriumServices.make(config: config, logger: testLogger)
        defer { Task { await services.database.shutdown() } }
        let email = "flood-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        _ = try await services.accounts.register(email: email, password: "correct horse", name: "F")
        for _ in 0..<5 { try await services.lifecycle.requestPasswordReset(email: email, clientAddress: "192.0.2.1", language: "en") }
        await #expect(throws: AtriumError.self) {
            try await services.lifecycle.requestPasswordReset(email: email, clientAddress: "192.0.2.2", language: "en")
        }
        #expect(try await services.outbox.list(recipient: email).count == 5)
    }

    @Test(arguments: TestDatabase.all)
    func passwordAndEmailChangesNeedTheCurrentPassword(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let email = "change-\(tag)@example.com"
        let here = try await services.accounts.signUp(email: email, password: "correct horse", name: "Cal")
        let elsewhere = try await services.accounts.logIn(email: email, password: "correct horse", clientAddress: nil)
        let user = here.user

        await #expect(throws: AtriumError.invalidRequest("The current password is not right.", param: "password", code: "wrong_password")) {
            try await services.lifecycle.changePassword(user: user, current: "wrong", new: "battery staple", keepingSession: here.token, language: "en")
        }
        try await services.lifecycle.changePassword(user: user, current: "correct horse", new: "battery staple", keepingSession: here.token, language: "en")
        #expect(try await services.accounts.user(sessionToken: here.token)?.id == user.id)
        #expect(try await services.accounts.user(sessionToken: elsewhere.token) == nil)

        let taken = "taken-\(tag)@example.com"
        _ = try await services.accounts.register(email: taken, password: "correct horse", name: "T")
        await #expect(throws: AtriumError.self) {
            try await services.lifecycle.requestEmailChange(user: user, password: "battery staple", newEmail: taken, language: "en")
        }
        await #expect(throws: AtriumError.self) {
            try await services.lifecycle.requestEmailChange(user: user, password: "correct horse", newEmail: "new-\(tag)@example.com", language: "en")
        }
        try await services.lifecycle.requestEmailChange(user: user, password: "battery staple", newEmail: "New-\(tag)@Example.com", language: "en")
        #expect(try await services.accounts.user(id: user.id)?.email == email)  // not before the link is followed
        let token = try await link(services, to: "new-\(tag)@example.com", kind: "confirm_email_change")
        let moved = try await services.lifecycle.confirmEmailChange(token: token, language: "en")
        #expect(moved.email == "new-\(tag)@example.com" && moved.isEmailVerified)
        #expect(try await services.outbox.list(recipient: email).contains { $0.kind == "email_changed" })
        _ = try await services.accounts.logIn(email: "new-\(tag)@example.com", password: "battery staple", clientAddress: nil)
        await #expect(throws: AtriumError.self) { try await services.accounts.logIn(email: email, password: "battery staple", clientAddress: nil) }
    }

    @Test(arguments: TestDatabase.all)
    func deletingAnAccountRevokesItsKeysAndErasesIt(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let email = "leaving-\(tag)@example.com"
        let session = try await services.accounts.signUp(email: email, password: "correct horse", name: "Lee")
        let user = session.user
        let personal = try await services.accounts.actingOrganization(nil, user: user.id).organization
        let key = try await services.keys.create(organization: personal.id, createdBy: user.id, name: "app", scopes: nil, expiresAt: nil)
        _ = try await services.keys.authenticate(secret: key.secret)

        // The only owner of a team with other members must hand it over first.
        let team = try await services.accounts.createOrganization(name: "Team \(tag)", owner: user.id)
        let colleague = try await services.accounts.register(email: "colleague-\(tag)@example.com", password: "correct horse", name: "Col")
        _ = try await services.accounts.addMember(email: colleague.email, role: .member, to: team.id, by: user.id)
        await #expect(throws: AtriumError.self) { try await services.lifecycle.deleteAccount(user: user, password: "correct horse") }
        _ = try await services.accounts.addMember(email: colleague.email, role: .owner, to: team.id, by: user.id)
        await #expect(throws: AtriumError.self) { try await services.lifecycle.deleteAccount(user: user, password: "wrong password") }

        try await services.lifecycle.deleteAccount(user: user, password: "correct horse")
        await #expect(throws: AtriumError.self) { _ = try await services.keys.authenticate(secret: key.secret) }
        #expect(try await services.accounts.user(sessionToken: session.token) == nil)
        #expect(try await services.accounts.user(email: email) == nil)
        await #expect(throws: AtriumError.self) { try await services.accounts.logIn(email: email, password: "correct horse", clientAddress: nil) }
        #expect(try await services.accounts.members(of: team.id, seenBy: colleague.id).map(\.user.id) == [colleague.id])
        let erased = try #require(try await services.accounts.user(id: user.id))
        #expect(erased.name.isEmpty && !erased.email.contains(tag))
        // The address is free again.
        _ = try await services.accounts.register(email: email, password: "correct horse", name: "Lee again")
    }

    @Test(arguments: TestDatabase.all)
    func linksExpire(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let clock = ManualClock()
        let mail = RecordingMailer()
        let lifecycle = AccountLifecycle(
            accounts: FluentAccountRepository(database: services.database), sessions: FluentSessionRepository(database: services.database),
            tokens: FluentAccountTokenRepository(database: services.database), keys: services.keys, hasher: BcryptPasswordHasher(cost: 4),
            mailer: mail, clock: clock)
        let user = try await services.accounts.register(
            email: "late-\(UUID().uuidString.prefix(8).lowercased())@example.com", password: "correct horse", name: "Late")
        try await lifecycle.requestPasswordReset(email: user.email, clientAddress: nil, language: "en")
        clock.advance(AccountTokenPurpose.resetPassword.lifetime + 1)
        await #expect(throws: AtriumError.self) { try await lifecycle.resetPassword(token: try #require(mail.lastToken), newPassword: "battery staple", language: "en") }

        try await lifecycle.sendVerification(to: user, language: "en")
        clock.advance(AccountTokenPurpose.verifyEmail.lifetime - 60)
        #expect(try await lifecycle.verifyEmail(token: try #require(mail.lastToken)).isEmailVerified)
    }
}

/// Keeps the notices instead of mailing them.
final class RecordingMailer: AccountMailer, Sendable {
    private let notices = Mutex<[AccountNotice]>([])

    func send(_ notice: AccountNotice, language: String) async throws { notices.withLock { $0.append(notice) } }

    var lastToken: String? {
        notices.withLock { notices in
            notices.reversed().lazy.compactMap { notice -> String? in
                switch notice {
                case .verifyEmail(_, let token), .resetPassword(_, let token), .confirmEmailChange(_, _, let token): token
                default: nil
                }
            }.first
        }
    }
}
