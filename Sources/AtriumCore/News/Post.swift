import Foundation
import Synchronization

public struct PostID: TypedIdentifier {
    public let raw: UUID
    public init(raw: UUID) { self.raw = raw }
}

/// What staff publish for developers: an announcement (news, incidents, events) or a changelog entry
/// (what changed in the platform). The body is Markdown, shown escaped (`SafeMarkdown`).
public struct Post: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case announcement, changelog
    }

    public static let maxTitleLength = 200
    public static let maxBodyLength = 20_000

    public var id: PostID
    public var kind: Kind
    public var title: String
    public var body: String
    public var author: UserID
    public var publishedAt: Date

    public init(id: PostID, kind: Kind, title: String, body: String, author: UserID, publishedAt: Date) {
        self.id = id
        self.kind = kind
        self.title = title
        self.body = body
        self.author = author
        self.publishedAt = publishedAt
    }
}

public protocol PostRepository: Sendable {
    func insert(_ post: Post) async throws
    /// Newest first.
    func posts(of kind: Post.Kind, limit: Int) async throws -> [Post]
    func find(_ id: PostID) async throws -> Post?
    func delete(_ id: PostID) async throws -> Bool
}

/// Publishing and reading posts; the rules for their text in one place.
public struct NewsService: Sendable {
    private let repository: any PostRepository
    private let clock: any TimeSource
    /// The newest announcement as last read, and when (every dashboard shows it).
    private let latest = LatestAnnouncement()

    /// How long the newest announcement is taken as read; a publish or delete here reads it again at
    /// once, one on another instance within this.
    public static let latestLifetime: TimeInterval = 30

    public init(repository: any PostRepository, clock: any TimeSource = SystemTimeSource()) {
        self.repository = repository
        self.clock = clock
    }

    /// Publishes a post now; `invalidRequest` naming the field when the title or body breaks a rule.
    public func publish(_ kind: Post.Kind, title rawTitle: String, body rawBody: String, by author: UserID) async throws -> Post {
        let title = rawTitle.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= Post.maxTitleLength, !title.contains(where: \.isNewline) else {
            throw AtriumError.invalidRequest("A title is 1 to \(Post.maxTitleLength) characters on one line.", param: "title", code: "invalid_title")
        }
        let body = rawBody.replacingOccurrences(of: "\r\n", with: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty, body.count <= Post.maxBodyLength else {
            throw AtriumError.invalidRequest("A text is 1 to \(Post.maxBodyLength) characters.", param: "body", code: "invalid_body")
        }
        let post = Post(id: PostID(raw: TimeOrderedID.make()), kind: kind, title: title, body: body, author: author, publishedAt: clock.now())
        try await repository.insert(post)
        latest.forget()
        return post
    }

    /// The newest announcement, if any.
    public func latestAnnouncement() async throws -> Post? {
        let now = clock.now()
        if let kept = latest.kept(at: now, lifetime: Self.latestLifetime) { return kept }
        let post = try await repository.posts(of: .announcement, limit: 1).first
        latest.keep(post, at: now)
        return post
    }

    public func posts(_ kind: Post.Kind, limit: Int = 50) async throws -> [Post] { try await repository.posts(of: kind, limit: limit) }

    public func post(_ id: PostID) async throws -> Post? { try await repository.find(id) }

    public func delete(_ id: PostID) async throws {
        guard try await repository.delete(id) else { throw AtriumError.notFound("No post with id \(id).") }
        latest.forget()
    }
}

/// `NewsService`'s newest announcement: nil inside means "none was published", no entry at all
/// means "read it again".
private final class LatestAnnouncement: Sendable {
    private let state = Mutex<(post: Post?, readAt: Date)?>(nil)

    func kept(at now: Date, lifetime: TimeInterval) -> Post?? {
        state.withLock { state in
            guard let state, now.timeIntervalSince(state.readAt) < lifetime else { return nil }
            return .some(state.post)
        }
    }

    func keep(_ post: Post?, at now: Date) { state.withLock { $0 = (post, now) } }

    func forget() { state.withLock { $0 = nil } }
}
