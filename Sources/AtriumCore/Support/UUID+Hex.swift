import Foundation

extension UUID {
    private static let lower = Array("0123456789abcdef".utf8)
    private static let upper = Array("0123456789ABCDEF".utf8)

    /// The canonical 8-4-4-4-12 form. Foundation's `uuidString` goes through `sprintf` on Linux, which
    /// showed up in profiles of the usage ledger (four ids per record); this writes the digits directly.
    public func hexString(uppercase: Bool = false) -> String {
        String(unsafeUninitializedCapacity: 36) { writeHex(into: $0, uppercase: uppercase) }
    }

    /// Appends the canonical form to `bytes`, with no `String` in between (the usage journal's lines).
    public func appendHex(to bytes: inout [UInt8], uppercase: Bool = false) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 36))
        bytes.withUnsafeMutableBufferPointer { buffer in
            _ = writeHex(into: UnsafeMutableBufferPointer(rebasing: buffer[start...]), uppercase: uppercase)
        }
    }

    /// Calls `body` with the canonical form in a temporary buffer (binding it to SQLite, say), with no
    /// `String` made.
    public func withHex<Result>(uppercase: Bool = false, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { buffer in
            let count = writeHex(into: buffer, uppercase: uppercase)
            return try body(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Writes the 36 characters at the start of `output`; returns how many were written.
    private func writeHex(into output: UnsafeMutableBufferPointer<UInt8>, uppercase: Bool) -> Int {
        let digits = uppercase ? Self.upper : Self.lower
        return withUnsafeBytes(of: uuid) { bytes in
            var index = 0
            for (position, byte) in bytes.enumerated() {
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    output[index] = UInt8(ascii: "-")
                    index += 1
                }
                output[index] = digits[Int(byte >> 4)]
                output[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }
}
