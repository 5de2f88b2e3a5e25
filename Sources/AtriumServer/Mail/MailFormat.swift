import AtriumCore
import Foundation

/// Internet Message Format (RFC 5322) for the outbox's plain-text mail: headers with encoded words
/// where they are not ASCII, a UTF-8 body in quoted-printable, CRLF line ends.
enum MailFormat {
    static func message(_ mail: OutgoingMail, from: String, date: Date = Date()) -> String {
        let headers = [
            "From: \(encodedDisplay(from))",
            "To: <\(mail.recipient)>",
            "Subject: \(encodedWord(mail.subject))",
            "Date: \(rfc5322Date(date))",
            "Message-ID: <\(mail.id)@\(domain(of: address(from)))>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "Auto-Submitted: auto-generated",
        ]
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + quotedPrintable(mail.body) + "\r\n"
    }

    /// `a@b` from `Name <a@b>` or `a@b`.
    static func address(_ mailbox: String) -> String {
        guard let open = mailbox.lastIndex(of: "<"), let close = mailbox.lastIndex(of: ">"), open < close else {
            return mailbox.trimmingCharacters(in: .whitespaces)
        }
        return String(mailbox[mailbox.index(after: open)..<close])
    }

    static func domain(of address: String) -> String {
        address.split(separator: "@").last.map(String.init) ?? "localhost"
    }

    /// A line that starts with "." gets another, so the server does not read it as the end (RFC 5321 4.5.2).
    static func dotStuffed(_ message: String) -> String {
        message.components(separatedBy: "\r\n").map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n")
    }

    private static func encodedDisplay(_ mailbox: String) -> String {
        guard let open = mailbox.lastIndex(of: "<") else { return "<\(address(mailbox))>" }
        let name = mailbox[..<open].trimmingCharacters(in: .whitespaces)
        return name.isEmpty ? "<\(address(mailbox))>" : "\(encodedWord(name)) <\(address(mailbox))>"
    }

    /// RFC 2047: ASCII stays as it is, anything else becomes `=?utf-8?B?…?=`.
    static func encodedWord(_ text: String) -> String {
        let clean = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 32 }) { return clean }
        return "=?utf-8?B?\(Data(clean.utf8).base64EncodedString())?="
    }

    /// RFC 2045 quoted-printable, lines at most 76 characters.
    static func quotedPrintable(_ text: String) -> String {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        return lines.map { line -> String in
            var out = ""
            var width = 0
            let bytes = Array(line.utf8)
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                let piece: String
                if (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || (byte == 32 && !isLast) {
                    piece = String(UnicodeScalar(byte))
                } else {
                    piece = String(format: "=%02X", byte)
                }
                if width + piece.count > 75 {
                    out += "=\r\n"
                    width = 0
                }
                out += piece
                width += piece.count
            }
            return out
        }.joined(separator: "\r\n")
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }
}
