import AtriumCore
import AtriumML
import Foundation
import Logging

/// Everything `atrium serve` needs, resolved from flags, environment, config file and defaults.
public struct AtriumConfig: Sendable {
    public enum LogFormat: String, Sendable { case text, json }

    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "./data"
    /// `sqlite:///path`, `sqlite::memory:` or `postgres://…`; nil means SQLite under the data directory.
    public var databaseURL: String?
    public var migrateOnStart = true
    public var logFormat = LogFormat.text
    public var logLevel = Logger.Level.info
    /// How long SIGTERM waits for in-flight requests and streams before cancelling them.
    public var shutdownGracePeriod = Duration.seconds(30)
    /// Largest request body accepted on `/v1` and `/api`.
    public var maxBodyBytes = 4 << 20
    public var bcryptCost = 12
    /// How long a verified API key is trusted before the database is asked again (revocations on other
    /// instances take effect within this time).
    public var keyCacheTTL: TimeInterval = 5
    /// Session cookies carry `Secure` (set this behind HTTPS).
    public var secureCookies = false
    /// The address people reach the portal at, for links in mail (nil: `http://host:port`).
    public var publicURL: String?
    /// API keys wait until the account's email is verified.
    public var requireVerifiedEmail = true
    /// Reverse proxies whose `X-Forwarded-For` names the client (`ClientAddress`); none by default.
    public var trustedProxies: [IPNetwork] = []
    /// Sign-ups a client address may make in an hour.
    public var signupsPerHour = 20
    /// Mailed links (verification, password reset, email change) asked for per address, and resets per
    /// client address, in an hour.
    public var mailLinksPerHour = 5
    /// The mail server (nil: mail is written to the log, and staff read it in the outbox).
    public var smtp: SMTPSettings?
    /// The sender of the platform's mail.
    public var mailFrom = "Atrium <no-reply@localhost>"
    public var providers: [ProviderConfig] = []

    /// Where each server process keeps its usage journal (nil: `journal/` in the data directory).
    public var usageJournalDirectory: String?
    /// How long the usage committer waits between group commits.
    public var usageCommitInterval = Duration.milliseconds(100)
    /// Credit every new organization starts with, in micro-units.
    public var freeCreditMicros: Micros = 5_000_000
    /// How far below zero a balance may go.
    public var creditOverdraftMicros: Micros = 0
    /// Answer tokens reserved (for rate limits and credit) when a request sets no `max_tokens`.
    public var defaultMaxTokens = 1024
    /// The limits of organizations without a plan of their own.
    public var defaultRateLimit = RateLimit(requestsPerMinute: 3_500, tokensPerMinute: 2_000_000)
    /// Where rate limits and credit are decided: `local` (in this process's memory; one instance) or
    /// `shared` (in the database, so they hold across every instance on it; PostgreSQL only).
    /// nil: shared on PostgreSQL, local on SQLite.
    public var limitsMode: LimitsMode?
    public enum LimitsMode: String, Sendable { case local, shared }

    public var resolvedLimitsMode: LimitsMode {
        limitsMode ?? (resolvedDatabaseURL.hasPrefix("postgres") ? .shared : .local)
    }

    /// Named plans an organization can be put on (`plans:` in the config file).
    public var plans: [PlanConfig] = []

    /// The embedded engine serves the models it finds in `modelsDirectory` (default `<data>/models`).
    public var engineEnabled = true
    public var modelsDirectory: String?
    /// Cores the engine may use (all by default).
    public var engineThreads = ProcessInfo.processInfo.activeProcessorCount
    /// Inputs waiting for the engine at most; beyond it, requests get 429.
    public var engineMaxQueued = 4_096
    /// Memory for the generation engine's keys and values, per chat model: it bounds the positions of
    /// all running sequences together (SmolLM2-135M takes 46 KB a position).
    public var engineKVCacheBytes = 96 << 20
    /// Sequences a chat model decodes together at most.
    public var engineMaxRunning = 16
    /// The engine's kernels: every kind the CPU has, or AVX2 at most (to measure a CPU without AVX-512).
    public var engineKernels = KernelSet.auto

    public init() {}

    public var resolvedPublicURL: String {
        var url = publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    public var resolvedJournalDirectory: String {
        usageJournalDirectory ?? "\(URL(fileURLWithPath: dataDirectory).standardizedFileURL.path)/journal"
    }

    public var resolvedModelsDirectory: String {
        modelsDirectory ?? "\(URL(fileURLWithPath: dataDirectory).standardizedFileURL.path)/models"
    }

    public var resolvedDatabaseURL: String {
        databaseURL ?? "sqlite://\(URL(fileURLWithPath: dataDirectory).standardizedFileURL.path)/atrium.db"
    }
}

/// A plan: the rate limits of the organizations on it (a missing limit is no limit).
public struct PlanConfig: Sendable, Codable, Equatable {
    public var name: String
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?

    enum CodingKeys: String, CodingKey {
        case name
        case requestsPerMinute = "requests_per_minute"
        case tokensPerMinute = "tokens_per_minute"
    }

    public init(name: String, requestsPerMinute: Int?, tokensPerMinute: Int?) {
        self.name = name
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }

    public var rateLimit: RateLimit { RateLimit(requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute) }
}

/// An inference provider declared in the config file.
public struct ProviderConfig: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case openai }

    public struct Model: Sendable, Codable, Equatable {
        /// The name clients use.
        public var name: String
        /// The name the upstream knows it by (defaults to `name`).
        public var upstream: String?
        public var kind: ModelKind
        /// Request fields this provider cannot honour for the model (`tools`, `response_format`, …): a
        /// request that sets one gets a 400 naming it rather than an answer that ignored it.
        public var unsupported: [String]?
        /// The model's context length in tokens, shown in the portal's catalog (`context_length`).
        public var contextLength: Int?

        enum CodingKeys: String, CodingKey {
            case name, upstream, kind, unsupported
            case contextLength = "context_length"
        }

        public init(name: String, upstream: String? = nil, kind: ModelKind, unsupported: [String]? = nil, contextLength: Int? = nil) {
            self.name = name
            self.upstream = upstream
            self.kind = kind
            self.unsupported = unsupported
            self.contextLength = contextLength
        }
    }

    public struct Timeouts: Sendable, Codable, Equatable {
        public var connect: Double?
        public var firstByte: Double?
        public var idle: Double?

        enum CodingKeys: String, CodingKey {
            case connect
            case firstByte = "first_byte"
            case idle
        }

        public init(connect: Double? = nil, firstByte: Double? = nil, idle: Double? = nil) {
            self.connect = connect
            self.firstByte = firstByte
            self.idle = idle
        }
    }

    /// When to take the provider out of rotation: after `failure_threshold` consecutive failures, for
    /// `cooldown` seconds (doubling while it keeps failing, up to 60).
    public struct Circuit: Sendable, Codable, Equatable {
        public var failureThreshold: Int?
        public var cooldown: Double?

        enum CodingKeys: String, CodingKey {
            case failureThreshold = "failure_threshold"
            case cooldown
        }

        public init(failureThreshold: Int? = nil, cooldown: Double? = nil) {
            self.failureThreshold = failureThreshold
            self.cooldown = cooldown
        }
    }

    public var name: String
    public var kind: Kind
    public var baseURL: String
    /// The environment variable holding the upstream's API key (never the key itself).
    public var apiKeyEnv: String?
    public var timeouts: Timeouts?
    public var circuit: Circuit?
    public var models: [Model]

    enum CodingKeys: String, CodingKey {
        case name, kind, models, timeouts, circuit
        case baseURL = "base_url"
        case apiKeyEnv = "api_key_env"
    }

    public init(name: String, kind: Kind = .openai, baseURL: String, apiKeyEnv: String? = nil, timeouts: Timeouts? = nil, circuit: Circuit? = nil, models: [Model]) {
        self.circuit = circuit
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.timeouts = timeouts
        self.models = models
    }

    func makeBreaker() -> CircuitBreaker {
        CircuitBreaker(
            failureThreshold: circuit?.failureThreshold ?? 3,
            cooldown: .milliseconds(Int64((circuit?.cooldown ?? 5) * 1000)))
    }

    var upstreamTimeouts: UpstreamTimeouts {
        let defaults = UpstreamTimeouts()
        func duration(_ seconds: Double?, _ fallback: Duration) -> Duration {
            seconds.map { .milliseconds(Int64($0 * 1000)) } ?? fallback
        }
        return UpstreamTimeouts(
            connect: duration(timeouts?.connect, defaults.connect),
            firstByte: duration(timeouts?.firstByte, defaults.firstByte),
            idle: duration(timeouts?.idle, defaults.idle))
    }
}
