import ArgumentParser

@main
struct Atrium: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atrium",
        abstract: "A self-hosted developer platform for model providers.",
        subcommands: [Serve.self, Migrate.self, Admin.self, Keys.self, Models.self, Chat.self],
        defaultSubcommand: Serve.self)
}
