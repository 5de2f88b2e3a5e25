import Foundation

/// The rules sign-up input must follow, in one place so the API and the CLI agree.
public enum AccountRules {
    public static let minPasswordLength = 8
    /// bcrypt reads at most 72 bytes; a longer password would be silently truncated.
    public static let maxPasswordBytes = 72
    public static let maxNameLength = 200
    public static let maxEmailLength = 254

    /// Characters an address could only carry quoted (RFC 5322's specials): refused, since they would
    /// also end an SMTP path (`RCPT TO:<…>`) or a header early.
    static let notInAddresses = Set("<>()[]\\,;:\"")

    /// Trimmed and lowercased, or `invalidRequest` naming `email`.
    public static func normalizedEmail(_ raw: String) throws -> String {
        let email = raw.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= maxEmailLength, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.contains(where: { $0.isWhitespace || $0.isNewline || Self.notInAddresses.contains($0) }),
            !email.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) })
        else {
            throw AtriumError.invalidRequest("Enter a valid email address.", param: "email", code: "invalid_email")
        }
        return email
    }

    public static func validatePassword(_ password: String) throws {
        guard password.count >= minPasswordLength else {
            throw AtriumError.invalidRequest(
                "A password needs at least \(minPasswordLength) characters.", param: "password", code: "password_too_short")
        }
        guard password.utf8.count <= maxPasswordBytes else {
            throw AtriumError.invalidRequest(
                "A password is at most \(maxPasswordBytes) bytes long.", param: "password", code: "password_too_long")
        }
    }

    public static func normalizedName(_ raw: String, param: String = "name") throws -> String {
        let name = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= maxNameLength,
            !name.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) })
        else {
            throw AtriumError.invalidRequest(
                "A name is 1 to \(maxNameLength) characters, without control characters.", param: param, code: "invalid_name")
        }
        return name
    }
}
