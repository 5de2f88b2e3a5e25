import AtriumCore
import Foundation
import Hummingbird

/// `/account`: the signed-in reader's own account. Change the password (other sessions end), move to
/// another email (by a link sent there), ask for the verification link again, delete the account.
/// Each form posts to its own path; a mistake shows the page again with the error beside its field.
struct AccountSettingsPagesController {
    let lifecycle: AccountLifecycle
    let renderer: PageRenderer
    let secureCookies: Bool

    struct View {
        var name: String
        var email: String
        var verified: Bool
        var done: String?
        var currentPasswordError: String?
        var newPasswordError: String?
        var newEmail = ""
        var newEmailError: String?
        var emailPasswordError: String?
        var deletePasswordError: String?
        var deleteConfirmError: String?
        var deleteError: String?
        /// A problem with the page as a whole (too many links asked for).
        var problem: String?
    }

    /// The success messages `?done=` may name (nothing else is shown).
    private static let doneMessages: Set<String> = ["password", "email_sent", "verification_sent"]

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("account", use: page)
        router.post("account/password", use: changePassword)
        router.post("account/email", use: changeEmail)
        router.post("account/delete", use: delete)
        router.post("verify-email/resend", use: resendVerification)
    }

    @Sendable func page(_ request: Request, context: SignedInPageContext) async throws -> Response {
        var view = view(context)
        if let done = request.uri.queryParameters["done"].map(String.init), Self.doneMessages.contains(done) {
            view.done = text("accounts.settings.done.\(done)", context, ["email": String((request.uri.queryParameters["to"].map(String.init) ?? context.user.email).prefix(254))])
        }
        return render(view, context)
    }

    @Sendable func changePassword(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let form = context.form
        var view = view(context)
        let current = form["current_password"] ?? ""
        let new = form["new_password"] ?? ""
        if current.isEmpty { view.currentPasswordError = text("form_errors.required", context) }
        if new.isEmpty { view.newPasswordError = text("form_errors.required", context) }
        if view.currentPasswordError == nil && view.newPasswordError == nil {
            do {
                try await lifecycle.changePassword(
                    user: context.user, current: current, new: new, keepingSession: request.cookies[SessionMiddleware.cookieName]?.value,
                    language: context.language.rawValue)
                return redirect("/account?done=password")
            } catch let error as AtriumError {
                let message = renderer.catalog.formError(error, context.language)
                if case .invalidRequest(_, "password", "wrong_password") = error { view.currentPasswordError = message } else if case .rateLimited = error {
                    view.currentPasswordError = message
                } else {
                    view.newPasswordError = message
                }
            }
        }
        return render(view, context, status: .badRequest)
    }

    @Sendable func changeEmail(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let form = context.form
        var view = view(context)
        let newEmail = form.trimmed("email")
        let password = form["password"] ?? ""
        view.newEmail = String(newEmail.prefix(AccountRules.maxEmailLength))
        if newEmail.isEmpty { view.newEmailError = text("form_errors.required", context) }
        if password.isEmpty { view.emailPasswordError = text("form_errors.required", context) }
        if view.newEmailError == nil && view.emailPasswordError == nil {
            do {
                try await lifecycle.requestEmailChange(user: context.user, password: password, newEmail: newEmail, language: context.language.rawValue)
                let to = newEmail.lowercased().addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                return redirect("/account?done=email_sent&to=\(to)")
            } catch let error as AtriumError {
                let message = renderer.catalog.formError(error, context.language)
                if case .invalidRequest(_, "password", _) = error { view.emailPasswordError = message } else { view.newEmailError = message }
            }
        }
        return render(view, context, status: .badRequest)
    }

    @Sendable func delete(_ request: Request, context: SignedInPageContext) async throws -> Response {
        let form = context.form
        var view = view(context)
        let password = form["password"] ?? ""
        if password.isEmpty { view.deletePasswordError = text("form_errors.required", context) }
        if form["confirm"] != "yes" { view.deleteConfirmError = text("form_errors.confirm_required", context) }
        if view.deletePasswordError == nil && view.deleteConfirmError == nil {
            do {
                try await lifecycle.deleteAccount(user: context.user, password: password)
                var response = redirect("/goodbye")
                response.setCookie(SessionMiddleware.cookie(value: "", maxAge: 0, secure: secureCookies))
                return response
            } catch let error as AtriumError {
                let message = renderer.catalog.formError(error, context.language)
                if case .invalidRequest(_, "password", _) = error { view.deletePasswordError = message } else { view.deleteError = message }
            }
        }
        return render(view, context, status: .badRequest)
    }

    @Sendable func resendVerification(_ request: Request, context: SignedInPageContext) async throws -> Response {
        guard !context.user.isEmailVerified else { return redirect("/account") }
        do {
            try await lifecycle.sendVerification(to: context.user, language: context.language.rawValue)
        } catch let error as AtriumError {
            var view = view(context)
            view.problem = renderer.catalog.formError(error, context.language)
            return render(view, context, status: .tooManyRequests)
        }
        return redirect("/account?done=verification_sent")
    }

    private func view(_ context: SignedInPageContext) -> View {
        View(name: context.user.name, email: context.user.email, verified: context.user.isEmailVerified)
    }

    private func render(_ view: View, _ context: SignedInPageContext, status: HTTPResponse.Status = .ok) -> Response {
        renderer.render("accounts/settings", titleKey: "accounts.settings.title", model: view, state: context.page, status: status)
    }

    private func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    private func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
