import AtriumCore
import Foundation
import Hummingbird

/// The account pages: sign up, log in and log out. Forms post back here; a form
/// with errors is shown again with the reader's input and each error beside its field, and a success
/// redirects (post/redirect/get). The rules are `AccountService`'s, the same as `/api/auth`'s.
struct AccountPagesController {
    let accounts: AccountService
    let lifecycle: AccountLifecycle
    let renderer: PageRenderer
    let secureCookies: Bool

    /// The login form's view model.
    struct LoginForm {
        var email = ""
        var next = ""
        var emailError: String?
        var passwordError: String?
        var formError: String?
    }

    /// The sign-up form's view model.
    struct SignUpForm {
        var name = ""
        var email = ""
        var nameError: String?
        var emailError: String?
        var passwordError: String?
        var formError: String?
    }

    func addRoutes(to router: RouterGroup<PageContext>) {
        router.get("login", use: loginPage)
        router.post("login", use: logIn)
        router.get("signup", use: signUpPage)
        router.post("signup", use: signUp)
        router.post("logout", use: logOut)
    }

    @Sendable func loginPage(_ request: Request, context: PageContext) async throws -> Response {
        if context.page.user != nil { return Self.redirect(to: "/dashboard") }
        let next = SafeRedirect.local(request.uri.queryParameters["next"].map(String.init), otherwise: "")
        return renderer.render("accounts/login", titleKey: "accounts.login.title", model: LoginForm(next: next), state: context.page)
    }

    @Sendable func logIn(_ request: Request, context: PageContext) async throws -> Response {
        let form = context.form
        var view = LoginForm(email: String(form.trimmed("email").prefix(AccountRules.maxEmailLength)), next: SafeRedirect.local(form["next"], otherwise: ""))
        if form.trimmed("email").isEmpty { view.emailError = text("form_errors.required", context) }
        if (form["password"] ?? "").isEmpty { view.passwordError = text("form_errors.required", context) }
        if view.emailError == nil && view.passwordError == nil {
            do {
                let session = try await accounts.logIn(email: form.trimmed("email"), password: form["password"] ?? "", clientAddress: context.page.clientAddress)
                return signedIn(session, to: SafeRedirect.local(form["next"], otherwise: "/dashboard"))
            } catch AtriumError.unauthenticated {
                view.formError = text("form_errors.invalid_credentials", context)
            } catch AtriumError.rateLimited(_, let seconds, _) {
                view.formError = text("form_errors.too_many_attempts", context, ["minutes": String(max(1, (seconds + 59) / 60))])
            } catch AtriumError.permissionDenied(_, "account_disabled") {
                view.formError = text("form_errors.account_disabled", context)
            }
        }
        return renderer.render("accounts/login", titleKey: "accounts.login.title", model: view, state: context.page, status: .badRequest)
    }

    @Sendable func signUpPage(_ request: Request, context: PageContext) async throws -> Response {
        if context.page.user != nil { return Self.redirect(to: "/dashboard") }
        return renderer.render("accounts/signup", titleKey: "accounts.signup.title", model: SignUpForm(), state: context.page)
    }

    @Sendable func signUp(_ request: Request, context: PageContext) async throws -> Response {
        let form = context.form
        var view = SignUpForm(name: String(form.trimmed("name").prefix(AccountRules.maxNameLength)), email: String(form.trimmed("email").prefix(AccountRules.maxEmailLength)))
        // Each field against its rule (the domain's own), so every mistake shows at once.
        view.nameError = fieldError(form.trimmed("name"), context) { try AccountRules.normalizedName($0) }
        view.emailError = fieldError(form.trimmed("email"), context) { try AccountRules.normalizedEmail($0) }
        view.passwordError = fieldError(form["password"] ?? "", context) { try AccountRules.validatePassword($0) }
        if view.nameError == nil && view.emailError == nil && view.passwordError == nil {
            do {
                let session = try await accounts.signUp(
                    email: form.trimmed("email"), password: form["password"] ?? "", name: form.trimmed("name"), clientAddress: context.page.clientAddress)
                // The account exists either way; a link that could not be queued is asked for again from the banner.
                try? await lifecycle.sendVerification(to: session.user, language: context.language.rawValue)
                return signedIn(session, to: "/dashboard")
            } catch AtriumError.conflict(_, _) {
                view.emailError = text("form_errors.email_taken", context)
            } catch AtriumError.rateLimited(_, let seconds, _) {
                view.formError = text("form_errors.too_many_attempts", context, ["minutes": String(max(1, (seconds + 59) / 60))])
            }
        }
        return renderer.render("accounts/signup", titleKey: "accounts.signup.title", model: view, state: context.page, status: .badRequest)
    }

    @Sendable func logOut(_ request: Request, context: PageContext) async throws -> Response {
        if let token = request.cookies[SessionMiddleware.cookieName]?.value {
            try await accounts.logOut(sessionToken: token)
        }
        var response = Self.redirect(to: "/")
        response.setCookie(SessionMiddleware.cookie(value: "", maxAge: 0, secure: secureCookies))
        return response
    }

    private func signedIn(_ session: AccountService.OpenedSession, to location: String) -> Response {
        var response = Self.redirect(to: location)
        response.setCookie(SessionMiddleware.cookie(value: session.token, maxAge: Int(session.expiresAt.timeIntervalSinceNow), secure: secureCookies))
        return response
    }

    /// The reader's-language message for one field: "required" when empty, else what its domain rule
    /// says, nil when it passes.
    private func fieldError(_ value: String, _ context: PageContext, rule: (String) throws -> Any) -> String? {
        if value.isEmpty { return text("form_errors.required", context) }
        do {
            _ = try rule(value)
            return nil
        } catch {
            return renderer.catalog.formError(error, context.language)
        }
    }

    private func text(_ key: String, _ context: PageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }

    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
