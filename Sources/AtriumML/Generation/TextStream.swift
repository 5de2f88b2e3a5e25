/// Turns generated tokens into text that is safe to show as it comes: whole UTF-8 characters only
/// (a character split over tokens waits for its last byte), special tokens left out, and never any
/// part of a stop sequence. A stop sequence may span tokens; the text up to it is shown, it and what
/// follows are not.
public struct TextStream: Sendable {
    private let tokenizer: BPETokenizer
    private let stops: [String]
    /// Bytes of a character not yet complete.
    private var partial: [UInt8] = []
    /// Text held back because it could be the start of a stop sequence.
    private var held = ""
    public private(set) var stopped = false

    public init(tokenizer: BPETokenizer, stops: [String] = []) {
        self.tokenizer = tokenizer
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// The text `token` releases (often empty). After a stop sequence, nothing more.
    public mutating func append(_ token: Int) -> String {
        guard !stopped, !tokenizer.isSpecial(token) else { return "" }
        partial.append(contentsOf: tokenizer.bytes(of: token))
        let complete = Self.completePrefixLength(partial)
        guard complete > 0 else { return "" }
        let text = String(decoding: partial[..<complete], as: UTF8.self)
        partial.removeFirst(complete)
        return release(held + text)
    }

    /// What is left when generation ends: held text, and an unfinished character as U+FFFD.
    public mutating func finish() -> String {
        guard !stopped else { return "" }
        let rest = held + (partial.isEmpty ? "" : String(decoding: partial, as: UTF8.self))
        held = ""
        partial = []
        if let cut = firstStop(in: rest) {
            stopped = true
            return String(rest[..<cut])
        }
        return rest
    }

    private mutating func release(_ text: String) -> String {
        if let cut = firstStop(in: text) {
            stopped = true
            held = ""
            return String(text[..<cut])
        }
        // Hold back the longest end of the text that some stop sequence starts with.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, text.count), to: keep, by: -1) where text.hasSuffix(stop.prefix(length)) {
                keep = length
                break
            }
        }
        let split = text.index(text.endIndex, offsetBy: -keep)
        held = String(text[split...])
        return String(text[..<split])
    }

    private func firstStop(in text: String) -> String.Index? {
        stops.compactMap { text.range(of: $0)?.lowerBound }.min()
    }

    /// The length of the longest prefix of `bytes` made of whole UTF-8 characters (an invalid byte
    /// counts as whole: it decodes to U+FFFD rather than waiting forever).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        guard !bytes.isEmpty else { return 0 }
        // Only the last three bytes can belong to an unfinished character.
        for back in 1...min(3, bytes.count) {
            let byte = bytes[bytes.count - back]
            if byte & 0xC0 == 0x80 { continue }  // a continuation byte: look further back
            let needed = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            return needed > back ? bytes.count - back : bytes.count
        }
        return bytes.count
    }
}
