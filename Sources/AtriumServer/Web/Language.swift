/// A language the pages speak. The reader's choice (a cookie set by the footer's switch) wins; else the
/// best match in `Accept-Language`; else English.
enum Language: String, CaseIterable, Sendable {
    case english = "en"
    case simplifiedChinese = "zh-Hans"

    static let cookieName = "atrium_lang"

    /// The language for a request: the remembered choice, else the browser's preference.
    static func negotiate(cookie: String?, acceptLanguage: String?) -> Language {
        if let cookie, let chosen = Language(rawValue: cookie) { return chosen }
        guard let acceptLanguage else { return .english }
        var best: (language: Language, quality: Double)?
        for range in acceptLanguage.split(separator: ",").prefix(32) {
            let parts = range.split(separator: ";")
            guard let tag = parts.first?.trimmingCharacters(in: .whitespaces).lowercased(), let language = match(tag) else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, pair[0] == "q" else { continue }
                quality = Double(pair[1]) ?? -1  // a malformed weight drops the range
            }
            guard quality > 0, quality <= 1 else { continue }
            if best == nil || quality > best!.quality { best = (language, quality) }
        }
        return best?.language ?? .english
    }

    /// The supported language a BCP 47 tag asks for. Traditional Chinese (`zh-Hant`, `zh-TW`, `zh-HK`)
    /// is not Simplified: it falls through to the next preference.
    private static func match(_ tag: String) -> Language? {
        if tag == "*" || tag == "en" || tag.hasPrefix("en-") { return .english }
        guard tag == "zh" || tag.hasPrefix("zh-") else { return nil }
        let traditional = ["zh-hant", "zh-tw", "zh-hk", "zh-mo"].contains { tag.hasPrefix($0) }
        return traditional ? nil : .simplifiedChinese
    }

    /// The value of `<html lang>`.
    var htmlTag: String { rawValue }
}
