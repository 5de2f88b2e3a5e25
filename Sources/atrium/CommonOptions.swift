import ArgumentParser
import AtriumCore
import AtriumPersistence
import AtriumServer
import Foundation
import Logging

/// Options every subcommand that touches the database shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Config file (default: ./atrium.yaml when present).")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Where the SQLite database and models live (default: ./data).")
    var dataDir: String?

    func load(extra: [String: String] = [:]) async throws -> AtriumConfig {
        var flags = extra
        if let dataDir { flags["data_dir"] = dataDir }
        do {
            return try await ConfigLoader.load(flags: flags, configFile: config)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
    }
}

extension CommonOptions {
    /// Opens the database and services, runs `body`, and always closes the database again; domain
    /// errors become the plain message the command line shows.
    func withServices(extra: [String: String] = [:], _ body: (AtriumServices) async throws -> Void) async throws {
        let config = try await load(extra: extra)
        let services: AtriumServices
        do {
            services = try await AtriumServices.make(config: config, logger: Logging.bootstrap(config))
        } catch let error as DatabaseURLError {
            throw ValidationError(error.description)
        }
        do {
            try await body(services)
            await services.database.shutdown()
        } catch let error as AtriumError {
            await services.database.shutdown()
            throw ValidationError(error.readableMessage)
        } catch {
            await services.database.shutdown()
            // A database failure is said in one line with its cause (never the generic PSQLError text).
            throw DatabaseFailure.isDatabaseError(error) ? DatabaseFailure(stage: "running the command", error) : error
        }
    }
}

enum Logging {
    static func bootstrap(_ config: AtriumConfig) -> Logger {
        let format = config.logFormat
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = config.logLevel
            return handler
        }
        return Logger(label: "atrium")
    }
}
