import ArgumentParser
import AtriumCore
import AtriumServer
import Foundation

/// Picks an organization on the command line: by id, or the personal organization of a user's email.
struct OrganizationOptions: ParsableArguments {
    @Option(help: "The organization's id.") var organization: String?
    @Option(help: "A user's email: their personal organization.") var email: String?

    func resolve(_ services: AtriumServices) async throws -> OrganizationID {
        switch (organization, email) {
        case (let raw?, nil):
            guard let id = OrganizationID(raw) else { throw ValidationError("\(raw) is not an organization id.") }
            return id
        case (nil, let email?):
            guard let user = try await services.accounts.user(email: email) else { throw ValidationError("No user with email \(email).") }
            return try await services.accounts.actingOrganization(nil, user: user.id).organization.id
        default:
            throw ValidationError("Name the organization with --organization ID or --email USER_EMAIL (one of them).")
        }
    }
}

/// An amount of credit in units, with up to six decimals (`2.5`, `0.000001`), read exactly.
struct CreditAmount: ExpressibleByArgument {
    let micros: Micros

    init?(argument: String) {
        let negative = argument.hasPrefix("-")
        let digits = negative ? argument.dropFirst() : Substring(argument)
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isNumber), whole.count <= 12 else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 6, fraction.allSatisfy(\.isNumber) else { return nil }
        fraction += String(repeating: "0", count: 6 - fraction.count)
        guard let units = Micros(whole), let micros = Micros(fraction) else { return nil }
        self.micros = (units * 1_000_000 + micros) * (negative ? -1 : 1)
    }
}

extension Admin {
    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an organization's usage by day, model and key.")

        @OptionGroup var options: CommonOptions
        @OptionGroup var target: OrganizationOptions
        @Option(help: "First day, e.g. 2026-11-01.") var from: String?
        @Option(help: "Last day, e.g. 2026-11-30.") var to: String?
        @Option(help: "Only this model.") var model: String?
        @Flag(help: "Write CSV instead of a table.") var csv = false

        func validate() throws {
            for (name, day) in [("--from", from), ("--to", to)] {
                if let day, UsageRecord.start(ofDay: day) == nil { throw ValidationError("\(name) must be a date like 2026-11-23, not \(day).") }
            }
        }

        func run() async throws {
            try await options.withServices { services in
                let organization = try await target.resolve(services)
                let buckets = try await services.usage.buckets(UsageQuery(organizationID: organization, fromDay: from, toDay: to, model: model))
                if csv {
                    print(UsageCSV.render(buckets), terminator: "")
                    return
                }
                guard !buckets.isEmpty else {
                    print("No usage for organization \(organization) in that period.")
                    return
                }
                func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
                print(pad("day", 12) + pad("model", 28) + pad("key", 38) + pad("requests", 10) + pad("tokens", 14) + "cost")
                var totals = (requests: 0, tokens: 0, cost: Micros(0))
                for bucket in buckets {
                    let tokens = bucket.promptTokens + bucket.completionTokens
                    print(pad(bucket.day, 12) + pad(String(bucket.model.prefix(27)), 28) + pad(bucket.keyID.description, 38)
                        + pad(String(bucket.requests), 10) + pad(String(tokens), 14) + bucket.costMicros.formattedUnits)
                    totals = (totals.requests + bucket.requests, totals.tokens + tokens, totals.cost + bucket.costMicros)
                }
                print(pad("total", 78) + pad(String(totals.requests), 10) + pad(String(totals.tokens), 14) + totals.cost.formattedUnits)
            }
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add credit to an organization (or, with --kind adjustment, take it).")

        @OptionGroup var options: CommonOptions
        @OptionGroup var target: OrganizationOptions
        @Option(help: "Amount in units, up to 6 decimals (e.g. 25 or 2.5).") var amount: CreditAmount
        @Option(help: "grant, topup, reward or adjustment.") var kind: String = "grant"
        @Option(help: "Shown in the organization's credit ledger.") var description: String = "Granted by an operator"

        func run() async throws {
            guard let kind = CreditKind(rawValue: kind) else { throw ValidationError("--kind must be grant, topup, reward or adjustment.") }
            try await options.withServices { services in
                let organization = try await target.resolve(services)
                let balance = try await services.credits.add(kind, amount: amount.micros, to: organization, description: description, by: nil)
                print("Added \(amount.micros.formattedUnits) (\(kind.rawValue)) to organization \(organization); balance \(balance.formattedUnits).")
            }
        }
    }

    struct SetPrice: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-price", abstract: "Set a model's price per million tokens; earlier requests keep the price they were charged.")

        @OptionGroup var options: CommonOptions
        @Option(help: "The model's public name.") var model: String
        @Option(help: "Price of a million prompt tokens, in units (e.g. 0.15).") var input: CreditAmount
        @Option(help: "Price of a million completion tokens, in units (e.g. 0.60).") var output: CreditAmount

        func run() async throws {
            try await options.withServices { services in
                let price = try await services.prices.set(
                    model: model, inputMicrosPerMillion: input.micros, outputMicrosPerMillion: output.micros, by: nil)
                print("\(price.model): \(price.inputMicrosPerMillion.formattedUnits) per million prompt tokens, \(price.outputMicrosPerMillion.formattedUnits) per million completion tokens.")
            }
        }
    }
}
