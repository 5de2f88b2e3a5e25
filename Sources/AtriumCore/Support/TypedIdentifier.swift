import Foundation

/// A UUID wrapped in a type of its own, so that an organization id cannot be passed where a user id belongs.
public protocol TypedIdentifier: Hashable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    var raw: UUID { get }
    init(raw: UUID)
}

extension TypedIdentifier {
    /// A fresh random identifier.
    public static func generate() -> Self { Self(raw: UUID()) }

    public init?(_ description: String) {
        guard let uuid = UUID(uuidString: description) else { return nil }
        self.init(raw: uuid)
    }

    public var description: String { raw.hexString() }

    public init(from decoder: any Decoder) throws {
        self.init(raw: try decoder.singleValueContainer().decode(UUID.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

public struct UserID: TypedIdentifier {
    public let raw: UUID
    public init(raw: UUID) { self.raw = raw }
}

public struct OrganizationID: TypedIdentifier {
    public let raw: UUID
    public init(raw: UUID) { self.raw = raw }
}

public struct APIKeyID: TypedIdentifier {
    public let raw: UUID
    public init(raw: UUID) { self.raw = raw }
}
