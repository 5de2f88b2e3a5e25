import AtriumCore
import Foundation
import Testing

@testable import AtriumServer

@Suite struct ConfigLoaderTests {
    private func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("atrium-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheFile() async throws {
        let file = try write("port: 9000\nhost: 0.0.0.0\nlog_format: json\n")
        let fromFile = try await ConfigLoader.load(flags: [:], configFile: file, environment: [:])
        #expect(fromFile.port == 9000)
        #expect(fromFile.host == "0.0.0.0")
        #expect(fromFile.logFormat == .json)

        let fromEnvironment = try await ConfigLoader.load(flags: [:], configFile: file, environment: ["ATRIUM_PORT": "9100"])
        #expect(fromEnvironment.port == 9100)

        let fromFlags = try await ConfigLoader.load(flags: ["port": "9200"], configFile: file, environment: ["ATRIUM_PORT": "9100"])
        #expect(fromFlags.port == 9200)
    }

    @Test func meteringSettingsAndPlansAreRead() async throws {
        let file = try write("""
            free_credit_micros: 2500000
            requests_per_minute: 0
            tokens_per_minute: 90000
            plans:
              - {name: pro, requests_per_minute: 10000, tokens_per_minute: 2000000}
              - {name: unlimited}
            """)
        let config = try await ConfigLoader.load(flags: ["data_dir": "/tmp/x"], configFile: file, environment: [:])
        #expect(config.freeCreditMicros == 2_500_000)
        #expect(config.defaultRateLimit == RateLimit(requestsPerMinute: nil, tokensPerMinute: 90_000))
        #expect(config.plans.map(\.name) == ["pro", "unlimited"])
        #expect(config.plans[0].rateLimit == RateLimit(requestsPerMinute: 10_000, tokensPerMinute: 2_000_000))
        #expect(config.plans[1].rateLimit == .unlimited)
        #expect(config.resolvedJournalDirectory == "/tmp/x/journal")
        let bad = try write("plans:\n  - {name: pro, requests_per_minute: -5}\n")
        await #expect(throws: ConfigError.self) { try await ConfigLoader.load(flags: [:], configFile: bad, environment: [:]) }
    }

    @Test func databaseURLComesFromTheConventionalVariable() async throws {
        let config = try await ConfigLoader.load(flags: ["data_dir": "/tmp/x"], configFile: nil, environment: ["DATABASE_URL": "postgres://a@b/c"], defaultFile: nil)
        #expect(config.resolvedDatabaseURL == "postgres://a@b/c")
        let fallback = try await ConfigLoader.load(flags: ["data_dir": "/tmp/x"], configFile: nil, environment: [:], defaultFile: nil)
        #expect(fallback.resolvedDatabaseURL == "sqlite:///tmp/x/atrium.db")
    }

    @Test(arguments: [
        (["ATRIUM_PORT": "eighty"], "port must be an integer"),
        (["ATRIUM_PORT": "70000"], "port must be between"),
        (["ATRIUM_LOG_FORMAT": "xml"], "log_format"),
        (["ATRIUM_MIGRATE_ON_START": "perhaps"], "migrate_on_start"),
        (["ATRIUM_TRUSTED_PROXIES": "10.0.0.0/8, nginx"], "trusted_proxies"),
        (["ATRIUM_ENGINE_KERNELS": "avx512"], "engine_kernels must be auto or avx2"),
    ])
    func badValuesAreNamed(_ environment: [String: String], _ message: String) async throws {
        await #expect {
            _ = try await ConfigLoader.load(flags: [:], configFile: nil, environment: environment, defaultFile: nil)
        } throws: { error in
            (error as? ConfigError)?.description.contains(message) == true
        }
    }

    @Test func trustedProxiesComeAsAListOrAsText() async throws {
        let file = try write("trusted_proxies: [10.0.0.0/8, \"::1\"]\n")
        let fromFile = try await ConfigLoader.load(flags: [:], configFile: file, environment: [:])
        #expect(fromFile.trustedProxies.map(\.description) == ["10.0.0.0/8", "::1/128"])
        let fromEnvironment = try await ConfigLoader.load(
            flags: [:], configFile: nil, environment: ["ATRIUM_TRUSTED_PROXIES": "127.0.0.1, 192.168.0.0/16"], defaultFile: nil)
        #expect(fromEnvironment.trustedProxies.map(\.description) == ["127.0.0.1/32", "192.168.0.0/16"])
        #expect(try await ConfigLoader.load(flags: [:], configFile: nil, environment: [:], defaultFile: nil).trustedProxies.isEmpty)
    }

    @Test func engineKernelsDefaultToEveryKindTheCPUHas() async throws {
        #expect(try await ConfigLoader.load(flags: [:], configFile: nil, environment: [:], defaultFile: nil).engineKernels == .auto)
        let file = try write("engine_kernels: avx2\n")
        #expect(try await ConfigLoader.load(flags: [:], configFile: file, environment: [:]).engineKernels == .avx2)
    }

    @Test func providersAreReadWithTheirModels() async throws {
        let file = try write("""
            providers:
              - name: box
                kind: openai
                base_url: http://127.0.0.1:8000/v1
                api_key_env: BOX_KEY
                timeouts: {connect: 1.5, first_byte: 10}
                models:
                  - {name: small, upstream: org/small-model, kind: chat}
                  - {name: embed, kind: embedding}
            """)
        let config = try await ConfigLoader.load(flags: [:], configFile: file, environment: [:])
        let provider = try #require(config.providers.first)
        #expect(provider.apiKeyEnv == "BOX_KEY")
        #expect(provider.models.map(\.name) == ["small", "embed"])
        #expect(provider.upstreamTimeouts.connect == .milliseconds(1500))
        #expect(provider.upstreamTimeouts.idle == .seconds(60))
    }

    @Test(arguments: [
        ("providers:\n  - {name: a, kind: openai, base_url: 'ftp://x', models: [{name: m, kind: chat}]}\n", "not an http(s) URL"),
        ("providers:\n  - {name: a, kind: openai, base_url: 'http://x', models: []}\n", "serves no models"),
        ("providers:\n  - {name: a, kind: openai, base_url: 'http://x', models: [{name: m, kind: chat}]}\n  - {name: a, kind: openai, base_url: 'http://y', models: [{name: m, kind: chat}]}\n", "two providers are named a"),
        ("providers:\n  - {name: a, kind: grpc, base_url: 'http://x', models: [{name: m, kind: chat}]}\n", "providers[0].kind"),
        ("providers:\n  - {name: a, kind: openai, models: [{name: m, kind: chat}]}\n", "missing base_url"),
        ("- just\n- a list\n", "mapping"),
    ])
    func brokenProviderSectionsAreExplained(_ yaml: String, _ message: String) async throws {
        let file = try write(yaml)
        await #expect {
            _ = try await ConfigLoader.load(flags: [:], configFile: file, environment: [:])
        } throws: { error in
            let description = (error as? ConfigError)?.description ?? ""
            return description.contains(message) && description.contains(file)
        }
    }

    @Test func aMissingConfigFileNamedOnTheCommandLineIsAnError() async {
        await #expect(throws: ConfigError.self) {
            _ = try await ConfigLoader.load(flags: [:], configFile: "/nonexistent/atrium.yaml", environment: [:])
        }
    }
}
