import AtriumCore

/// Writes the account flows' notices as mail in the reader's language (from the string catalogs) and
/// puts them in the outbox. Links point at the portal's public address.
struct AccountMail: AccountMailer {
    let outbox: MailOutbox
    let catalog: StringCatalog
    let publicURL: String

    func send(_ notice: AccountNotice, language code: String) async throws {
        let language = Language(rawValue: code) ?? .english
        let (kind, recipient, user, link): (String, String, User, String?) =
            switch notice {
            case .verifyEmail(let user, let token): ("verify_email", user.email, user, "/verify-email?token=\(token)")
            case .resetPassword(let user, let token): ("reset_password", user.email, user, "/password/reset?token=\(token)")
            case .confirmEmailChange(let user, let newEmail, let token): ("confirm_email_change", newEmail, user, "/account/email/confirm?token=\(token)")
            case .emailChanged(let user, let oldEmail): ("email_changed", oldEmail, user, nil)
            case .passwordChanged(let user): ("password_changed", user.email, user, nil)
            }
        var values = ["name": user.name, "site": catalog.text("site.name", language), "email": user.email, "url": publicURL]
        if let link { values["link"] = publicURL + link }
        try await outbox.enqueue(
            MailDraft(
                recipient: recipient, subject: catalog.text("mail.\(kind).subject", language, values),
                body: catalog.text("mail.\(kind).body", language, values) + "\n\n-- \n" + catalog.text("mail.footer", language, values),
                kind: kind))
    }
}
