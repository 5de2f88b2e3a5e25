import Foundation

/// How pages write numbers and times: the same in both languages (ISO dates in UTC, grouped digits).
enum PageFormat {
    private static let dateFormat = Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash)
        .time(includingFractionalSeconds: false).timeSeparator(.colon)

    /// `1,234,567`.
    static func integer(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// `12-05 14:03:09`: when a recent request was made (UTC).
    static func time(_ date: Date) -> String {
        let text = date.formatted(dateFormat)  // 2026-12-05T14:03:09
        return String(text.dropFirst(5)).replacingOccurrences(of: "T", with: " ")
    }

    /// `2026-12-05 14:03 UTC`.
    static func date(_ date: Date) -> String {
        let text = date.formatted(dateFormat)  // 2026-12-05T14:03:09
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }
}
