import Crypto
import Foundation

/// Random secrets and their one-way hashes: API keys and session tokens are stored as SHA-256 only.
public enum Secrets {
    static let base62Alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A string of `count` characters drawn uniformly from base62 with the system's CSPRNG.
    public static func randomBase62(count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        for _ in 0..<count {
            bytes.append(base62Alphabet[Int(generator.next(upperBound: UInt32(62)))])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `value` in base62, left-padded with zeros to `width` characters.
    public static func base62(_ value: UInt64, width: Int) -> String {
        var digits = [UInt8](repeating: base62Alphabet[0], count: width)
        var rest = value
        var index = width - 1
        while rest > 0 && index >= 0 {
            digits[index] = base62Alphabet[Int(rest % 62)]
            rest /= 62
            index -= 1
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Lowercase hex SHA-256 of the UTF-8 bytes of `secret`.
    public static func sha256Hex(_ secret: String) -> String {
        let digest = SHA256.hash(data: Array(secret.utf8))
        return digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
