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

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex SHA-256 of the UTF-8 bytes of `secret`. (On every `/v1` request, so no per-byte strings.)
    public static func sha256Hex(_ secret: String) -> String {
        var secret = secret
        let digest = secret.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return String(unsafeUninitializedCapacity: SHA256.byteCount * 2) { output in
            digest.withUnsafeBytes { bytes in
                for (index, byte) in bytes.enumerated() {
                    output[2 * index] = hexDigits[Int(byte >> 4)]
                    output[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
                }
            }
            return SHA256.byteCount * 2
        }
    }
}
