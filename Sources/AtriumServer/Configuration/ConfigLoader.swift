import AtriumCore
import AtriumML
import Configuration
import Foundation
import Logging
import Yams

/// A configuration problem, told in a way an operator can act on.
public struct ConfigError: Error, CustomStringConvertible {
    public var description: String
}

/// Resolves `AtriumConfig` with the precedence flags > environment > config file > defaults.
///
/// Scalar settings go through swift-configuration: `port` in the file is `ATRIUM_PORT` in the
/// environment, `data_dir` is `ATRIUM_DATA_DIR`, and `DATABASE_URL` is honoured as the convention it is.
/// The `providers` list is structured data, decoded from the same YAML file with Yams.
public enum ConfigLoader {
    /// `defaultFile` is read, when it exists, if no `configFile` is named; tests pass nil so that a
    /// working tree's own `atrium.yaml` changes nothing they see.
    public static func load(
        flags: [String: String], configFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        defaultFile: String? = "./atrium.yaml"
    ) async throws -> AtriumConfig {
        let filePath = configFile ?? defaultFile ?? ""
        let fileExists = !filePath.isEmpty && FileManager.default.fileExists(atPath: filePath)
        if configFile != nil && !fileExists {
            throw ConfigError(description: "The config file \(filePath) does not exist.")
        }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), ConfigValue(.string($0.value), isSecret: false)) })),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "atrium"),
        ]
        if let databaseURL = environment["DATABASE_URL"] {
            providers.append(InMemoryProvider(name: "DATABASE_URL", values: ["database_url": ConfigValue(.string(databaseURL), isSecret: true)]))
        }
        var fileText = ""
        if fileExists {
            do {
                fileText = try String(contentsOfFile: filePath, encoding: .utf8)
                providers.append(try scalarSettings(yaml: fileText, file: filePath))
            } catch {
                throw ConfigError(description: "The config file \(filePath) could not be read: \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)

        var config = AtriumConfig()
        config.host = reader.string(forKey: "host", default: config.host)
        config.port = try integer(reader, "port", default: config.port, range: 0...65535)
        config.dataDirectory = reader.string(forKey: "data_dir", default: config.dataDirectory)
        config.databaseURL = reader.string(forKey: "database_url", isSecret: true)
        config.migrateOnStart = try boolean(reader, "migrate_on_start", default: config.migrateOnStart)
        let format = reader.string(forKey: "log_format", default: config.logFormat.rawValue)
        guard let logFormat = AtriumConfig.LogFormat(rawValue: format) else {
            throw ConfigError(description: "log_format must be text or json, not \(format).")
        }
        config.logFormat = logFormat
        let level = reader.string(forKey: "log_level", default: config.logLevel.rawValue)
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigError(description: "log_level must be one of trace, debug, info, notice, warning, error, critical.")
        }
        config.logLevel = logLevel
        config.shutdownGracePeriod = .seconds(try integer(reader, "shutdown_grace_seconds", default: 30, range: 0...3600))
        config.maxBodyBytes = try integer(reader, "max_body_bytes", default: config.maxBodyBytes, range: 1024...(1 << 30))
        config.bcryptCost = try integer(reader, "bcrypt_cost", default: config.bcryptCost, range: 4...31)
        config.keyCacheTTL = TimeInterval(try integer(reader, "key_cache_seconds", default: 5, range: 0...3600))
        config.secureCookies = try boolean(reader, "secure_cookies", default: config.secureCookies)
        if let publicURL = reader.string(forKey: "public_url") {
            guard let url = URL(string: publicURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigError(description: "public_url must be an http(s) URL such as https://developers.example.com, not \(publicURL).")
            }
            config.publicURL = publicURL
        }
        // A YAML list, or one string of ranges separated by commas (as the environment gives it).
        if let proxies = reader.stringArray(forKey: "trusted_proxies") ?? reader.string(forKey: "trusted_proxies").map({ [$0] }) {
            config.trustedProxies = try proxies.flatMap { $0.split(whereSeparator: { $0 == "," || $0.isWhitespace }) }.map { text in
                guard let network = IPNetwork(String(text)) else {
                    throw ConfigError(description: "trusted_proxies holds IP ranges such as 10.0.0.0/8, 127.0.0.1, separated by commas; \(text.prefix(60)) is not one.")
                }
                return network
            }
        }
        config.requireVerifiedEmail = try boolean(reader, "require_verified_email", default: config.requireVerifiedEmail)
        config.signupsPerHour = try integer(reader, "signups_per_hour", default: config.signupsPerHour, range: 1...1_000_000)
        config.mailLinksPerHour = try integer(reader, "mail_links_per_hour", default: config.mailLinksPerHour, range: 1...1_000_000)
        config.mailFrom = reader.string(forKey: "mail_from", default: config.mailFrom)
        guard MailFormat.address(config.mailFrom).contains("@"), !config.mailFrom.contains("\n"), !config.mailFrom.contains("\r") else {
            throw ConfigError(description: "mail_from must be an address, such as Atrium <no-reply@example.com>, not \(config.mailFrom).")
        }
        config.smtp = try smtpSettings(reader, from: config.mailFrom)
        config.providers = try parseProviders(yaml: fileText, file: filePath)
        config.usageJournalDirectory = reader.string(forKey: "usage_journal_dir")
        config.usageCommitInterval = .milliseconds(try integer(reader, "usage_commit_interval_ms", default: 100, range: 1...10_000))
        config.freeCreditMicros = Micros(try integer(reader, "free_credit_micros", default: Int(config.freeCreditMicros), range: 0...Int(CreditService.maxAmount)))
        config.creditOverdraftMicros = Micros(try integer(reader, "credit_overdraft_micros", default: 0, range: 0...Int(CreditService.maxAmount)))
        config.defaultMaxTokens = try integer(reader, "default_max_tokens", default: config.defaultMaxTokens, range: 0...10_000_000)
        // 0 turns a default limit off.
        let requests = try integer(reader, "requests_per_minute", default: config.defaultRateLimit.requestsPerMinute!, range: 0...1_000_000_000)
        let tokens = try integer(reader, "tokens_per_minute", default: config.defaultRateLimit.tokensPerMinute!, range: 0...1_000_000_000_000)
        config.defaultRateLimit = RateLimit(requestsPerMinute: requests == 0 ? nil : requests, tokensPerMinute: tokens == 0 ? nil : tokens)
        config.plans = try parsePlans(yaml: fileText, file: filePath)
        config.engineEnabled = try boolean(reader, "engine", default: config.engineEnabled)
        config.modelsDirectory = reader.string(forKey: "models_dir")
        config.engineThreads = try integer(reader, "engine_threads", default: config.engineThreads, range: 1...256)
        config.engineMaxQueued = try integer(reader, "engine_max_queued", default: config.engineMaxQueued, range: 1...1_000_000)
        config.engineKVCacheBytes = try integer(reader, "engine_kv_cache_mb", default: config.engineKVCacheBytes >> 20, range: 1...1_048_576) << 20
        config.engineMaxRunning = try integer(reader, "engine_max_running", default: config.engineMaxRunning, range: 1...1_024)
        if let kernels = reader.string(forKey: "engine_kernels") {
            guard let set = KernelSet(rawValue: kernels) else {
                throw ConfigError(description: "engine_kernels must be auto or avx2, not \(kernels).")
            }
            config.engineKernels = set
        }
        if let mode = reader.string(forKey: "limits") {
            guard let limitsMode = AtriumConfig.LimitsMode(rawValue: mode) else {
                throw ConfigError(description: "limits must be local or shared, not \(mode).")
            }
            config.limitsMode = limitsMode
        }
        if config.resolvedLimitsMode == .shared && !config.resolvedDatabaseURL.hasPrefix("postgres") {
            throw ConfigError(description: "limits: shared needs PostgreSQL (DATABASE_URL=postgres://…); one instance on SQLite keeps them in memory.")
        }
        return config
    }

    /// `smtp_host` and its companions; the username and password usually come from the environment
    /// (`ATRIUM_SMTP_USERNAME`, `ATRIUM_SMTP_PASSWORD`).
    static func smtpSettings(_ reader: ConfigReader, from: String) throws -> SMTPSettings? {
        guard let host = reader.string(forKey: "smtp_host"), !host.isEmpty else { return nil }
        let securityName = reader.string(forKey: "smtp_security", default: SMTPSettings.Security.starttls.rawValue)
        guard let security = SMTPSettings.Security(rawValue: securityName) else {
            throw ConfigError(description: "smtp_security must be starttls, tls or none, not \(securityName).")
        }
        let port = try integer(reader, "smtp_port", default: security == .tls ? 465 : 587, range: 1...65535)
        let caFile = reader.string(forKey: "smtp_ca_file")
        if let caFile, !FileManager.default.fileExists(atPath: caFile) {
            throw ConfigError(description: "smtp_ca_file \(caFile) does not exist.")
        }
        return SMTPSettings(
            host: host, port: port, security: security, username: reader.string(forKey: "smtp_username"),
            password: reader.string(forKey: "smtp_password", isSecret: true), caFile: caFile, from: from)
    }

    /// The top-level scalar settings of the config file. (swift-configuration's own YAML provider
    /// refuses lists of objects, which `providers:` is, so the file is read with Yams once.)
    static func scalarSettings(yaml: String, file: String) throws -> InMemoryProvider {
        guard let root = try Yams.load(yaml: yaml) else { return InMemoryProvider(values: [:]) }
        guard let mapping = root as? [String: Any] else {
            throw ConfigError(description: "\(file) must hold a mapping of settings at its top level.")
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in mapping {
            let content: ConfigContent
            switch value {
            case let bool as Bool: content = .bool(bool)
            case let int as Int: content = .int(int)
            case let double as Double: content = .double(double)
            case let string as String: content = .string(string)
            case let list as [Any] where list.allSatisfy({ $0 is String || $0 is Int || $0 is Double || $0 is Bool }):
                content = .stringArray(list.map { "\($0)" })  // a list of plain values (`trusted_proxies`)
            default: continue
            }
            values[AbsoluteConfigKey([key])] = ConfigValue(content, isSecret: key == "database_url" || key == "smtp_password")
        }
        return InMemoryProvider(name: file, values: values)
    }

    /// The `providers:` section of the config file.
    static func parseProviders(yaml: String, file: String) throws -> [ProviderConfig] {
        struct File: Decodable { var providers: [ProviderConfig]? }
        guard !yaml.isEmpty else { return [] }
        let providers: [ProviderConfig]
        do {
            providers = try YAMLDecoder().decode(File.self, from: yaml).providers ?? []
        } catch let error as DecodingError {
            throw ConfigError(description: "\(file): \(describe(error))")
        } catch {
            throw ConfigError(description: "\(file): \(error)")
        }
        var seen = Set<String>()
        for provider in providers {
            guard seen.insert(provider.name).inserted else {
                throw ConfigError(description: "\(file): two providers are named \(provider.name).")
            }
            guard let url = URL(string: provider.baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigError(description: "\(file): provider \(provider.name) has base_url \(provider.baseURL), which is not an http(s) URL.")
            }
            if provider.models.isEmpty {
                throw ConfigError(description: "\(file): provider \(provider.name) serves no models.")
            }
        }
        return providers
    }

    /// The `plans:` section of the config file.
    static func parsePlans(yaml: String, file: String) throws -> [PlanConfig] {
        struct File: Decodable { var plans: [PlanConfig]? }
        guard !yaml.isEmpty else { return [] }
        let plans: [PlanConfig]
        do {
            plans = try YAMLDecoder().decode(File.self, from: yaml).plans ?? []
        } catch let error as DecodingError {
            throw ConfigError(description: "\(file): \(describe(error))")
        }
        var seen = Set<String>()
        for plan in plans {
            guard seen.insert(plan.name).inserted else { throw ConfigError(description: "\(file): two plans are named \(plan.name).") }
            for (value, key) in [(plan.requestsPerMinute, "requests_per_minute"), (plan.tokensPerMinute, "tokens_per_minute")] {
                if let value, !(1...1_000_000_000_000).contains(value) {
                    throw ConfigError(description: "\(file): plan \(plan.name) has \(key) \(value); give a number from 1 to 10^12, or leave it out for no limit.")
                }
            }
        }
        return plans
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing \(key.stringValue) at \(path(context).isEmpty ? "top level" : path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private static func integer(_ reader: ConfigReader, _ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = reader.string(forKey: ConfigKey(key)) else {
            if let int = reader.int(forKey: ConfigKey(key)) { return try check(int, key, range) }
            return value
        }
        guard let int = Int(raw.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigError(description: "\(key) must be an integer, not \"\(raw)\".")
        }
        return try check(int, key, range)
    }

    private static func check(_ value: Int, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        guard range.contains(value) else {
            throw ConfigError(description: "\(key) must be between \(range.lowerBound) and \(range.upperBound), not \(value).")
        }
        return value
    }

    private static func boolean(_ reader: ConfigReader, _ key: String, default value: Bool) throws -> Bool {
        if let bool = reader.bool(forKey: ConfigKey(key)) { return bool }
        guard let raw = reader.string(forKey: ConfigKey(key)) else { return value }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigError(description: "\(key) must be true or false, not \"\(raw)\".")
        }
    }
}
