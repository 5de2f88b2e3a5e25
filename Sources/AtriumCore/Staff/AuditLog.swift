import Foundation

/// One action of a staff member: who, what, on what, when and from where.
public struct AuditEvent: Sendable, Equatable {
    public var id: UUID
    public var actor: UserID
    public var actorEmail: String
    /// What was done, as a dotted name: `credit.grant`, `plan.change`, `redemption_code.create`.
    public var action: String
    /// What it was done to (`organization:<id>`).
    public var target: String
    /// The particulars, as people read them (`+5.00 credits: "welcome"`).
    public var details: String
    public var address: String?
    public var createdAt: Date

    public init(
        id: UUID = TimeOrderedID.make(), actor: UserID, actorEmail: String, action: String, target: String, details: String, address: String?,
        createdAt: Date
    ) {
        self.id = id
        self.actor = actor
        self.actorEmail = actorEmail
        self.action = action
        self.target = target
        self.details = details
        self.address = address
        self.createdAt = createdAt
    }
}

public struct AuditQuery: Sendable, Equatable {
    /// Part of the actor's email.
    public var actor: String?
    /// An action's name or its first part (`credit` finds `credit.grant`).
    public var action: String?

    public init(actor: String? = nil, action: String? = nil) {
        self.actor = actor
        self.action = action
    }
}

public protocol AuditRepository: Sendable {
    func append(_ event: AuditEvent) async throws
    /// Newest first.
    func events(_ query: AuditQuery, limit: Int) async throws -> [AuditEvent]
}

/// The staff audit log: every staff action is written here, through the API or the console alike,
/// and staff read it back, filtered.
public struct AuditLog: Sendable {
    private let repository: any AuditRepository
    private let clock: any TimeSource

    public init(repository: any AuditRepository, clock: any TimeSource = SystemTimeSource()) {
        self.repository = repository
        self.clock = clock
    }

    public func record(_ action: String, by actor: User, target: String, details: String, address: String?) async throws {
        try await repository.append(AuditEvent(
            actor: actor.id, actorEmail: actor.email, action: action, target: target, details: String(details.prefix(1000)), address: address,
            createdAt: clock.now()))
    }

    public func events(_ query: AuditQuery, limit: Int = 200) async throws -> [AuditEvent] {
        try await repository.events(query, limit: min(max(limit, 1), 1000))
    }
}
