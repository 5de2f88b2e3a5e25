import Foundation

/// `datetime.now().strftime(format)` in the C locale, for the `strftime_now` global. The time is naive,
/// as Python's `datetime.now()` is, so `%z` and `%Z` print nothing.
enum TemplateStrftime {
    private static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ]

    static func format(_ date: Date, _ format: String, _ timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let year = c.year ?? 1970
        let month = c.month ?? 1
        let day = c.day ?? 1
        let hour = c.hour ?? 0
        let minute = c.minute ?? 0
        let second = c.second ?? 0
        let weekday = (c.weekday ?? 1) - 1
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func pad(_ value: Int, _ width: Int = 2, _ fill: Character = "0") -> String {
            let text = String(value)
            return String(repeating: fill, count: Swift.max(0, width - text.count)) + text
        }
        var out = ""
        var chars = format.makeIterator()
        while let char = chars.next() {
            guard char == "%" else {
                out.append(char)
                continue
            }
            guard let code = chars.next() else {
                out.append("%")
                break
            }
            let hour12 = hour % 12 == 0 ? 12 : hour % 12
            switch code {
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "c":
                out +=
                    "\(days[weekday].prefix(3)) \(months[month - 1].prefix(3)) \(pad(day, 2, " ")) "
                    + "\(pad(hour)):\(pad(minute)):\(pad(second)) \(year)"
            case "d": out += pad(day)
            case "e": out += pad(day, 2, " ")
            case "f": out += pad((c.nanosecond ?? 0) / 1000, 6)
            case "H": out += pad(hour)
            case "I": out += pad(hour12)
            case "j": out += pad(dayOfYear, 3)
            case "k": out += pad(hour, 2, " ")
            case "l": out += pad(hour12, 2, " ")
            case "m": out += pad(month)
            case "M": out += pad(minute)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "S": out += pad(second)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "w": out += String(weekday)
            case "U": out += pad((dayOfYear + 6 - weekday) / 7)
            case "W": out += pad((dayOfYear + 6 - (weekday + 6) % 7) / 7)
            case "y": out += pad(year % 100)
            case "Y": out += String(year)
            case "C": out += pad(year / 100)
            case "D", "x": out += "\(pad(month))/\(pad(day))/\(pad(year % 100))"
            case "F": out += "\(year)-\(pad(month))-\(pad(day))"
            case "T", "X": out += "\(pad(hour)):\(pad(minute)):\(pad(second))"
            case "R": out += "\(pad(hour)):\(pad(minute))"
            case "n": out += "\n"
            case "t": out += "\t"
            case "z", "Z": break
            case "%": out += "%"
            default: out += "%\(code)"
            }
        }
        return out
    }
}
