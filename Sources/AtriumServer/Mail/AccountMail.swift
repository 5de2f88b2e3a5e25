import AtriumCore

/// Writes the account flows' notices as mail in the reader's language (from the string catalogs) and
/// puts them in the outbox. Links point at the portal's public address.
struct AccountMail: AccountMailer {
    let outbox: MailOutbox
    let catalog: StringCatalog
    let publicURL: String

    func send(_ notice: AccountNotice, language code: String) async throws {
        let language = Language(rawValue: code) ?? .english
        let kind: String, recipient: String, user: User
        var link: String?
        var values: [String: String] = [:]
        switch notice {
        case .verifyEmail(let who, let token):
            (kind, recipient, user, link) = ("verify_email", who.email, who, "/verify-email?token=\(token)")
        case .resetPassword(let who, let token):
            (kind, recipient, user, link) = ("reset_password", who.email, who, "/password/reset?token=\(token)")
        case .confirmEmailChange(let who, let newEmail, let token):
            (kind, recipient, user, link) = ("confirm_email_change", newEmail, who, "/account/email/confirm?token=\(token)")
        case .emailChanged(let who, let oldEmail):
            (kind, recipient, user) = ("email_changed", oldEmail, who)
        case .passwordChanged(let who):
            (kind, recipient, user) = ("password_changed", who.email, who)
        case .invitation(let organization, let inviter, let email, let token):
            (kind, recipient, user, link) = ("invitation", email, inviter, "/invitations/\(token)")
            values["organization"] = organization.name
        }
        values.merge(["name": user.name, "site": catalog.text("site.name", language), "email": user.email, "url": publicURL]) { own, _ in own }
        if let link { values["link"] = publicURL + link }
        try await outbox.enqueue(
            MailDraft(
                recipient: recipient, subject: catalog.text("mail.\(kind).subject", language, values),
                body: catalog.text("mail.\(kind).body", language, values) + "\n\n-- \n" + catalog.text("mail.footer", language, values),
                kind: kind))
    }
}
