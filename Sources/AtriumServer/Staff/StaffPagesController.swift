import AtriumCore
import Foundation
import Hummingbird

/// `/staff`: the console of platform staff. Find users and organizations (disable or enable an
/// account) and keys by the start of their secret (revoke one), open an organization (its credit,
/// plan and members), grant credit and change its plan (administrators), and read the audit log of
/// every staff action. Everyone else gets a 403 page.
struct StaffPagesController {
    let accounts: AccountService
    let keys: KeyService
    let credits: CreditService
    let actions: StaffActions
    let audit: AuditLog
    let renderer: PageRenderer

    struct Search {
        struct UserRow {
            var id: String
            var name: String
            var email: String
            var role: String
            var created: String
            var organizations: [Link]
            var disabled: Bool
            var actionLabel: String

            /// The catalog's words every row repeats.
            struct Words {
                var disabled, active, enable, disable: String
            }

            /// The row as the table shows it, every value escaped. Written here, not by the template:
            /// a page of users with their organizations and forms was most of the page's time in the
            /// template engine's lookups.
            func html(words: Words, form: (csrf: String, query: String)?) -> String {
                let e = HTMLText.escape
                var row = "<tr><th scope=\"row\">\(e(name))</th><td>\(e(email))</td><td>\(e(role))</td><td>\(e(created))</td><td>"
                for organization in organizations { row += "<a href=\"\(e(organization.href))\">\(e(organization.name))</a><br>" }
                row += "</td>\n    <td>" + (disabled ? "<span class=\"status failed\">\(e(words.disabled))</span>" : e(words.active)) + "\n    "
                if let form {
                    row += "<form method=\"post\" action=\"/staff/users/\(e(id))/\(disabled ? "enable" : "disable")\" class=\"row-form\">"
                        + "<input type=\"hidden\" name=\"csrf\" value=\"\(e(form.csrf))\"><input type=\"hidden\" name=\"q\" value=\"\(e(form.query))\">"
                        + "<button type=\"submit\" class=\"button small\(disabled ? "" : " danger")\" aria-label=\"\(e(actionLabel))\">"
                        + e(disabled ? words.enable : words.disable) + "</button></form>"
                }
                return row + "</td></tr>"
            }
        }

        struct KeyRow {
            var id: String
            var organizationID: String
            var prefix: String
            var name: String
            var organization: Link
            var created: String
            var lastUsed: String
            var revoked: Bool
            var revokeLabel: String
        }

        struct Link: TemplateFields {
            var href: String
            var name: String

            var templateFields: [String: Any] { ["href": href, "name": name] }
        }

        var query: String
        var searched: Bool
        /// The users' table rows (`UserRow.html`).
        var usersHTML: String
        var organizations: [Link]
        var nothing: Bool
        var hasUsers = false
        var hasOrganizations = false
        var keys: [KeyRow] = []
        var hasKeys = false
        var canAct = false
        var done: String?
        /// The links to the search's other pages, when there are any.
        var previousPage: String?
        var nextPage: String?
        var paged = false
    }

    /// Users and organizations a search page lists (of each).
    static let searchPageSize = 25

    struct OrganizationPage {
        struct MemberRow {
            var name: String
            var email: String
            var role: String
        }

        struct Plan {
            var value: String
            var selected: Bool
        }

        var id: String
        var name: String
        var personal: Bool
        var balance: String
        var plan: String
        var budget: String
        var members: [MemberRow]
        var plans: [Plan]
        var canAct: Bool
        var amount = ""
        var note = ""
        var amountError: String?
        var noteError: String?
        var planError: String?
        var done: String?
    }

    struct AuditPage {
        struct Row {
            var time: String
            var actor: String
            var action: String
            var target: String
            var details: String
            var address: String
        }

        var actor: String
        var action: String
        var events: [Row]
        var hasEvents: Bool
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("staff", use: search)
        router.post("staff/users/:user/disable") { request, context in try await setDisabled(true, request, context) }
        router.post("staff/users/:user/enable") { request, context in try await setDisabled(false, request, context) }
        router.post("staff/keys/:key/revoke", use: revokeKey)
        router.get("staff/organizations/:organization", use: organization)
        router.post("staff/organizations/:organization/credit", use: grant)
        router.post("staff/organizations/:organization/plan", use: setPlan)
        router.get("staff/audit", use: auditLog)
    }

    @Sendable func search(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        let query = String(request.uri.queryParameters["q"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        var page = Search(query: query, searched: !query.isEmpty, usersHTML: "", organizations: [], nothing: false)
        page.canAct = context.user.staffRole == .admin
        page.done = request.uri.queryParameters["done"].flatMap { ["disabled", "enabled", "revoked"].contains(String($0)) ? text("staff.done_\($0)", context) : nil }
        if !query.isEmpty {
            let number = request.uri.queryParameters["page"].flatMap { Int(String($0)) }.map { min(max($0, 1), 1_000) } ?? 1
            let found = try await accounts.staffSearch(query, page: number, pageSize: Self.searchPageSize)
            let link = { (number: Int) in "/staff?q=\(query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")&page=\(number)" }
            page.previousPage = number > 1 ? link(number - 1) : nil
            page.nextPage = found.more ? link(number + 1) : nil
            page.paged = page.previousPage != nil || page.nextPage != nil
            let words = Search.UserRow.Words(
                disabled: text("staff.disabled", context), active: text("staff.active", context), enable: text("staff.enable", context),
                disable: text("staff.disable", context))
            page.usersHTML = found.users.map { found in
                let user = found.user
                return Search.UserRow(
                    id: user.id.description, name: user.name, email: user.email, role: user.staffRole?.rawValue ?? "",
                    created: PageFormat.date(user.createdAt), organizations: found.memberships.map { Self.link($0.organization) },
                    disabled: user.isDisabled,
                    actionLabel: text(user.isDisabled ? "staff.enable_named" : "staff.disable_named", ["name": user.email], context)
                ).html(words: words, form: page.canAct ? (context.page.csrfToken, query) : nil)
            }.joined()
            page.organizations = found.organizations.map(Self.link)
            let keys = try await self.keys.keys(prefix: query)
            let owners = try await accounts.organizationsForStaff(Set(keys.map(\.organizationID)))
            page.keys = keys.map { key in
                Search.KeyRow(
                    id: key.id.description, organizationID: key.organizationID.description, prefix: key.displayPrefix + "…", name: key.name,
                    organization: Search.Link(href: "/staff/organizations/\(key.organizationID)", name: owners[key.organizationID]?.name ?? key.organizationID.description),
                    created: PageFormat.date(key.createdAt), lastUsed: key.lastUsedAt.map(PageFormat.date) ?? text("keys.never", context),
                    revoked: key.revokedAt != nil, revokeLabel: text("keys.revoke_named", ["name": key.name], context))
            }
            page.nothing = found.users.isEmpty && found.organizations.isEmpty && keys.isEmpty
            page.hasUsers = !found.users.isEmpty
            page.hasOrganizations = !found.organizations.isEmpty
            page.hasKeys = !keys.isEmpty
        }
        return renderer.render("staff/search", titleKey: "staff.title", model: page, state: context.page)
    }

    @Sendable func setDisabled(_ disabled: Bool, _ request: Request, _ context: SignedInPageContext) async throws -> Response {
        guard let user = context.parameters.get("user").flatMap(UserID.init) else { throw HTTPError(.notFound) }
        try await actions.setDisabled(disabled, user: user, by: context.user, address: context.page.clientAddress)
        return backToSearch(context, done: disabled ? "disabled" : "enabled")
    }

    @Sendable func revokeKey(_ request: Request, context: SignedInPageContext) async throws -> Response {
        guard let id = context.parameters.get("key").flatMap(APIKeyID.init), let organization = OrganizationID(context.form.trimmed("organization")),
            let key = try await keys.key(id: id, organization: organization)
        else { throw HTTPError(.notFound) }
        try await actions.revokeKey(key, by: context.user, address: context.page.clientAddress)
        return backToSearch(context, done: "revoked")
    }

    /// Back to the search the form was sent from.
    private func backToSearch(_ context: SignedInPageContext, done: String) -> Response {
        let query = String(context.form.trimmed("q").prefix(100)).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return Response(status: .seeOther, headers: [.location: "/staff?q=\(query)&done=\(done)"])
    }

    @Sendable func organization(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        let page = try await organizationPage(try Self.organizationID(context), context: context)
        return renderer.render("staff/organization", titleKey: "staff.organization.title", titleValues: ["name": page.name], model: page, state: context.page)
    }

    @Sendable func grant(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        let id = try Self.organizationID(context)
        let amountText = context.form.trimmed("amount"), note = context.form.trimmed("note")
        var page = try await organizationPage(id, context: context)
        page.amount = String(amountText.prefix(30))
        page.note = String(note.prefix(CreditService.maxDescriptionLength))
        guard let amount = Micros(units: amountText), amount > 0 else {
            page.amountError = text(amountText.isEmpty ? "form_errors.required" : "staff.organization.amount_invalid", context)
            return renderer.render("staff/organization", titleKey: "staff.organization.title", titleValues: ["name": page.name], model: page, state: context.page, status: .badRequest)
        }
        guard !note.isEmpty else {
            page.noteError = text("form_errors.required", context)
            return renderer.render("staff/organization", titleKey: "staff.organization.title", titleValues: ["name": page.name], model: page, state: context.page, status: .badRequest)
        }
        do {
            _ = try await actions.grant(.grant, amount: amount, to: id, description: note, by: context.user, address: context.page.clientAddress)
        } catch AtriumError.invalidRequest(let message, let param, _) {
            if param == "description" { page.noteError = message } else { page.amountError = message }
            return renderer.render("staff/organization", titleKey: "staff.organization.title", titleValues: ["name": page.name], model: page, state: context.page, status: .badRequest)
        }
        return Response(status: .seeOther, headers: [.location: "/staff/organizations/\(id)?done=credit"])
    }

    @Sendable func setPlan(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireAdmin(context.user)
        let id = try Self.organizationID(context)
        do {
            try await actions.setPlan(context.form.trimmed("plan"), of: id, by: context.user, address: context.page.clientAddress)
        } catch AtriumError.invalidRequest {
            var page = try await organizationPage(id, context: context)
            page.planError = text("form_errors.invalid", context)
            return renderer.render("staff/organization", titleKey: "staff.organization.title", titleValues: ["name": page.name], model: page, state: context.page, status: .badRequest)
        }
        return Response(status: .seeOther, headers: [.location: "/staff/organizations/\(id)?done=plan"])
    }

    @Sendable func auditLog(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        let actor = String(String(request.uri.queryParameters["actor"] ?? "").prefix(100)).trimmingCharacters(in: .whitespaces)
        let action = String(String(request.uri.queryParameters["action"] ?? "").prefix(100)).trimmingCharacters(in: .whitespaces)
        let events = try await audit.events(AuditQuery(actor: actor, action: action))
        let page = AuditPage(
            actor: actor, action: action,
            events: events.map {
                AuditPage.Row(
                    time: PageFormat.date($0.createdAt), actor: $0.actorEmail, action: $0.action, target: $0.target, details: $0.details,
                    address: $0.address ?? "")
            },
            hasEvents: !events.isEmpty)
        return renderer.render("staff/audit", titleKey: "staff.audit.title", model: page, state: context.page)
    }

    private func organizationPage(_ id: OrganizationID, context: SignedInPageContext) async throws -> OrganizationPage {
        let (organization, members) = try await accounts.organizationForStaff(id)
        let account = try await credits.account(of: id)
        let plan = account.plan ?? "default"
        let done = request(context, "done").flatMap { ["credit", "plan"].contains($0) ? text("staff.organization.done_\($0)", context) : nil }
        return OrganizationPage(
            id: id.description, name: organization.name, personal: organization.isPersonal,
            balance: text("models.price", ["amount": account.balanceMicros.displayAmount], context), plan: plan,
            budget: account.monthlyBudget.map { text("models.price", ["amount": $0.displayAmount], context) } ?? text("staff.no_budget", context),
            members: members.map { OrganizationPage.MemberRow(name: $0.user.name, email: $0.user.email, role: $0.role.rawValue) },
            plans: (["default"] + actions.plans.sorted()).map { OrganizationPage.Plan(value: $0, selected: $0 == plan) },
            canAct: context.user.staffRole == .admin, done: done)
    }

    private func request(_ context: SignedInPageContext, _ name: String) -> String? {
        URLComponents(string: context.page.path)?.queryItems?.first { $0.name == name }?.value
    }

    private static func organizationID(_ context: SignedInPageContext) throws -> OrganizationID {
        guard let id = context.parameters.get("organization").flatMap(OrganizationID.init) else { throw HTTPError(.notFound) }
        return id
    }

    private static func link(_ organization: Organization) -> Search.Link {
        Search.Link(href: "/staff/organizations/\(organization.id)", name: organization.name)
    }

    private func text(_ key: String, _ values: [String: String] = [:], _ context: SignedInPageContext) -> String {
        renderer.catalog.text(key, context.language, values)
    }

    private func text(_ key: String, _ context: SignedInPageContext) -> String { text(key, [:], context) }
}
