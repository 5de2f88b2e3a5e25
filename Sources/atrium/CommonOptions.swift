import ArgumentParser
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
