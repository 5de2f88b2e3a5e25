import ArgumentParser
import AtriumCore
import AtriumServer
import Foundation

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operator tasks.", subcommands: [CreateUser.self, Usage.self, Grant.self, SetPrice.self])

    struct CreateUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-user", abstract: "Create a user; the password is read from standard input.")

        @OptionGroup var options: CommonOptions
        @Option var email: String
        @Option var name: String
        @Option(help: "Make the user platform staff: admin, support or moderator.")
        var staff: PlatformRoleArgument?

        func run() async throws {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("Give the password on standard input, e.g. `echo \"$PASSWORD\" | atrium admin create-user …`.")
            }
            try await options.withServices { services in
                let user = try await services.accounts.register(email: email, password: line, name: name, staffRole: staff?.role, emailVerified: true)
                print("Created user \(user.email) (\(user.id))\(user.staffRole.map { " with staff role \($0.rawValue)" } ?? "").")
            }
        }
    }
}

struct PlatformRoleArgument: ExpressibleByArgument {
    let role: PlatformRole
    init?(argument: String) {
        guard let role = PlatformRole(rawValue: argument) else { return nil }
        self.role = role
    }
    static var allValueStrings: [String] { PlatformRole.allCases.map(\.rawValue) }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "API keys.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key for a user's personal organization and print it.")

        @OptionGroup var options: CommonOptions
        @Option(help: "The user's email.") var email: String
        @Option(help: "A name for the key.") var name: String

        func run() async throws {
            try await options.withServices { services in
                guard let user = try await services.accounts.user(email: email) else {
                    throw ValidationError("No user with email \(email).")
                }
                let organization = try await services.accounts.actingOrganization(nil, user: user.id)
                let created = try await services.keys.create(
                    organization: organization.organization.id, createdBy: user.id, name: name, scopes: nil, expiresAt: nil)
                print(created.secret)
            }
        }
    }
}

extension AtriumError {
    /// The message alone, for the command line.
    var readableMessage: String {
        switch self {
        case .invalidRequest(let message, _, _), .unauthenticated(let message, _), .permissionDenied(let message, _),
            .notFound(let message, _), .conflict(let message, _), .payloadTooLarge(let message), .rateLimited(let message, _, _),
            .limitReached(let message, _, _), .insufficientQuota(let message), .badGateway(let message), .serviceUnavailable(let message), .gatewayTimeout(let message):
            return message
        }
    }
}
