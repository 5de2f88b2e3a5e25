import ArgumentParser
import AtriumServer
import Foundation
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server.")

    @OptionGroup var options: CommonOptions

    @Option(help: "Port to listen on (default 8080; ATRIUM_PORT).")
    var port: Int?

    @Option(help: "Address to bind (default 127.0.0.1; ATRIUM_HOST).")
    var host: String?

    @Flag(name: .customLong("no-migrate"), help: "Do not run migrations on start.")
    var noMigrate = false

    func run() async throws {
        AllocatorSettings.apply()
        var flags: [String: String] = [:]
        if let port { flags["port"] = String(port) }
        if let host { flags["host"] = host }
        if noMigrate { flags["migrate_on_start"] = "false" }
        let config = try await options.load(extra: flags)
        let logger = Logging.bootstrap(config)
        let app = try await buildApplication(config: config, logger: logger)
        // SIGTERM or SIGINT: stop accepting, let in-flight requests and streams finish, then cancel
        // whatever is still running once the grace period is over.
        var groupConfig = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = config.shutdownGracePeriod
        try await ServiceGroup(configuration: groupConfig).run()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bring the database schema up to date.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try await options.load(extra: ["migrate_on_start": "true"])
        try await options.withServices(extra: ["migrate_on_start": "true"]) { _ in }
        print("Database is up to date (\(config.resolvedDatabaseURL.hasPrefix("postgres") ? "PostgreSQL" : config.resolvedDatabaseURL)).")
    }
}
