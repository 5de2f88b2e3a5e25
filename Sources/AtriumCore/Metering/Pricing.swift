import Foundation
import Synchronization

/// Money is counted in integer micro-units (1,000,000 = one unit of the platform's currency), never
/// in floating point.
public typealias Micros = Int64

extension Micros {
    /// `12.5` (units, up to six decimals, no sign) as 12,500,000 micro-units; nil when it is not such a
    /// number or is past a trillion units.
    public init?(units text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber),
            let units = Int64(whole)
        else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                let value = Int64(digits + String(repeating: "0", count: 6 - digits.count))
            else { return nil }
            fraction = value
        }
        self = units * 1_000_000 + fraction
    }

    /// `12.345678` for 12,345,678 micro-units: exact, for people and CSV.
    public var formattedUnits: String {
        let sign = self < 0 ? "-" : ""
        let magnitude = self.magnitude
        let fraction = String(magnitude % 1_000_000)
        return "\(sign)\(magnitude / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}

/// What a model costs, per million tokens. Prices are versioned: a change adds a new row, and every
/// usage record names the price it was charged at.
public struct ModelPrice: Sendable, Equatable, Codable {
    public var id: UUID
    public var model: String
    public var inputMicrosPerMillion: Micros
    public var outputMicrosPerMillion: Micros
    public var createdAt: Date
    public var createdBy: UserID?

    public init(id: UUID = UUID(), model: String, inputMicrosPerMillion: Micros, outputMicrosPerMillion: Micros, createdAt: Date, createdBy: UserID? = nil) {
        self.id = id
        self.model = model
        self.inputMicrosPerMillion = inputMicrosPerMillion
        self.outputMicrosPerMillion = outputMicrosPerMillion
        self.createdAt = createdAt
        self.createdBy = createdBy
    }

    /// The charge for one request, rounded up to a whole micro-unit (a request is never free by
    /// rounding). Absurd products (a huge `max_tokens` at a high price) saturate at `Micros.max` instead
    /// of overflowing: such a reservation is simply refused.
    public func cost(promptTokens: Int, completionTokens: Int) -> Micros {
        func product(_ tokens: Int, _ price: Micros) -> Micros {
            let (value, overflow) = Micros(max(tokens, 0)).multipliedReportingOverflow(by: price)
            return overflow ? .max : value
        }
        let (numerator, overflow) = product(promptTokens, inputMicrosPerMillion).addingReportingOverflow(product(completionTokens, outputMicrosPerMillion))
        if overflow || numerator > Micros.max - 999_999 { return Micros.max / 1_000_000 }
        return numerator <= 0 ? 0 : (numerator + 999_999) / 1_000_000
    }

    /// The largest price a staff member may set: a million units per million tokens.
    public static let maxMicrosPerMillion: Micros = 1_000_000_000_000
}

public protocol PriceRepository: Sendable {
    /// The newest price of every model.
    func current() async throws -> [ModelPrice]
    /// Every price a model has had, newest first.
    func history(model: String) async throws -> [ModelPrice]
    func insert(_ price: ModelPrice) async throws
}

/// The price table, cached for the hot path. Staff edits go through here, so this instance sees them at
/// once; other instances reload every few seconds.
public final class PriceBook: Sendable {
    private let repository: any PriceRepository
    private let clock: any TimeSource
    private let prices = Mutex<[String: ModelPrice]>([:])

    public init(repository: any PriceRepository, clock: any TimeSource = SystemTimeSource()) {
        self.repository = repository
        self.clock = clock
    }

    public func reload() async throws {
        let current = try await repository.current()
        prices.withLock { $0 = Dictionary(current.map { ($0.model, $0) }, uniquingKeysWith: { first, _ in first }) }
    }

    /// The price requests of `model` are charged at now; nil when the model is free.
    public func price(of model: String) -> ModelPrice? {
        prices.withLock { $0[model] }
    }

    public var all: [ModelPrice] {
        prices.withLock { Array($0.values) }.sorted { $0.model < $1.model }
    }

    public func history(model: String) async throws -> [ModelPrice] {
        try await repository.history(model: model)
    }

    /// Sets a new price for a model (staff only, checked by the caller).
    public func set(model: String, inputMicrosPerMillion: Micros, outputMicrosPerMillion: Micros, by user: UserID?) async throws -> ModelPrice {
        let name = model.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw AtriumError.invalidRequest("A model name is 1 to 200 characters.", param: "model")
        }
        for (value, param) in [(inputMicrosPerMillion, "input_micros_per_million"), (outputMicrosPerMillion, "output_micros_per_million")] {
            guard (0...ModelPrice.maxMicrosPerMillion).contains(value) else {
                throw AtriumError.invalidRequest("\(param) must be between 0 and \(ModelPrice.maxMicrosPerMillion).", param: param)
            }
        }
        let price = ModelPrice(
            model: name, inputMicrosPerMillion: inputMicrosPerMillion, outputMicrosPerMillion: outputMicrosPerMillion,
            createdAt: clock.now(), createdBy: user)
        try await repository.insert(price)
        prices.withLock { $0[name] = price }
        return price
    }
}
