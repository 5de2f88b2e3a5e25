import Foundation

/// How pages write numbers and times: the same in both languages (ISO dates in UTC, grouped digits).
enum PageFormat {
    private static let dateFormat = Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash)
        .time(includingFractionalSeconds: false).timeSeparator(.colon)

    /// `2026-12-05 14:03 UTC`.
    static func date(_ date: Date) -> String {
        let text = date.formatted(dateFormat)  // 2026-12-05T14:03:09
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }
}
