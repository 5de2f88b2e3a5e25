import AtriumCore
import Foundation
import Synchronization
import Testing

@testable import AtriumPersistence
@testable import AtriumServer

/// A mail server that refuses the first `failures` messages, then takes the rest.
final class FlakyTransport: MailTransport, Sendable {
    private let state: Mutex<(failures: Int, sent: [OutgoingMail])>

    init(failures: Int) { state = Mutex((failures, [])) }

    func send(_ mail: OutgoingMail) async throws {
        try state.withLock { state in
            if state.failures > 0 {
                state.failures -= 1
                throw SMTPError(step: "RCPT TO", code: 451, text: "try again later")
            }
            state.sent.append(mail)
        }
    }

    var sent: [OutgoingMail] { state.withLock { $0.sent } }
}

/// The outbox on SQLite and PostgreSQL: a message survives a mail server that is down, is retried with
/// growing waits, goes out once, and one that fails for a day waits for staff.
@Suite struct MailOutboxTests {
    func outbox(_ database: TestDatabase, transport: FlakyTransport, clock: ManualClock) async throws -> (MailOutbox, AtriumServices) {
        let services = try await AtriumServices.make(config: try await testConfig(database), logger: testLogger)
        let outbox = MailOutbox(repository: SQLMailOutboxRepository(database: services.database), transport: transport, clock: clock, logger: testLogger)
        return (outbox, services)
    }

    func draft(_ recipient: String) -> MailDraft {
        MailDraft(recipient: recipient, subject: "Hello", body: "Body", kind: "test")
    }

    @Test(arguments: TestDatabase.all)
    func aFailedSendIsRetriedWithBackoffAndNeverLost(_ database: TestDatabase) async throws {
        let clock = ManualClock()
        let transport = FlakyTransport(failures: 2)
        let (outbox, services) = try await outbox(database, transport: transport, clock: clock)
        defer { Task { await services.database.shutdown() } }
        let recipient = "retry-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let mail = try await outbox.enqueue(draft(recipient))

        #expect(try await outbox.deliverDue() == 0)
        var stored = try #require(try await outbox.message(mail.id))
        #expect(stored.status == .pending && stored.attempts == 1 && stored.lastError?.contains("451") == true)
        #expect(abs(stored.nextAttemptAt.timeIntervalSince(clock.now()) - 30) < 0.001)
        #expect(try await outbox.deliverDue() == 0)  // not due yet: nothing is tried
        #expect(try await outbox.message(mail.id)?.attempts == 1)

        clock.advance(30)
        #expect(try await outbox.deliverDue() == 0)
        stored = try #require(try await outbox.message(mail.id))
        #expect(stored.attempts == 2 && abs(stored.nextAttemptAt.timeIntervalSince(clock.now()) - 60) < 0.001)

        clock.advance(60)
        #expect(try await outbox.deliverDue() == 1)
        stored = try #require(try await outbox.message(mail.id))
        #expect(stored.status == .sent && stored.attempts == 3 && abs(stored.sentAt!.timeIntervalSince(clock.now())) < 0.001)
        #expect(transport.sent.map(\.id) == [mail.id])
        clock.advance(3600)
        #expect(try await outbox.deliverDue() == 0)
        #expect(transport.sent.count == 1)
    }

    @Test(arguments: TestDatabase.all)
    func aMessageThatKeepsFailingWaitsForStaff(_ database: TestDatabase) async throws {
        let clock = ManualClock()
        let transport = FlakyTransport(failures: MailOutbox.maxAttempts)
        let (outbox, services) = try await outbox(database, transport: transport, clock: clock)
        defer { Task { await services.database.shutdown() } }
        let recipient = "bounce-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let mail = try await outbox.enqueue(draft(recipient))
        for _ in 0..<MailOutbox.maxAttempts {
            try await outbox.deliverDue()
            clock.advance(3600)
        }
        var stored = try #require(try await outbox.message(mail.id))
        #expect(stored.status == .failed && stored.attempts == MailOutbox.maxAttempts)
        #expect(try await outbox.list(status: .failed, recipient: recipient).map(\.id) == [mail.id])

        try await outbox.retryNow(mail.id)
        #expect(try await outbox.deliverDue() == 1)
        stored = try #require(try await outbox.message(mail.id))
        #expect(stored.status == .sent)
        await #expect(throws: AtriumError.self) { try await outbox.retryNow(mail.id) }  // nothing left to retry
    }

    @Test(arguments: TestDatabase.all)
    func twoInstancesDoNotSendTheSameMessage(_ database: TestDatabase) async throws {
        let clock = ManualClock()
        let (_, services) = try await outbox(database, transport: FlakyTransport(failures: 0), clock: clock)
        defer { Task { await services.database.shutdown() } }
        let repository = SQLMailOutboxRepository(database: services.database)
        let recipient = "claim-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let mail = OutgoingMail(id: .generate(), recipient: recipient, subject: "s", body: "b", kind: "test", createdAt: clock.now(), nextAttemptAt: clock.now())
        try await repository.insert(mail)
        let lease = clock.now().addingTimeInterval(120)
        async let first = repository.claimDue(now: clock.now(), leaseUntil: lease, limit: 1000)
        async let second = repository.claimDue(now: clock.now(), leaseUntil: lease, limit: 1000)
        let claims = try await [first, second].map { $0.filter { $0.recipient == recipient }.count }
        #expect(claims.reduce(0, +) == 1)
    }

    @Test func retriesWaitLongerEachTimeUpToAnHour() {
        #expect((1...9).map(MailOutbox.retryDelay(afterAttempts:)) == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600])
    }
}

/// The message as it goes over the wire.
@Suite struct MailFormatTests {
    @Test func headersAreEncodedAndTheBodyIsQuotedPrintable() {
        let mail = OutgoingMail(
            id: .generate(), recipient: "ada@example.com", subject: "验证你在 Atrium 的邮箱", body: "Hello Ada,\n.hidden line\n" + String(repeating: "x", count: 100) + " = 1 ",
            kind: "test", createdAt: Date(timeIntervalSince1970: 0), nextAttemptAt: Date(timeIntervalSince1970: 0))
        let message = MailFormat.message(mail, from: "Atrium Platform <no-reply@example.com>", date: Date(timeIntervalSince1970: 0))
        #expect(message.contains("From: Atrium Platform <no-reply@example.com>\r\n"))
        #expect(message.contains("Subject: =?utf-8?B?\(Data("验证你在 Atrium 的邮箱".utf8).base64EncodedString())?=\r\n"))
        #expect(message.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"))
        #expect(message.contains("Message-ID: <\(mail.id)@example.com>"))
        let body = message.components(separatedBy: "\r\n\r\n")[1]
        #expect(body.hasPrefix("Hello Ada,\r\n.hidden line\r\n"))
        #expect(body.components(separatedBy: "\r\n").allSatisfy { $0.count <= 76 })
        #expect(body.contains("=3D 1=20"))  // "=" escaped, a trailing space kept visible
        #expect(MailFormat.dotStuffed(message).contains("\r\n..hidden line\r\n"))
        // A newline in a subject cannot add a header.
        #expect(MailFormat.encodedWord("Hi\r\nBcc: x@example.com") == "Hi  Bcc: x@example.com")
        #expect(MailFormat.address("Name <a@b.example>") == "a@b.example" && MailFormat.address("a@b.example") == "a@b.example")
    }
}
