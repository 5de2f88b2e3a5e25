import Foundation

/// BERT's WordPiece: each normalised word becomes the longest vocabulary pieces that cover it, left
/// to right (`##` marks a piece that continues a word); a word with no such cover, or longer than
/// `maxCharactersPerWord`, becomes `[UNK]`. Added tokens (`[CLS]`, `[MASK]`, …) written in the text are
/// matched as they are, before normalisation, as Hugging Face `tokenizers` does.
public struct WordPieceTokenizer: Tokenizer {
    let vocabulary: [String: Int]
    let normalizer: BertNormalizer
    let unknownID: Int
    let continuingPrefix: String
    let maxCharactersPerWord: Int
    /// Ids put before and after a sequence.
    let prefixIDs: [Int]
    let suffixIDs: [Int]
    /// Added tokens matched in the raw text, longest first.
    let addedTokens: [(content: [Unicode.Scalar], id: Int)]
    let addedTokenStarts: Set<Unicode.Scalar>

    public var vocabularySize: Int { vocabulary.count }
    public var specialTokenCount: Int { prefixIDs.count + suffixIDs.count }

    init(tokenizerJSON object: [String: Any], file: String) throws {
        let model = object["model"] as? [String: Any] ?? [:]
        guard let vocab = model["vocab"] as? [String: Int], !vocab.isEmpty else { throw ModelLoadError(file, "has no WordPiece vocabulary") }
        vocabulary = vocab
        let unknown = model["unk_token"] as? String ?? "[UNK]"
        guard let unknownID = vocab[unknown] else { throw ModelLoadError(file, "its unknown token \(unknown) is not in the vocabulary") }
        self.unknownID = unknownID
        continuingPrefix = model["continuing_subword_prefix"] as? String ?? "##"
        maxCharactersPerWord = model["max_input_chars_per_word"] as? Int ?? 100

        var normalizer = BertNormalizer()
        if let settings = object["normalizer"] as? [String: Any] {
            guard settings["type"] as? String == "BertNormalizer" else {
                throw ModelLoadError(file, "uses the \(settings["type"] as? String ?? "unknown") normalizer; WordPiece models here need BertNormalizer")
            }
            normalizer.cleanText = settings["clean_text"] as? Bool ?? true
            normalizer.handleChineseCharacters = settings["handle_chinese_chars"] as? Bool ?? true
            normalizer.lowercase = settings["lowercase"] as? Bool ?? true
            normalizer.stripAccents = settings["strip_accents"] as? Bool ?? normalizer.lowercase
        } else {
            normalizer = BertNormalizer(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: false)
        }
        self.normalizer = normalizer

        (prefixIDs, suffixIDs) = try Self.template(object["post_processor"] as? [String: Any], vocabulary: vocab, file: file)
        addedTokens = (object["added_tokens"] as? [[String: Any]] ?? []).compactMap { token in
            guard let content = token["content"] as? String, let id = token["id"] as? Int, !content.isEmpty else { return nil }
            return (Array(content.unicodeScalars), id)
        }.sorted { $0.content.count > $1.content.count }
        addedTokenStarts = Set(addedTokens.compactMap(\.content.first))
    }

    /// From a `vocab.txt` alone: one token a line, BERT's defaults.
    init(vocabFile url: URL, lowercase: Bool) throws {
        let name = url.lastPathComponent
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw ModelLoadError(name, "is not UTF-8 text") }
        var vocabulary: [String: Int] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty && vocabulary[token] == nil { vocabulary[token] = index }
        }
        self.vocabulary = vocabulary
        guard let unknown = vocabulary["[UNK]"], let cls = vocabulary["[CLS]"], let sep = vocabulary["[SEP]"] else {
            throw ModelLoadError(name, "lacks one of [UNK], [CLS] and [SEP]")
        }
        unknownID = unknown
        continuingPrefix = "##"
        maxCharactersPerWord = 100
        normalizer = BertNormalizer(stripAccents: lowercase, lowercase: lowercase)
        prefixIDs = [cls]
        suffixIDs = [sep]
        addedTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { token in vocabulary[token].map { (Array(token.unicodeScalars), $0) } }
        addedTokenStarts = Set(addedTokens.compactMap(\.content.first))
    }

    /// The special ids around a single sequence, from a `TemplateProcessing` or `BertProcessing` post-processor.
    private static func template(_ processor: [String: Any]?, vocabulary: [String: Int], file: String) throws -> ([Int], [Int]) {
        guard let processor else { return ([], []) }
        switch processor["type"] as? String {
        case "BertProcessing", "RobertaProcessing":
            let cls = (processor["cls"] as? [Any])?.last as? Int
            let sep = (processor["sep"] as? [Any])?.last as? Int
            guard let cls, let sep else { throw ModelLoadError(file, "its post_processor has no cls and sep ids") }
            return ([cls], [sep])
        case "TemplateProcessing":
            let special = processor["special_tokens"] as? [String: [String: Any]] ?? [:]
            var before: [Int] = []
            var after: [Int] = []
            var seenSequence = false
            for piece in processor["single"] as? [[String: Any]] ?? [] {
                if piece["Sequence"] != nil {
                    seenSequence = true
                } else if let token = (piece["SpecialToken"] as? [String: Any])?["id"] as? String {
                    let ids = special[token]?["ids"] as? [Int] ?? vocabulary[token].map { [$0] }
                    guard let ids else { throw ModelLoadError(file, "its post_processor names the unknown special token \(token)") }
                    if seenSequence { after += ids } else { before += ids }
                }
            }
            return (before, after)
        case let other:
            throw ModelLoadError(file, "uses the \(other ?? "unknown") post_processor, which this engine does not read")
        }
    }

    public func addingSpecialTokens(_ ids: [Int]) -> [Int] {
        prefixIDs + ids + suffixIDs
    }

    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Int] {
        var ids: [Int] = []
        for segment in segments(text) {
            switch segment {
            case .added(let id): ids.append(id)
            case .text(let scalars):
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                for word in normalizer.words(String(view)) { pieces(of: word, into: &ids) }
            }
        }
        let special = addSpecialTokens ? specialTokenCount : 0
        if let maxLength, ids.count + special > maxLength { ids.removeLast(ids.count + special - max(maxLength, special)) }
        return addSpecialTokens ? addingSpecialTokens(ids) : ids
    }

    private enum Segment {
        case text(ArraySlice<Unicode.Scalar>)
        case added(Int)
    }

    /// The text cut at the added tokens written in it.
    private func segments(_ text: String) -> [Segment] {
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var start = 0
        var index = 0
        search: while index < scalars.count {
            if addedTokenStarts.contains(scalars[index]) {
                for token in addedTokens where token.content.count <= scalars.count - index {
                    if scalars[index..<(index + token.content.count)].elementsEqual(token.content) {
                        if start < index { segments.append(.text(scalars[start..<index])) }
                        segments.append(.added(token.id))
                        index += token.content.count
                        start = index
                        continue search
                    }
                }
            }
            index += 1
        }
        if start < scalars.count { segments.append(.text(scalars[start..<scalars.count])) }
        return segments
    }

    private func pieces(of word: [Unicode.Scalar], into ids: inout [Int]) {
        guard word.count <= maxCharactersPerWord else {
            ids.append(unknownID)
            return
        }
        var found: [Int] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var match: Int?
            while start < end {
                var piece = start > 0 ? continuingPrefix : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocabulary[piece] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.append(unknownID)
                return
            }
            found.append(match)
            start = end
        }
        ids += found
    }
}
