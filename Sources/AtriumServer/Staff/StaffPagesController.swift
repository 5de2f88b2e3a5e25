import AtriumCore
import Foundation
import Hummingbird

/// `/staff`: the console of platform staff. Find users and organizations, open an organization (its
/// credit, plan and members), grant credit and change its plan (administrators), and read the audit
/// log of every staff action. Everyone else gets a 403 page.
struct StaffPagesController {
    let accounts: AccountService
    let credits: CreditService
    let actions: StaffActions
    let audit: AuditLog
    let renderer: PageRenderer

    struct Search {
        struct UserRow {
            var name: String
            var email: String
            var role: String
            var created: String
            var organizations: [Link]
        }

        struct Link {
            var href: String
            var name: String
        }

        var query: String
        var searched: Bool
        var users: [UserRow]
        var organizations: [Link]
        var nothing: Bool
        var hasUsers = false
        var hasOrganizations = false
    }

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
        router.get("staff/organizations/:organization", use: organization)
        router.post("staff/organizations/:organization/credit", use: grant)
        router.post("staff/organizations/:organization/plan", use: setPlan)
        router.get("staff/audit", use: auditLog)
    }

    @Sendable func search(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        let query = String(request.uri.queryParameters["q"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        var page = Search(query: query, searched: !query.isEmpty, users: [], organizations: [], nothing: false)
        if !query.isEmpty {
            let found = try await accounts.staffSearch(query)
            let memberships = try await accounts.organizations(ofUsers: found.users.map(\.id))
            page.users = found.users.map { user in
                Search.UserRow(
                    name: user.name, email: user.email, role: user.staffRole?.rawValue ?? "", created: PageFormat.date(user.createdAt),
                    organizations: (memberships[user.id] ?? []).map { Self.link($0.organization) })
            }
            page.organizations = found.organizations.map(Self.link)
            page.nothing = found.users.isEmpty && found.organizations.isEmpty
            page.hasUsers = !found.users.isEmpty
            page.hasOrganizations = !found.organizations.isEmpty
        }
        return renderer.render("staff/search", titleKey: "staff.title", model: page, state: context.page)
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
