import Foundation

/// Where the domain reads the time, so tests can move it.
public protocol TimeSource: Sendable {
    func now() -> Date
}

/// The system clock.
public struct SystemTimeSource: TimeSource {
    public init() {}
    public func now() -> Date { Date() }
}
