/// The Markdown staff write (announcements, the changelog) as HTML that cannot carry markup of its
/// own: every character of the text is escaped, and only this subset becomes tags — headings (`#`,
/// `##`, `###`, shown a level below the page's title), paragraphs, `-`/`*` and `1.` lists, fenced code,
/// `code`, **bold**, *emphasis*, and links to `http(s)://` or to this site's paths.
enum SafeMarkdown {
    static func html(_ markdown: String) -> String {
        var html = ""
        var paragraph: [String] = []
        var list: (ordered: Bool, items: [String])?
        var code: [String]?

        func flushParagraph() {
            if !paragraph.isEmpty { html += "<p>\(inline(paragraph.joined(separator: " ")))</p>" }
            paragraph = []
        }
        func flushList() {
            if let current = list {
                let tag = current.ordered ? "ol" : "ul"
                html += "<\(tag)>" + current.items.map { "<li>\(inline($0))</li>" }.joined() + "</\(tag)>"
            }
            list = nil
        }

        for raw in markdown.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if var lines = code {
                if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                    html += "<pre class=\"code\" tabindex=\"0\"><code>\(HTMLText.escape(lines.joined(separator: "\n")))</code></pre>"
                    code = nil
                } else {
                    lines.append(line)
                    code = lines
                }
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                flushParagraph()
                flushList()
                code = []
            } else if trimmed.isEmpty {
                flushParagraph()
                flushList()
            } else if let (level, text) = heading(trimmed) {
                flushParagraph()
                flushList()
                html += "<h\(level + 1)>\(inline(text))</h\(level + 1)>"
            } else if let item = listItem(trimmed) {
                flushParagraph()
                if list?.ordered != item.ordered { flushList() }
                list = (item.ordered, (list?.items ?? []) + [item.text])
            } else if var current = list, line.hasPrefix("  "), !current.items.isEmpty {
                current.items[current.items.count - 1] += " " + trimmed  // a list item's next line
                list = current
            } else {
                flushList()
                paragraph.append(trimmed)
            }
        }
        if let lines = code { html += "<pre class=\"code\" tabindex=\"0\"><code>\(HTMLText.escape(lines.joined(separator: "\n")))</code></pre>" }
        flushParagraph()
        flushList()
        return html
    }

    /// The text of the first paragraph, without markup, for summaries and feeds.
    static func summary(_ markdown: String, limit: Int = 240) -> String {
        let first = markdown.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")
            .first { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") && !$0.hasPrefix("```") } ?? ""
        let plain = first.replacingOccurrences(of: "\n", with: " ").filter { !"*`".contains($0) }
        return plain.count > limit ? String(plain.prefix(limit - 1)) + "…" : plain
    }

    private static func heading(_ line: String) -> (Int, String)? {
        for level in (1...3).reversed() where line.hasPrefix(String(repeating: "#", count: level) + " ") {
            return (level, String(line.dropFirst(level + 1)))
        }
        return nil
    }

    private static func listItem(_ line: String) -> (ordered: Bool, text: String)? {
        if line.hasPrefix("- ") || line.hasPrefix("* ") { return (false, String(line.dropFirst(2))) }
        let digits = line.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty, digits.count <= 3, line.dropFirst(digits.count).hasPrefix(". ") {
            return (true, String(line.dropFirst(digits.count + 2)))
        }
        return nil
    }

    /// One line of text: escaped, with code spans, bold, emphasis and safe links.
    static func inline(_ text: String) -> String {
        var html = ""
        var rest = Substring(text)
        while let index = rest.firstIndex(where: { "`*[".contains($0) }) {
            html += HTMLText.escape(String(rest[..<index]))
            rest = rest[index...]
            if rest.hasPrefix("`"), let close = rest.dropFirst().firstIndex(of: "`") {
                html += "<code>\(HTMLText.escape(String(rest[rest.index(after: rest.startIndex)..<close])))</code>"
                rest = rest[rest.index(after: close)...]
            } else if rest.hasPrefix("**"), let close = rest.dropFirst(2).range(of: "**") {
                html += "<strong>\(inline(String(rest[rest.index(rest.startIndex, offsetBy: 2)..<close.lowerBound])))</strong>"
                rest = rest[close.upperBound...]
            } else if rest.hasPrefix("*"), let close = rest.dropFirst().firstIndex(of: "*"), close > rest.index(after: rest.startIndex) {
                html += "<em>\(inline(String(rest[rest.index(after: rest.startIndex)..<close])))</em>"
                rest = rest[rest.index(after: close)...]
            } else if rest.hasPrefix("["), let middle = rest.range(of: "]("), let end = rest[middle.upperBound...].firstIndex(of: ")"),
                let target = Optional(String(rest[middle.upperBound..<end])), isSafe(target)
            {
                let label = String(rest[rest.index(after: rest.startIndex)..<middle.lowerBound])
                html += "<a href=\"\(HTMLText.escape(target))\">\(inline(label))</a>"
                rest = rest[rest.index(after: end)...]
            } else {
                html += HTMLText.escape(String(rest.prefix(1)))
                rest = rest.dropFirst()
            }
        }
        return html + HTMLText.escape(String(rest))
    }

    /// Links go to the web or to this site, never to `javascript:` or anything else.
    private static func isSafe(_ target: String) -> Bool {
        let lower = target.lowercased()
        return (lower.hasPrefix("https://") || lower.hasPrefix("http://") || (target.hasPrefix("/") && !target.hasPrefix("//")))
            && !target.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "<" || $0 == ">" })
    }
}
