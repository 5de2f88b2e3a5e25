/// The shape of an Atrium API key: `atr_` + 32 random base62 characters + a 6-character base62 CRC-32
/// of those 32. The checksum lets a secret scanner (or our own auth path) recognise a real key, and
/// reject a mistyped one, without the database.
public enum APIKeyFormat {
    public static let prefix = "atr_"
    static let bodyLength = 32
    static let checksumLength = 6
    public static let totalLength = prefix.utf8.count + bodyLength + checksumLength

    /// A new random secret.
    public static func generate() -> String {
        let body = Secrets.randomBase62(count: bodyLength)
        return prefix + body + checksum(of: body)
    }

    /// True when `candidate` has the right prefix, length, alphabet and checksum.
    public static func isWellFormed(_ candidate: some StringProtocol) -> Bool {
        // On the bytes at once: this runs for every request, and the UTF-8 view's indices cost more
        // than the checks.
        var text = String(candidate)
        return text.withUTF8 { bytes in
            guard bytes.count == totalLength, bytes.starts(with: prefix.utf8) else { return false }
            let bodyStart = prefix.utf8.count
            let body = UnsafeBufferPointer(rebasing: bytes[bodyStart..<bodyStart + bodyLength])
            let suffix = bytes[(totalLength - checksumLength)...]
            guard body.allSatisfy(isBase62), suffix.allSatisfy(isBase62) else { return false }
            return checksum(of: body).utf8.elementsEqual(suffix)
        }
    }

    /// The part of a key that is safe to show again: `atr_` and the first 8 characters.
    public static func displayPrefix(of secret: String) -> String {
        String(secret.prefix(prefix.count + 8))
    }

    /// A masked form for error messages: `atr_AbCd****wxyz`.
    public static func masked(_ candidate: String) -> String {
        guard candidate.count > 12 else { return String(repeating: "*", count: candidate.count) }
        return "\(candidate.prefix(8))****\(candidate.suffix(4))"
    }

    static func checksum(of body: some Sequence<UInt8>) -> String {
        Secrets.base62(UInt64(CRC32.checksum(body)), width: checksumLength)
    }

    static func checksum(of body: String) -> String { checksum(of: Array(body.utf8)) }

    private static func isBase62(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
    }
}
