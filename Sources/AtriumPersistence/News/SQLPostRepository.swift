import AtriumCore
import FluentKit
import Foundation
import SQLKit

/// Posts in `posts`.
public struct SQLPostRepository: PostRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    private static let columns = ["id", "kind", "title", "body", "author_id", "published_at"]

    public func insert(_ post: Post) async throws {
        try await sql.insert(into: "posts").columns(Self.columns)
            .values(
                SQLBind(post.id.raw), SQLBind(post.kind.rawValue), SQLBind(post.title), SQLBind(post.body), SQLBind(post.author.raw),
                SQLBind(post.publishedAt))
            .run()
    }

    public func posts(of kind: Post.Kind, limit: Int) async throws -> [Post] {
        try await sql.select().columns(Self.columns.map { SQLColumn($0) }).from("posts").where("kind", .equal, kind.rawValue)
            .orderBy("published_at", .descending).limit(limit).all().map(Self.post)
    }

    public func find(_ id: PostID) async throws -> Post? {
        try await sql.select().columns(Self.columns.map { SQLColumn($0) }).from("posts").where("id", .equal, id.raw).first().map(Self.post)
    }

    public func delete(_ id: PostID) async throws -> Bool {
        try await !sql.delete(from: "posts").where("id", .equal, id.raw).returning("id").all().isEmpty
    }

    private static func post(_ row: any SQLRow) throws -> Post {
        Post(
            id: PostID(raw: try row.decode(column: "id", as: UUID.self)),
            kind: Post.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .announcement,
            title: try row.decode(column: "title", as: String.self), body: try row.decode(column: "body", as: String.self),
            author: UserID(raw: try row.decode(column: "author_id", as: UUID.self)),
            publishedAt: try row.decode(column: "published_at", as: Date.self))
    }

    private var sql: any SQLDatabase { database.database as! any SQLDatabase }
}
