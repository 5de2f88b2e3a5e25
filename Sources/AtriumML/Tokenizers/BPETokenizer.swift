import Foundation
import Synchronization

/// GPT-2's byte-level BPE, as chat models use it: text is split by the model's pre-tokenizer, each
/// piece's UTF-8 bytes become printable characters (GPT-2's byte-to-unicode table), and adjacent
/// symbols merge by rank until no ranked pair is left. Special tokens (`<|im_start|>`, …) are matched
/// whole where the caller allows it (templated text), never inside user content unless asked.
public final class BPETokenizer: Sendable {
    /// How text is cut into pieces before BPE.
    public enum PreTokenizer: String, Sendable {
        /// GPT-2's pattern.
        case gpt2
        /// Every digit on its own, then GPT-2's pattern (SmolLM2, StarCoder).
        case digitsThenGPT2 = "smollm"
    }

    public let preTokenizer: PreTokenizer
    /// Token text as the vocabulary spells it (byte-level characters for ordinary tokens).
    public let tokens: [String]
    /// The bytes each id stands for when decoded.
    let tokenBytes: [[UInt8]]
    /// Special tokens matched whole, longest first.
    public let specialTokens: [(text: String, id: Int)]
    private let specialIDs: Set<Int>
    /// Whether some special token starts with this byte: a quick test that keeps ordinary text fast.
    private let specialStarts: [Bool]
    /// The id of each byte's single-character token, -1 where the vocabulary has none.
    private let byteIDs: [Int32]
    /// (left id, right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Pieces already merged, keyed by their bytes: a `String` key would make canonically equivalent
    /// pieces one entry (U+2001 EM QUAD and U+2003 EM SPACE, say), and their ids are not the same.
    private let cache = Mutex<[PieceBytes: [Int32]]>([:])
    public let bos: Int?
    public let eos: Int?
    /// Whether the model's own tokenizer puts `bos` before a raw prompt (what `add_special_tokens`
    /// means for a prompt in vLLM's and Hugging Face's API).
    public let addsBOS: Bool

    public var vocabularySize: Int { tokens.count }

    /// - Parameters:
    ///   - special: ids matched whole in text (control and user-defined tokens).
    public init(
        tokens: [String], merges mergeList: [(String, String)], special: [Int], preTokenizer: PreTokenizer, bos: Int?, eos: Int?,
        addsBOS: Bool = false, file: String
    ) throws {
        self.tokens = tokens
        self.preTokenizer = preTokenizer
        self.bos = bos
        self.eos = eos
        self.addsBOS = addsBOS && bos != nil
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(id) }
        let table = ByteLevel.byteToCharacter
        // A byte the vocabulary has no token for (SmolLM2 lacks a few control bytes and bytes that never
        // occur in UTF-8) is dropped, as Hugging Face's BPE and llama.cpp drop it.
        let byteIDs = (0..<256).map { ids[String(table[$0])] ?? -1 }
        guard byteIDs.filter({ $0 >= 0 }).count >= 128 else {
            throw ModelLoadError(file, "the vocabulary lacks most single-byte tokens: not a byte-level BPE vocabulary")
        }
        self.byteIDs = byteIDs
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (left, right)) in mergeList.enumerated() {
            guard let l = ids[left], let r = ids[right], let merged = ids[left + right] else {
                throw ModelLoadError(file, "merge \(rank) (\(left) \(right)) names a token the vocabulary lacks")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        self.merges = merges
        let specialSet = Set(special.filter { tokens.indices.contains($0) && !tokens[$0].isEmpty })
        specialIDs = specialSet
        var starts = [Bool](repeating: false, count: 256)
        for id in specialSet { starts[Int(tokens[id].utf8.first!)] = true }
        specialStarts = starts
        specialTokens = specialSet.map { (tokens[$0], $0) }.sorted { $0.text.utf8.count > $1.text.utf8.count || ($0.text.utf8.count == $1.text.utf8.count && $0.id < $1.id) }
        let inverse = ByteLevel.characterToByte
        tokenBytes = tokens.enumerated().map { id, token in
            if specialSet.contains(id) { return Array(token.utf8) }
            var bytes: [UInt8] = []
            for scalar in token.unicodeScalars {
                if let byte = inverse[scalar] { bytes.append(byte) } else { bytes.append(contentsOf: String(scalar).utf8) }
            }
            return bytes
        }
    }

    /// Marks the next scalar as literal in text given to `encodeTemplated`: user content put into a
    /// chat template goes through `escapingSpecialTokens`, so that the template's own special tokens
    /// are matched and look-alikes in the content are not. A noncharacter, which text rarely holds; where
    /// it does, the escape doubles it.
    public static let literalMark = Unicode.Scalar(0xFDD0)!

    /// `text` with every special token's text (and the mark itself) broken by `literalMark`, for
    /// embedding in templated text; `encodeTemplated` drops the marks again.
    public func escapingSpecialTokens(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard text.utf8.contains(where: { specialStarts[Int($0)] }) || scalars.contains(Self.literalMark) else { return text }
        var escaped = String.UnicodeScalarView()
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            escaped.append(scalar)
            if scalar == Self.literalMark {
                escaped.append(Self.literalMark)
            } else if scalar.utf8.first.map({ specialStarts[Int($0)] }) == true,
                specialTokens.contains(where: { scalars[index...].starts(with: $0.text.unicodeScalars) })
            {
                escaped.append(Self.literalMark)
            }
            index = scalars.index(after: index)
        }
        return String(escaped)
    }

    /// The ids of `text`. Special tokens are matched where `parseSpecial` is set; otherwise their
    /// text is tokenized as ordinary text.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int] {
        encode(text, parseSpecial: parseSpecial, honouringMarks: false)
    }

    /// The ids of a raw prompt (`/v1/completions`, `/tokenize`): special tokens read as their ids, as
    /// the reference tokenizer reads them, and the model's beginning-of-text token first where its
    /// tokenizer adds one and `addSpecialTokens` is set. Chat content never comes this way: it goes
    /// through `escapingSpecialTokens` and `encodeTemplated`, so a user cannot type a turn.
    public func encodePrompt(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        let ids = encode(text, parseSpecial: true, honouringMarks: false)
        guard addSpecialTokens, addsBOS, let bos else { return ids }
        return [bos] + ids
    }

    /// The ids of a rendered chat template: special tokens matched, but not where `literalMark` breaks
    /// them (the escaped content), and the marks themselves dropped.
    public func encodeTemplated(_ text: String) -> [Int] {
        encode(text, parseSpecial: true, honouringMarks: true)
    }

    private func encode(_ text: String, parseSpecial: Bool, honouringMarks: Bool) -> [Int] {
        var out: [Int] = []
        if parseSpecial && !specialTokens.isEmpty {
            for segment in splitSpecial(text) {
                switch segment {
                case .special(let id): out.append(id)
                case .text(let piece) where honouringMarks && piece.unicodeScalars.contains(Self.literalMark):
                    encodeOrdinary(Substring(Self.removingMarks(piece)), into: &out)
                case .text(let piece): encodeOrdinary(piece, into: &out)
                }
            }
        } else {
            encodeOrdinary(Substring(text), into: &out)
        }
        return out
    }

    /// The text of `ids` (special tokens as their text). Bytes that do not form whole UTF-8
    /// characters become U+FFFD, as Hugging Face decodes them.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where tokenBytes.indices.contains(id) { bytes.append(contentsOf: tokenBytes[id]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }

    /// Each mark dropped, and the character after it kept as it is.
    private static func removingMarks(_ text: Substring) -> String {
        var scalars = String.UnicodeScalarView()
        var literal = false
        for scalar in text.unicodeScalars {
            if scalar == literalMark && !literal {
                literal = true
            } else {
                scalars.append(scalar)
                literal = false
            }
        }
        return String(scalars)
    }

    /// The raw bytes of one token.
    public func bytes(of id: Int) -> [UInt8] { tokenBytes.indices.contains(id) ? tokenBytes[id] : [] }

    private enum Segment {
        case text(Substring)
        case special(Int)
    }

    private func splitSpecial(_ text: String) -> [Segment] {
        var segments: [Segment] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var index = start
        while index < utf8.endIndex {
            let byte = utf8[index]
            let matched = specialStarts[Int(byte)] ? specialTokens.first { utf8[index...].starts(with: $0.text.utf8) } : nil
            if let matched {
                if start < index { segments.append(.text(Substring(text[start..<index]))) }
                segments.append(.special(matched.id))
                index = utf8.index(index, offsetBy: matched.text.utf8.count)
                start = index
            } else {
                index = utf8.index(after: index)
            }
        }
        if start < utf8.endIndex { segments.append(.text(Substring(text[start...]))) }
        return segments
    }

    private func encodeOrdinary(_ text: Substring, into out: inout [Int]) {
        for piece in PreTokenization.split(text, digitsApart: preTokenizer == .digitsThenGPT2) {
            let key = PieceBytes(piece)
            if let cached = cache.withLock({ $0[key] }) {
                out.append(contentsOf: cached.lazy.map(Int.init))
                continue
            }
            let ids = bpe(key.bytes)
            out.append(contentsOf: ids.lazy.map(Int.init))
            cache.withLock { cache in
                if cache.count > 50_000 { cache.removeAll(keepingCapacity: true) }
                cache[key] = ids
            }
        }
    }

    /// Merges the piece's byte tokens pair by pair, lowest rank first (leftmost on ties), with a heap
    /// of candidate pairs so that long pieces stay O(n log n).
    private func bpe(_ bytes: [UInt8]) -> [Int32] {
        var symbols = bytes.compactMap { byte in byteIDs[Int(byte)] >= 0 ? byteIDs[Int(byte)] : nil }
        guard symbols.count > 1 else { return symbols }
        let n = symbols.count
        var next = Array(1...n)  // n means none
        var previous = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = PairHeap()
        func consider(_ left: Int) {
            let right = next[left]
            guard right < n, let merge = merges[UInt64(UInt32(symbols[left])) << 32 | UInt64(UInt32(symbols[right]))] else { return }
            heap.push(rank: merge.rank, position: Int32(left), left: symbols[left], right: symbols[right])
        }
        for position in 0..<(n - 1) { consider(position) }
        while let candidate = heap.pop() {
            let left = Int(candidate.position)
            guard alive[left], symbols[left] == candidate.left else { continue }
            let right = next[left]
            guard right < n, symbols[right] == candidate.right else { continue }
            guard let merge = merges[UInt64(UInt32(symbols[left])) << 32 | UInt64(UInt32(symbols[right]))], merge.rank == candidate.rank else { continue }
            symbols[left] = merge.id
            alive[right] = false
            next[left] = next[right]
            if next[right] < n { previous[next[right]] = left }
            if previous[left] >= 0 { consider(previous[left]) }
            consider(left)
        }
        var out: [Int32] = []
        var position = 0
        while position < n {
            out.append(symbols[position])
            position = next[position]
        }
        return out
    }
}

/// A piece's UTF-8 bytes, compared and hashed as bytes.
private struct PieceBytes: Hashable {
    let bytes: [UInt8]

    init(_ piece: Substring) { bytes = Array(piece.utf8) }

    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}

/// A min-heap of merge candidates ordered by rank, then position.
private struct PairHeap {
    struct Entry {
        var rank: Int32
        var position: Int32
        var left: Int32
        var right: Int32
        func precedes(_ other: Entry) -> Bool { rank != other.rank ? rank < other.rank : position < other.position }
    }

    private var entries: [Entry] = []

    mutating func push(rank: Int32, position: Int32, left: Int32, right: Int32) {
        entries.append(Entry(rank: rank, position: position, left: left, right: right))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var best = parent
                if left < entries.count && entries[left].precedes(entries[best]) { best = left }
                if right < entries.count && entries[right].precedes(entries[best]) { best = right }
                if best == parent { break }
                entries.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}

/// GPT-2's table from bytes to printable characters: printable Latin-1 bytes stand for themselves,
/// the rest map to U+0100 onwards.
enum ByteLevel {
    static let byteToCharacter: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (byte, code) in zip(printable, codes) { table[byte] = Character(Unicode.Scalar(UInt32(code))!) }
        return table
    }()

    static let characterToByte: [Unicode.Scalar: UInt8] = {
        var inverse: [Unicode.Scalar: UInt8] = [:]
        for (byte, character) in byteToCharacter.enumerated() { inverse[character.unicodeScalars.first!] = UInt8(byte) }
        return inverse
    }()
}

/// GPT-2's pre-tokenizer pattern, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// matched by hand over Unicode scalars (optionally after every number character is split off on its own,
/// as Hugging Face's `Digits(individual_digits)` does).
enum PreTokenization {
    enum Class {
        case letter, number, space, other
    }

    static func classify(_ scalar: Unicode.Scalar) -> Class {
        if scalar.value < 0x80 {
            switch scalar.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    static func split(_ text: Substring, digitsApart: Bool) -> [Substring] {
        var pieces: [Substring] = []
        if digitsApart {
            var start = text.unicodeScalars.startIndex
            var index = start
            let scalars = text.unicodeScalars
            while index < scalars.endIndex {
                if classify(scalars[index]) == .number {
                    if start < index { gpt2(Substring(scalars[start..<index]), into: &pieces) }
                    let after = scalars.index(after: index)
                    pieces.append(Substring(scalars[index..<after]))
                    start = after
                    index = after
                } else {
                    index = scalars.index(after: index)
                }
            }
            if start < scalars.endIndex { gpt2(Substring(scalars[start...]), into: &pieces) }
        } else {
            gpt2(text, into: &pieces)
        }
        return pieces
    }

    static func gpt2(_ text: Substring, into pieces: inout [Substring]) {
        let scalars = text.unicodeScalars
        var index = scalars.startIndex
        let end = scalars.endIndex
        func run(from start: Substring.UnicodeScalarView.Index, while matches: (Class) -> Bool) -> Substring.UnicodeScalarView.Index {
            var cursor = start
            while cursor < end && matches(classify(scalars[cursor])) { cursor = scalars.index(after: cursor) }
            return cursor
        }
        while index < end {
            let scalar = scalars[index]
            let start = index
            var stop: Substring.UnicodeScalarView.Index
            // 's 't 're 've 'm 'll 'd
            if scalar == "'", let contraction = contraction(scalars, after: index) {
                stop = contraction
            } else {
                let afterSpace = scalar == " " ? scalars.index(after: index) : index
                let kind = afterSpace < end ? classify(scalars[afterSpace]) : .space
                if (scalar == " " && afterSpace < end && kind != .space) || (scalar != " " && classify(scalar) != .space) {
                    let head = scalar == " " ? afterSpace : index
                    let headKind = classify(scalars[head])
                    switch headKind {
                    case .letter: stop = run(from: head) { $0 == .letter }
                    case .number: stop = run(from: head) { $0 == .number }
                    default: stop = run(from: head) { $0 == .other }
                    }
                } else {
                    // Whitespace: the run, less its last character when something follows it.
                    let runEnd = run(from: index) { $0 == .space }
                    if runEnd == end {
                        stop = runEnd
                    } else {
                        let last = scalars.index(before: runEnd)
                        stop = last > index ? last : runEnd
                    }
                }
            }
            pieces.append(Substring(scalars[start..<stop]))
            index = stop
        }
    }

    private static func contraction(_ scalars: Substring.UnicodeScalarView, after quote: Substring.UnicodeScalarView.Index) -> Substring.UnicodeScalarView.Index? {
        let first = scalars.index(after: quote)
        guard first < scalars.endIndex else { return nil }
        let a = scalars[first]
        if a == "s" || a == "t" || a == "m" || a == "d" { return scalars.index(after: first) }
        let second = scalars.index(after: first)
        guard second < scalars.endIndex else { return nil }
        let b = scalars[second]
        if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return scalars.index(after: second) }
        return nil
    }
}

extension BPETokenizer {
    /// The tokenizer a GGUF file describes (`tokenizer.ggml.*`): GPT-2-style BPE only.
    public convenience init(gguf: GGUFFile) throws {
        let file = (gguf.path as NSString).lastPathComponent
        guard let model = gguf.metadata["tokenizer.ggml.model"]?.string else { throw ModelLoadError(file, "has no tokenizer.ggml.model") }
        guard model == "gpt2" else {
            throw ModelLoadError(file, "uses the \(model) tokenizer; this engine reads byte-level BPE (gpt2) tokenizers")
        }
        let pre = gguf.metadata["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenizer: PreTokenizer
        switch pre {
        case "default", "gpt-2", "gpt2": preTokenizer = .gpt2
        case "smollm", "starcoder", "refact": preTokenizer = .digitsThenGPT2
        default: throw ModelLoadError(file, "uses the \(pre) pre-tokenizer; this engine knows gpt2 and smollm")
        }
        guard let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.strings, !tokens.isEmpty else {
            throw ModelLoadError(file, "has no tokenizer.ggml.tokens")
        }
        let mergeLines = gguf.metadata["tokenizer.ggml.merges"]?.strings ?? []
        let merges = try mergeLines.enumerated().map { index, line in
            guard let space = line.firstIndex(of: " ") else { throw ModelLoadError(file, "merge \(index) (\(line)) is not two tokens") }
            return (String(line[..<space]), String(line[line.index(after: space)...]))
        }
        // Control (3) and user-defined (4) tokens are matched whole.
        let types = gguf.metadata["tokenizer.ggml.token_type"]?.ints ?? []
        let special = types.enumerated().filter { $0.element == 3 || $0.element == 4 }.map(\.offset)
        try self.init(
            tokens: tokens, merges: merges, special: special, preTokenizer: preTokenizer,
            bos: gguf.metadata["tokenizer.ggml.bos_token_id"]?.int, eos: gguf.metadata["tokenizer.ggml.eos_token_id"]?.int,
            addsBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, file: file)
    }
}
