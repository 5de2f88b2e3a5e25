import AtriumCore

extension StringCatalog {
    /// The reader's-language message for a domain error shown beside a form field, by the error's
    /// code (with the rules' own limits). Anything without a message of its own reads as "not valid".
    func formError(_ error: any Error, _ language: Language) -> String {
        switch error as? AtriumError {
        case .invalidRequest(_, _, let code?) where Self.formErrorCodes.contains(code):
            let max = code == "password_too_long" ? AccountRules.maxPasswordBytes : AccountRules.maxNameLength
            return text("form_errors.\(code)", language, ["min": String(AccountRules.minPasswordLength), "max": String(max)])
        case .conflict:
            return text("form_errors.email_taken", language)
        case .permissionDenied:
            return text("form_errors.not_allowed", language)
        case .rateLimited(_, let seconds, _):
            return text("form_errors.too_many_attempts", language, ["minutes": String(Swift.max(1, (seconds + 59) / 60))])
        default:
            return text("form_errors.invalid", language)
        }
    }

    /// The domain's error codes that have a message of their own in `form_errors`.
    static let formErrorCodes: Set<String> = [
        "invalid_email", "password_too_short", "password_too_long", "invalid_name", "wrong_password", "same_email", "invalid_token",
        "sole_owner", "personal_organization", "last_owner", "already_member",
    ]
}
