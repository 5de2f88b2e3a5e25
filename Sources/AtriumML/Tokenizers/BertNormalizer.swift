import Foundation

/// BERT's text normaliser and pre-tokeniser, as Hugging Face `tokenizers` applies them: drop control
/// characters and turn whitespace into spaces, put spaces around CJK ideographs, strip accents (NFD,
/// then no nonspacing marks), lowercase; then split into words at whitespace and around punctuation.
struct BertNormalizer: Sendable {
    var cleanText = true
    var handleChineseCharacters = true
    var stripAccents = true
    var lowercase = true

    /// The words of `text`, normalised, each as its Unicode scalars.
    func words(_ text: String) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var word: [Unicode.Scalar] = []
        func endWord() {
            if !word.isEmpty { words.append(word) }
            word.removeAll(keepingCapacity: true)
        }
        for scalar in normalize(text) {
            if Self.isWhitespace(scalar) {
                endWord()
            } else if Self.isPunctuation(scalar) {
                endWord()
                words.append([scalar])
            } else {
                word.append(scalar)
            }
        }
        endWord()
        return words
    }

    func normalize(_ text: String) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if cleanText {
                if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
                if Self.isWhitespace(scalar) {
                    scalars.append(" ")
                    continue
                }
            }
            if handleChineseCharacters && Self.isChinese(scalar) {
                scalars += [" ", scalar, " "]
            } else {
                scalars.append(scalar)
            }
        }
        if stripAccents {
            var text = String.UnicodeScalarView()
            text.append(contentsOf: scalars)
            scalars = String(text).decomposedStringWithCanonicalMapping.unicodeScalars.filter { !Self.isNonspacingMark($0) }
        }
        if lowercase {
            scalars = scalars.flatMap { scalar -> [Unicode.Scalar] in
                scalar.properties.changesWhenLowercased ? Array(scalar.properties.lowercaseMapping.unicodeScalars) : [scalar]
            }
        }
        return scalars
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r", " ": true
        default: scalar.properties.isWhitespace
        }
    }

    /// The Unicode version of the category tables Hugging Face `tokenizers` decides control characters,
    /// punctuation and accents with (the `unicode_categories` crate): a character assigned later is
    /// an ordinary letter to it, kept and looked up in the vocabulary. Whitespace and case follow
    /// Rust's own, current tables, as Swift's do.
    static let categoryVersion: Unicode.Version = (major: 9, minor: 0)

    /// The general category as those tables have it (nil: not assigned then).
    static func category(_ scalar: Unicode.Scalar) -> Unicode.GeneralCategory? {
        guard let age = scalar.properties.age,
            age.major < categoryVersion.major || age.major == categoryVersion.major && age.minor <= categoryVersion.minor
        else { return nil }
        return scalar.properties.generalCategory
    }

    /// Control, format and private-use characters (tab, newline and return are whitespace).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default:
            switch category(scalar) {
            case .control, .format, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        category(scalar) == .nonspacingMark
    }

    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let value = scalar.value
            return (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value) || (123...126).contains(value)
        }
        switch category(scalar) {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation,
            .otherPunctuation:
            return true
        default: return false
        }
    }

    static func isChinese(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF,
            0x2F800...0x2FA1F:
            true
        default: false
        }
    }
}
