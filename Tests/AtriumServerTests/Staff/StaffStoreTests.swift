import AtriumCore
import Foundation
import Testing

@testable import AtriumPersistence
@testable import AtriumServer

/// The staff console's reads and the audit log in the real databases (SQLite and PostgreSQL): searches
/// that ignore case and treat LIKE's wildcards as text, audit filters, and usage found by request id
/// within its organization only.
@Suite struct StaffStoreTests {
    func services(_ database: TestDatabase) async throws -> AtriumServices {
        try await AtriumServices.make(config: try await testConfig(database), logger: testLogger)
    }

    @Test(arguments: TestDatabase.all)
    func staffFindUsersAndOrganizationsWhateverTheCase(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let ada = try await services.accounts.register(email: "ada-\(tag)@example.com", password: "correct horse", name: "Ada Lovelace")
        _ = try await services.accounts.register(email: "grace-\(tag)@example.com", password: "correct horse", name: "Grace")

        let byName = try await services.accounts.staffSearch("LOVELACE")
        #expect(byName.users.map(\.user.id).contains(ada.id))
        #expect(byName.organizations.contains { $0.name == "Ada Lovelace's organization" })
        let byEmail = try await services.accounts.staffSearch(tag.uppercased())
        #expect(Set(byEmail.users.map(\.user.email)) == ["ada-\(tag)@example.com", "grace-\(tag)@example.com"])
        // Each with their organizations: their personal one.
        #expect(byEmail.users.allSatisfy { $0.memberships.map(\.organization.isPersonal) == [true] && $0.memberships.first?.role == .owner })
        // A wildcard typed into the box is text, not "everything".
        #expect(try await services.accounts.staffSearch("%\(tag)_x").users.isEmpty)

        // Page by page, newest first, each user once.
        let carol = try await services.accounts.register(email: "carol-\(tag)@example.com", password: "correct horse", name: "Carol")
        let first = try await services.accounts.staffSearch(tag, page: 1, pageSize: 2)
        let second = try await services.accounts.staffSearch(tag, page: 2, pageSize: 2)
        #expect(first.users.count == 2 && first.users.first?.user.email == carol.email && first.more)
        #expect(second.users.count == 1 && Set((first.users + second.users).map(\.user.email)).count == 3 && !second.more)
        #expect(try await services.accounts.staffSearch(tag, page: 3, pageSize: 2).users.isEmpty)

        let organization = try await services.accounts.actingOrganization(nil, user: ada.id).organization
        let seen = try await services.accounts.organizationForStaff(organization.id)
        #expect(seen.members.map(\.user.id) == [ada.id])
        await #expect(throws: AtriumError.self) { try await services.accounts.organizationForStaff(.generate()) }
    }

    @Test(arguments: TestDatabase.all)
    func theAuditLogKeepsWhoDidWhatAndFiltersIt(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let admin = try await services.accounts.register(
            email: "admin-\(tag)@example.com", password: "correct horse", name: "Admin", staffRole: .admin)
        let organization = try await services.accounts.actingOrganization(nil, user: admin.id).organization.id
        let actions = StaffActions(credits: services.credits, audit: services.audit, accounts: services.accounts, keys: services.keys, plans: ["pro"])
        _ = try await actions.grant(.grant, amount: 2_000_000, to: organization, description: "welcome", by: admin, address: "192.0.2.7")
        try await actions.setPlan("pro", of: organization, by: admin, address: nil)
        await #expect(throws: AtriumError.self) { try await actions.setPlan("platinum", of: organization, by: admin, address: nil) }

        let mine = try await services.audit.events(AuditQuery(actor: "ADMIN-\(tag)"))
        #expect(mine.map(\.action) == ["plan.change", "credit.grant"])
        #expect(mine.last?.details == "+2.000000 (welcome); balance 7.000000")
        #expect(mine.last?.address == "192.0.2.7" && mine.last?.target == "organization:\(organization)")
        #expect(try await services.audit.events(AuditQuery(actor: "admin-\(tag)", action: "credit")).map(\.action) == ["credit.grant"])
        #expect(try await services.audit.events(AuditQuery(actor: "admin-\(tag)", action: "cred")).isEmpty)

        let member = try await services.accounts.register(email: "member-\(tag)@example.com", password: "correct horse", name: "M")
        await #expect(throws: AtriumError.self) {
            _ = try await actions.grant(.grant, amount: 1, to: organization, description: "sneaky", by: member, address: nil)
        }
        #expect(try await services.audit.events(AuditQuery(actor: "member-\(tag)")).isEmpty)
    }

    @Test(arguments: TestDatabase.all)
    func aRequestIsFoundByItsIdInItsOwnOrganizationOnly(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        func organization() async throws -> OrganizationID {
            let user = try await services.accounts.register(email: "\(UUID().uuidString.prefix(8))@example.com", password: "correct horse", name: "T")
            return try await services.accounts.actingOrganization(nil, user: user.id).organization.id
        }
        let (mine, theirs) = (try await organization(), try await organization())
        let record = UsageRecord(
            requestID: "req-find-me", organizationID: mine, keyID: .generate(), model: "m", provider: "p", promptTokens: 3,
            completionTokens: 4, costMicros: 0, priceID: nil, status: 200, finishReason: "stop", streamed: false, estimated: false,
            latencyMilliseconds: 5, createdAt: Date())
        _ = try await services.usage.commit([record], mayRepeat: false)
        #expect(try await services.usage.records(UsageQuery(organizationID: mine, requestID: "req-find-me"), limit: 5).map(\.id) == [record.id])
        #expect(try await services.usage.records(UsageQuery(organizationID: theirs, requestID: "req-find-me"), limit: 5).isEmpty)
        #expect(try await services.usage.buckets(UsageQuery(organizationID: mine, requestID: "req-find-me")).first?.requests == 1)
    }

    /// Staff find a key by the start of its secret as shown (`atr_` holds LIKE's `_`), on both databases.
    @Test(arguments: TestDatabase.all)
    func keysAreFoundByTheirPrefix(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let user = try await services.accounts.register(email: "keys-\(UUID().uuidString.prefix(8))@example.com", password: "correct horse", name: "K")
        let organization = try await services.accounts.actingOrganization(nil, user: user.id).organization.id
        let made = try await services.keys.create(organization: organization, createdBy: user.id, name: "leaked", scopes: nil, expiresAt: nil)
        let prefix = made.key.displayPrefix
        #expect(try await services.keys.keys(prefix: prefix).map(\.id) == [made.key.id])
        #expect(try await services.keys.keys(prefix: String(prefix.prefix(8)) + "…").contains { $0.id == made.key.id })
        #expect(try await services.keys.keys(prefix: "atr_").isEmpty)  // too short: not every key
        #expect(try await services.keys.keys(prefix: "atrX" + prefix.dropFirst(4)).isEmpty)  // `_` is not a wildcard
        #expect(try await services.keys.keys(prefix: "atr_%%%%").isEmpty)
    }
}
