// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "atrium",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "atrium", targets: ["atrium"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/fluent-kit.git", from: "1.57.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/JohnSundell/Ink.git", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "CKernels",
            exclude: ["README.md"],
            // The engine's elementwise loops stay optimised in debug builds too: the tests run real models.
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        // The one JSON reader: strict, straight from bytes, generic over the value it builds.
        .target(
            name: "AtriumJSON",
            swiftSettings: swiftSettings
        ),
        // Hugging Face chat templates: a Jinja interpreter that renders them as transformers does.
        .target(
            name: "AtriumTemplates",
            dependencies: ["AtriumJSON"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AtriumML",
            dependencies: [
                .target(name: "CBLAS", condition: .when(platforms: [.linux])),
                "CKernels",
                "AtriumTemplates",
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AtriumCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AtriumPersistence",
            dependencies: [
                "AtriumCore",
                .product(name: "FluentKit", package: "fluent-kit"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AtriumServer",
            dependencies: [
                "AtriumCore",
                "AtriumML",
                "AtriumPersistence",
                "AtriumJSON",
                "AtriumTemplates",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Ink", package: "Ink"),
            ],
            resources: [
                .copy("Resources/openapi.yaml"), .copy("Resources/templates"), .copy("Resources/locales"), .copy("Resources/static"),
                .copy("Resources/docs"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "atrium",
            dependencies: [
                "AtriumCore",
                "AtriumPersistence",
                "AtriumServer",
                "AtriumTemplates",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AtriumMLTests",
            dependencies: ["AtriumML", "AtriumTemplates"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AtriumTemplatesTests",
            dependencies: ["AtriumTemplates"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AtriumCoreTests",
            dependencies: ["AtriumCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AtriumServerTests",
            dependencies: [
                "AtriumServer",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
