import FluentKit
import SQLKit

/// Announcements and changelog entries written by staff.
struct M0018CreatePosts: AsyncMigration {
    var name: String { "0018_CreatePosts" }

    func prepare(on database: any Database) async throws {
        try await database.schema("posts")
            .id()
            .field("kind", .string, .required)
            .field("title", .string, .required)
            .field("body", .string, .required)
            .field("author_id", .uuid, .required)
            .field("published_at", .datetime, .required)
            .create()
        try await (database as! any SQLDatabase).create(index: "posts_kind_published").on("posts").column("kind").column("published_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("posts").delete()
    }
}
