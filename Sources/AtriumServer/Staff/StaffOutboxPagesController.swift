import AtriumCore
import Foundation
import Hummingbird

/// `/staff/outbox`: every message the platform sent or is trying to send, with its tries and the mail
/// server's last answer; one message in full; "retry now" for one that waits or failed (audited).
struct StaffOutboxPagesController {
    let outbox: MailOutbox
    let audit: AuditLog
    let renderer: PageRenderer
    /// Where mail goes, as staff read it: `smtp.example.com:587 (starttls)`, or nil for the log.
    let destination: String?

    struct ListPage {
        struct Row {
            var href: String
            var time: String
            var recipient: String
            var kind: String
            var subject: String
            var status: String
            var attempts: String
            var lastError: String
        }

        struct Choice {
            var value: String
            var label: String
            var selected: Bool
        }

        var destination: String
        var recipient: String
        var statuses: [Choice]
        var rows: [Row]
        var hasRows: Bool
    }

    struct MessagePage {
        var id: String
        var recipient: String
        var subject: String
        var kind: String
        var status: String
        var attempts: String
        var created: String
        var next: String
        var sent: String
        var lastError: String
        var body: String
        var canRetry: Bool
        var done: String?
    }

    func addRoutes(to router: RouterGroup<SignedInPageContext>) {
        router.get("staff/outbox", use: list)
        router.get("staff/outbox/:mail", use: message)
        router.post("staff/outbox/:mail/retry", use: retry)
    }

    @Sendable func list(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        let recipient = String(String(request.uri.queryParameters["to"] ?? "").prefix(254)).trimmingCharacters(in: .whitespaces)
        let status = request.uri.queryParameters["status"].flatMap { OutgoingMail.Status(rawValue: String($0)) }
        let messages = try await outbox.list(status: status, recipient: recipient, limit: 200)
        let page = ListPage(
            destination: destinationText(context), recipient: recipient,
            statuses: [ListPage.Choice(value: "", label: text("staff.outbox.all", context), selected: status == nil)]
                + OutgoingMail.Status.allCases.map { ListPage.Choice(value: $0.rawValue, label: text("staff.outbox.status.\($0.rawValue)", context), selected: $0 == status) },
            rows: messages.map { mail in
                ListPage.Row(
                    href: "/staff/outbox/\(mail.id)", time: PageFormat.date(mail.createdAt), recipient: mail.recipient, kind: mail.kind,
                    subject: mail.subject, status: text("staff.outbox.status.\(mail.status.rawValue)", context), attempts: String(mail.attempts),
                    lastError: mail.status == .sent ? "" : mail.lastError ?? "")
            },
            hasRows: !messages.isEmpty)
        return renderer.render("staff/outbox", titleKey: "staff.outbox.title", model: page, state: context.page)
    }

    @Sendable func message(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        guard let mail = try await outbox.message(try Self.mailID(context)) else { throw HTTPError(.notFound) }
        let done = request.uri.queryParameters["done"] == "retry" ? text("staff.outbox.done_retry", context) : nil
        let page = MessagePage(
            id: mail.id.description, recipient: mail.recipient, subject: mail.subject, kind: mail.kind,
            status: text("staff.outbox.status.\(mail.status.rawValue)", context), attempts: String(mail.attempts),
            created: PageFormat.date(mail.createdAt), next: mail.status == .pending ? PageFormat.date(mail.nextAttemptAt) : "",
            sent: mail.sentAt.map(PageFormat.date) ?? "", lastError: mail.lastError ?? "", body: mail.body,
            canRetry: mail.status != .sent && Self.mayRetry(context.user), done: done)
        return renderer.render("staff/outbox_message", titleKey: "staff.outbox.message_title", model: page, state: context.page)
    }

    @Sendable func retry(_ request: Request, context: SignedInPageContext) async throws -> Response {
        try StaffActions.requireStaff(context.user)
        guard Self.mayRetry(context.user) else { throw AtriumError.permissionDenied("Only administrators and support can retry mail.") }
        let id = try Self.mailID(context)
        guard let mail = try await outbox.message(id) else { throw HTTPError(.notFound) }
        try await outbox.retryNow(id)
        try await audit.record(
            "mail.retry", by: context.user, target: "mail:\(id)", details: "\(mail.kind) to \(mail.recipient) after \(mail.attempts) tries",
            address: context.page.clientAddress)
        return Response(status: .seeOther, headers: [.location: "/staff/outbox/\(id)?done=retry"])
    }

    private static func mayRetry(_ user: User) -> Bool { user.staffRole == .admin || user.staffRole == .support }

    private func destinationText(_ context: SignedInPageContext) -> String {
        destination.map { text("staff.outbox.destination_smtp", context, ["server": $0]) } ?? text("staff.outbox.destination_log", context)
    }

    private static func mailID(_ context: SignedInPageContext) throws -> MailID {
        guard let id = context.parameters.get("mail").flatMap(MailID.init) else { throw HTTPError(.notFound) }
        return id
    }

    private func text(_ key: String, _ context: SignedInPageContext, _ values: [String: String] = [:]) -> String {
        renderer.catalog.text(key, context.language, values)
    }
}
