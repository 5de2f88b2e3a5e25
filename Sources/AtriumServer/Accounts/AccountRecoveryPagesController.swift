import AtriumCore
import Foundation
import Hummingbird

/// The pages one-time links lead to, for readers signed in or not: verifying an email, confirming a
/// new one, and a forgotten password (ask for a link, then choose a new password).
struct AccountRecoveryPagesController {
    let lifecycle: AccountLifecycle
    let renderer: PageRenderer
    let secureCookies: Bool

    struct ForgotForm {
        var email = ""
        var emailError: String?
        var sentMessage: String?
    }

    struct ResetForm {
        var token: String
        var passwordError: String?
    }

    func addRoutes(to router: RouterGroup<PageContext>) {
        router.get("verify-email", use: verifyEmail)
        router.get("account/email/confirm", use: confirmEmailChange)
        router.get("password/forgot", use: forgotPage)
        router.post("password/forgot", use: forgot)
        router.get("password/reset", use: resetPage)
        router.post("password/reset", use: reset)
        router.get("goodbye", use: goodbye)
    }

    @Sendable func verifyEmail(_ request: Request, context: PageContext) async throws -> Response {
        do {
            let user = try await lifecycle.verifyEmail(token: token(request))
            return renderer.notice(
                "verified", ["email": user.email], links: [("/keys", "accounts.links.to_keys"), ("/dashboard", "accounts.links.to_dashboard")],
                state: context.page.updating(user))
        } catch AtriumError.invalidRequest(_, "token", _) {
            return invalidLink(context, retry: ("/account", "accounts.links.to_account"))
        }
    }

    @Sendable func confirmEmailChange(_ request: Request, context: PageContext) async throws -> Response {
        do {
            let user = try await lifecycle.confirmEmailChange(token: token(request), language: context.language.rawValue)
            return renderer.notice(
                "email_changed", ["email": user.email], links: [("/account", "accounts.links.to_account")], state: context.page.updating(user))
        } catch AtriumError.invalidRequest(_, "token", _) {
            return invalidLink(context, retry: ("/account", "accounts.links.to_account"))
        } catch AtriumError.conflict {
            return notice("email_taken", [:], links: [("/account", "accounts.links.to_account")], context, status: .conflict)
        }
    }

    @Sendable func forgotPage(_ request: Request, context: PageContext) async throws -> Response {
        renderer.render("accounts/forgot", titleKey: "accounts.forgot.title", model: ForgotForm(email: context.page.user?.email ?? ""), state: context.page)
    }

    @Sendable func forgot(_ request: Request, context: PageContext) async throws -> Response {
        let email = context.form.trimmed("email")
        var view = ForgotForm(email: String(email.prefix(AccountRules.maxEmailLength)))
        if email.isEmpty {
            view.emailError = text("form_errors.required", context)
        } else {
            do {
                try await lifecycle.requestPasswordReset(email: email, clientAddress: context.page.clientAddress, language: context.language.rawValue)
                view.sentMessage = text("accounts.forgot.sent", context, ["email": view.email])
                return renderer.render("accounts/forgot", titleKey: "accounts.forgot.title", model: view, state: context.page)
            } catch let error as AtriumError {
                view.emailError = renderer.catalog.formError(error, context.language)
            }
        }
        return renderer.render("accounts/forgot", titleKey: "accounts.forgot.title", model: view, state: context.page, status: .badRequest)
    }

    @Sendable func resetPage(_ request: Request, context: PageContext) async throws -> Response {
        renderer.render("accounts/reset", titleKey: "accounts.reset.title", model: ResetForm(token: token(request)), state: context.page)
    }

    @Sendable func reset(_ request: Request, context: PageContext) async throws -> Response {
        let form = context.form
        var view = ResetForm(token: String(form.trimmed("token").prefix(128)))
        let password = form["password"] ?? ""
        if password.isEmpty {
            view.passwordError = text("form_errors.required", context)
        } else {
            do {
                try await lifecycle.resetPassword(token: view.token, newPassword: password, language: context.language.rawValue)
                var response = notice("reset_done", [:], links: [("/login", "accounts.links.to_login")], context)
                // Every session of the account ended, this reader's too.
                response.setCookie(SessionMiddleware.cookie(value: "", maxAge: 0, secure: secureCookies))
                return response
            } catch AtriumError.invalidRequest(_, "token", _) {
                return invalidLink(context, retry: ("/password/forgot", "accounts.links.new_reset"))
            } catch let error as AtriumError {
                view.passwordError = renderer.catalog.formError(error, context.language)
            }
        }
        return renderer.render("accounts/reset", titleKey: "accounts.reset.title", model: view, state: context.page, status: .badRequest)
    }

    @Sendable func goodbye(_ request: Request, context: PageContext) async throws -> Response {
        notice("goodbye", [:], links: [("/", "accounts.links.home")], context)
    }

    private func token(_ request: Request) -> String {
        String((request.uri.queryParameters["token"].map(String.init) ?? "").prefix(128))
    }

    private func invalidLink(_ context: PageContext, retry: (String, String)) -> Response {
        notice("invalid_link", [:], links: [retry], context, status: .badRequest)
    }

    private func notice(
        _ key: String, _ values: [String: String], links: [(String, String)], _ context: PageContext, status: HTTPResponse.Status = .ok
    ) -> Response {
        renderer.notice(key, values, links: links, state: context.page, status: status)
    }

    private func text(_ key: String, _ context: PageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
