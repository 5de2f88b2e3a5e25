import FluentKit
import SQLKit

/// Memberships found by their user: every signed-in page reads the reader's organizations, and the
/// only index began with the organization, so each read scanned every membership.
struct M0020IndexMembershipsByUser: AsyncMigration {
    var name: String { "0020_IndexMembershipsByUser" }

    func prepare(on database: any Database) async throws {
        try await (database as! any SQLDatabase).create(index: "memberships_user").on("memberships").column("user_id").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).drop(index: "memberships_user").run()
    }
}
