import AtriumCore
import Foundation
import Hummingbird

extension Request {
    /// The `limit` query parameter of a listing: `default` when absent, a clear 400 when out of range.
    func listLimit(default value: Int = 100, maximum: Int = 1000) throws -> Int {
        let raw = uri.queryParameters.get("limit") ?? String(value)
        guard let limit = Int(raw), (1...maximum).contains(limit) else {
            throw AtriumError.invalidRequest("limit must be between 1 and \(maximum).", param: "limit")
        }
        return limit
    }
}

extension KeyedDecodingContainer {
    /// A field of a partial update: nil when absent (keep the current value), `.some(nil)` when null
    /// (remove it), `.some(value)` to set it.
    func decodeChange<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T?? {
        guard contains(key) else { return nil }
        return .some(try decodeNil(forKey: key) ? nil : try decode(type, forKey: key))
    }
}
