import AtriumCore
import Foundation
import Testing

@testable import AtriumServer

/// Invitations, roles and leaving, through the real repositories and the outbox, on SQLite and
/// PostgreSQL.
@Suite struct OrganizationMembersTests {
    func services(_ database: TestDatabase) async throws -> AtriumServices {
        try await AtriumServices.make(config: try await testConfig(database), logger: testLogger)
    }

    func user(_ services: AtriumServices, _ name: String, _ tag: String) async throws -> User {
        try await services.accounts.register(email: "\(name)-\(tag)@example.com", password: "correct horse", name: name)
    }

    @Test(arguments: TestDatabase.all)
    func anEmailInvitationIsMailedAndOnlyThatAddressJoins(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let owner = try await user(services, "owner", tag), invitee = try await user(services, "invitee", tag), other = try await user(services, "other", tag)
        let team = try await services.accounts.createOrganization(name: "Team \(tag)", owner: owner.id)

        let (invitation, token) = try await services.members.invite(email: invitee.email.uppercased(), role: .admin, to: team.id, by: owner, language: "en")
        #expect(invitation.email == invitee.email)
        let mail = try #require(try await services.outbox.list(recipient: invitee.email).first)
        #expect(mail.kind == "invitation" && mail.body.contains("/invitations/\(token)") && mail.subject.contains("Team \(tag)"))
        await #expect(throws: AtriumError.self) { try await services.members.accept(token: token, by: other) }
        // The right address, not verified yet: anyone could have signed up with it.
        await #expect(throws: AtriumError.permissionDenied("Verify your email address first, then accept the invitation.", code: "email_not_verified")) {
            try await services.members.accept(token: token, by: invitee)
        }
        var verified = invitee
        verified.emailVerifiedAt = Date()
        try await services.members.accept(token: token, by: verified)
        #expect(try await services.accounts.organization(team.id, seenBy: invitee.id).role == .admin)
        await #expect(throws: AtriumError.self) { try await services.members.accept(token: token, by: invitee) }  // used up
        #expect(try await services.members.pendingInvitations(of: team.id, seenBy: owner.id).isEmpty)

        // Inviting a member again, or into a personal organization, is refused.
        await #expect(throws: AtriumError.self) {
            _ = try await services.members.invite(email: invitee.email, role: .member, to: team.id, by: owner, language: "en")
        }
        let personal = try await services.accounts.actingOrganization(nil, user: owner.id).organization
        await #expect(throws: AtriumError.self) { _ = try await services.members.invite(email: nil, role: .member, to: personal.id, by: owner, language: "en") }
    }

    @Test(arguments: TestDatabase.all)
    func linksWorkOnceAndOnlyManagersMakeThem(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let owner = try await user(services, "owner", tag), first = try await user(services, "first", tag), second = try await user(services, "second", tag)
        let team = try await services.accounts.createOrganization(name: "Team \(tag)", owner: owner.id)
        let (_, link) = try await services.members.invite(email: nil, role: .member, to: team.id, by: owner, language: "en")
        try await services.members.accept(token: link, by: first)
        await #expect(throws: AtriumError.self) { try await services.members.accept(token: link, by: second) }

        // A member may not invite; an admin may not make an owner.
        await #expect(throws: AtriumError.self) { _ = try await services.members.invite(email: nil, role: .member, to: team.id, by: first, language: "en") }
        try await services.members.setRole(.admin, of: first.id, in: team.id, by: owner.id)
        await #expect(throws: AtriumError.self) { _ = try await services.members.invite(email: nil, role: .owner, to: team.id, by: first, language: "en") }
        let (revoked, revokedToken) = try await services.members.invite(email: nil, role: .member, to: team.id, by: first, language: "en")
        try await services.members.revokeInvitation(revoked.id, of: team.id, by: owner.id)
        await #expect(throws: AtriumError.self) { try await services.members.accept(token: revokedToken, by: second) }
        // A stranger cannot see or revoke another organization's invitations.
        await #expect(throws: AtriumError.self) { _ = try await services.members.pendingInvitations(of: team.id, seenBy: second.id) }
    }

    @Test(arguments: TestDatabase.all)
    func anOrganizationAlwaysKeepsAnOwner(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let owner = try await user(services, "owner", tag), admin = try await user(services, "admin", tag)
        let team = try await services.accounts.createOrganization(name: "Team \(tag)", owner: owner.id)
        let (_, link) = try await services.members.invite(email: nil, role: .admin, to: team.id, by: owner, language: "en")
        try await services.members.accept(token: link, by: admin)

        await #expect(throws: AtriumError.self) { try await services.members.setRole(.member, of: owner.id, in: team.id, by: owner.id) }
        await #expect(throws: AtriumError.self) { try await services.members.setRole(.member, of: owner.id, in: team.id, by: admin.id) }
        await #expect(throws: AtriumError.self) { try await services.members.leave(team.id, user: owner.id) }
        try await services.members.setRole(.owner, of: admin.id, in: team.id, by: owner.id)
        try await services.members.leave(team.id, user: owner.id)
        #expect(try await services.accounts.members(of: team.id, seenBy: admin.id).map(\.user.id) == [admin.id])
        let personal = try await services.accounts.actingOrganization(nil, user: admin.id).organization
        await #expect(throws: AtriumError.self) { try await services.members.leave(personal.id, user: admin.id) }
    }
}
