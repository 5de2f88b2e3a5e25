import AtriumCore
import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL

/// How to reach the mail server.
public struct SMTPSettings: Sendable, Equatable {
    public enum Security: String, Sendable, CaseIterable {
        /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
        case starttls
        /// TLS from the first byte (port 465).
        case tls
        /// No encryption: only for a server on the same host or network.
        case none
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// A PEM file of certificate authorities to trust besides the system's (a private mail relay).
    public var caFile: String?
    /// The envelope and header sender: `Atrium <no-reply@example.com>` or a bare address.
    public var from: String
    /// The name this client gives in EHLO.
    public var heloName: String = "localhost"
    public var timeout: Duration = .seconds(30)
}

/// An SMTP server answered with something other than what the step needs.
struct SMTPError: Error, CustomStringConvertible {
    var step: String
    var code: Int
    var text: String
    var description: String { "SMTP \(step): \(code) \(text)" }
}

/// Sends mail to an SMTP server (RFC 5321): EHLO, STARTTLS or implicit TLS, AUTH PLAIN, one message
/// per connection. The outbox calls it once per message and retries what throws.
public struct SMTPTransport: MailTransport {
    let settings: SMTPSettings
    private let tls: NIOSSLContext?

    public init(settings: SMTPSettings) throws {
        self.settings = settings
        if settings.security == .none {
            tls = nil
        } else {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile = settings.caFile {
                configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            }
            tls = try NIOSSLContext(configuration: configuration)
        }
    }

    public func send(_ mail: OutgoingMail) async throws {
        let message = MailFormat.message(mail, from: settings.from)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: settings.host, port: settings.port) { [settings, tls] channel in
                channel.eventLoop.makeCompletedFuture {
                    if settings.security == .tls, let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: Self.sniName(settings.host)))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await withDeadline(settings.timeout, onTimeout: { channel.channel.close(promise: nil) }) {
            try await channel.executeThenClose { inbound, outbound in
                var session = Session(lines: inbound.makeAsyncIterator(), outbound: outbound)
                try await session.expect("greeting", [220])
                var capabilities = try await session.command("EHLO \(settings.heloName)", step: "EHLO", [250])
                if settings.security == .starttls {
                    guard capabilities.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                        throw SMTPError(step: "STARTTLS", code: 0, text: "the server does not offer STARTTLS (set smtp_security to none to send unencrypted)")
                    }
                    _ = try await session.command("STARTTLS", step: "STARTTLS", [220])
                    guard let tls else { throw SMTPError(step: "STARTTLS", code: 0, text: "no TLS context") }
                    // The TLS handler goes in front on the channel's own loop (it is not Sendable).
                    let pipeline = channel.channel.pipeline
                    try await channel.channel.eventLoop.submit {
                        try pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls, serverHostname: Self.sniName(settings.host)), position: .first)
                    }.get()
                    capabilities = try await session.command("EHLO \(settings.heloName)", step: "EHLO", [250])
                }
                if let username = settings.username, !username.isEmpty {
                    let credentials = Data("\u{0}\(username)\u{0}\(settings.password ?? "")".utf8).base64EncodedString()
                    _ = try await session.command("AUTH PLAIN \(credentials)", step: "AUTH", [235], quiet: true)
                }
                _ = try await session.command("MAIL FROM:<\(MailFormat.address(settings.from))>", step: "MAIL FROM", [250])
                _ = try await session.command("RCPT TO:<\(mail.recipient)>", step: "RCPT TO", [250, 251])
                _ = try await session.command("DATA", step: "DATA", [354])
                try await session.write(MailFormat.dotStuffed(message) + ".\r\n")
                try await session.expect("message", [250])
                try? await session.write("QUIT\r\n")
            }
        }
    }

    /// SNI takes a host name, not an address.
    private static func sniName(_ host: String) -> String? {
        host.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? nil : host
    }

    /// One conversation: commands out, multi-line replies in.
    private struct Session {
        var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

        mutating func command(_ line: String, step: String, _ codes: Set<Int>, quiet: Bool = false) async throws -> [String] {
            try await write(line + "\r\n")
            return try await expect(step, codes)
        }

        func write(_ text: String) async throws {
            try await outbound.write(ByteBuffer(string: text))
        }

        /// Reads one reply (`250-…` lines until `250 …`) and checks its code; the lines' texts.
        @discardableResult
        mutating func expect(_ step: String, _ codes: Set<Int>) async throws -> [String] {
            var texts: [String] = []
            while true {
                guard var buffer = try await lines.next(), let line = buffer.readString(length: buffer.readableBytes) else {
                    throw SMTPError(step: step, code: 0, text: "the server closed the connection")
                }
                let trimmed = line.hasSuffix("\r") ? String(line.dropLast()) : line
                let utf8 = Array(trimmed.utf8)
                guard utf8.count >= 3, let code = Int(String(decoding: utf8[0..<3], as: UTF8.self)) else {
                    throw SMTPError(step: step, code: 0, text: "unreadable reply: \(trimmed.prefix(200))")
                }
                texts.append(String(decoding: utf8.dropFirst(4), as: UTF8.self))
                if utf8.count > 3 && utf8[3] == UInt8(ascii: "-") { continue }
                guard codes.contains(code) else { throw SMTPError(step: step, code: code, text: texts.joined(separator: " ")) }
                return texts
            }
        }
    }
}

/// Runs `body`, calling `onTimeout` and throwing when it takes longer than `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, onTimeout: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            onTimeout()
            throw SMTPError(step: "deadline", code: 0, text: "no answer within \(limit)")
        }
        return value
    }
}
