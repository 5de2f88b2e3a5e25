import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP range in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`, or one address), as a key's
/// allowed networks. IPv4 is held as IPv4-mapped IPv6, so an IPv4 client reaching an IPv6 socket
/// (`::ffff:203.0.113.7`) matches an IPv4 range.
public struct IPNetwork: Sendable, Hashable, Codable, CustomStringConvertible {
    private let high: UInt64
    private let low: UInt64
    /// Of the 128 bits, how many must match.
    private let prefixLength: Int
    /// As written, normalized (`10.0.0.0/8`).
    public let description: String

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = parts.first, let (bytes, isV4) = Self.parse(String(address)) else { return nil }
        let maximum = isV4 ? 32 : 128
        let length: Int
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...maximum).contains(given), parts[1].allSatisfy(\.isASCII) else { return nil }
            length = given
        } else {
            length = maximum
        }
        prefixLength = isV4 ? 96 + length : length
        let (h, l) = Self.words(bytes)
        (high, low) = Self.masked(h, l, prefixLength)
        description = "\(Self.format(high, low, isV4: isV4))/\(length)"
    }

    /// Whether `address` (an IP address as text) lies in the range; false for anything unreadable.
    public func contains(_ address: String) -> Bool {
        guard let (bytes, _) = Self.parse(address) else { return false }
        let (h, l) = Self.words(bytes)
        let (mh, ml) = Self.masked(h, l, prefixLength)
        return mh == high && ml == low
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let network = IPNetwork(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a CIDR range: \(text)"))
        }
        self = network
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func parse(_ text: String) -> ([UInt8], Bool)? {
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let value = UInt32(bigEndian: v4.s_addr)
            return ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)], true)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        // An IPv4-mapped address is the IPv4 address.
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
        return (bytes, mapped)
    }

    private static func words(_ bytes: [UInt8]) -> (UInt64, UInt64) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        return (high, low)
    }

    private static func masked(_ high: UInt64, _ low: UInt64, _ length: Int) -> (UInt64, UInt64) {
        let highMask: UInt64 = length >= 64 ? .max : (length == 0 ? 0 : ~(UInt64.max >> length))
        let lowMask: UInt64 = length <= 64 ? 0 : (length >= 128 ? .max : ~(UInt64.max >> (length - 64)))
        return (high & highMask, low & lowMask)
    }

    private static func format(_ high: UInt64, _ low: UInt64, isV4: Bool) -> String {
        if isV4 { return [24, 16, 8, 0].map { String(low >> $0 & 0xff) }.joined(separator: ".") }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in
            for index in 0..<8 { raw[index] = UInt8(high >> (56 - 8 * index) & 0xff) }
            for index in 0..<8 { raw[8 + index] = UInt8(low >> (56 - 8 * index) & 0xff) }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
        return String(cString: buffer)
    }
}
