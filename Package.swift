// swift-tools-version:6.2
import PackageDescription

/// Every target: Swift 6 language mode (the tools version's default), warnings are errors.
/// Strict memory safety everywhere: every unsafe construct is marked `unsafe` where it is used.
let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
    .strictMemorySafety(),
]

let package = Package(
    name: "samu",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "samu", targets: ["samu"]),
        // For the nested packages (Fuzz/, Benchmarks/): the libraries the executable is made of.
        .library(name: "SamuModel", targets: ["SamuModel"]),
        .library(name: "SamuDispatchCore", targets: ["SamuDispatchCore"]),
        .library(name: "SamuTriage", targets: ["SamuTriage"]),
        .library(name: "SamuStore", targets: ["SamuStore"]),
        .library(name: "RdKafka", targets: ["RdKafka"]),
        .library(name: "SamuPipeline", targets: ["SamuPipeline"]),
        // The tests' and the benchmarks' private brokers and fixtures (one Tansu launcher).
        .library(name: "SamuTestSupport", targets: ["SamuTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already in the graph through postgres-nio; samu uses it for UUIDv5 (SHA-1) ids.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Already in the graph through postgres-nio; samu uses it for PostgreSQL TLS settings.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // NIOHTTPTypes (built for Hummingbird anyway): the console's connection guard reads its parts.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // The console, HTTP intake and the metrics and health endpoints. No default traits: samu
        // needs neither swift-configuration nor the URL-encoded-form coders (build time).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        // Only its bcrypt target (C, no further dependencies): operators' password hashes.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // The Prometheus text format for swift-metrics.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Tests only: property-based checks of triage and dispatch invariants.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // The C door: librdkafka's headers from Debian's librdkafka-dev (built against 2.0.2, run with >= 2.1).
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // glibc's malloc.h (mallopt), for the worker's allocator settings.
        .systemLibrary(name: "CMalloc"),
        // The only target that calls C (librdkafka): producer, consumer, admin, errors, configuration.
        .target(
            name: "RdKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Pure value types: events, validation against topics/ schemas, the topic catalog.
        .target(
            name: "SamuModel",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Pure triage: the rules file in seeds/triage/ → priority, skills, bed, notifications, reasons.
        .target(
            name: "SamuTriage",
            dependencies: ["SamuModel"],
            swiftSettings: strict
        ),
        // Pure dispatch: one state machine per zone (units, beds, queue, timers) → decisions with reasons.
        .target(
            name: "SamuDispatchCore",
            dependencies: ["SamuModel"],
            swiftSettings: strict
        ),
        // PostgreSQL: migrations, the inbox (processed events), cases, timeline, outbox.
        .target(
            name: "SamuStore",
            dependencies: [
                "SamuModel",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("SQL")],
            swiftSettings: strict
        ),
        // Composition: the worker and outbox relay services, dead-letter policy, metrics.
        .target(
            name: "SamuPipeline",
            dependencies: [
                "SamuModel", "SamuStore", "RdKafka", "SamuTriage", "SamuDispatchCore", "CMalloc",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // HTTP doors: the operator console (board, live updates, actions), the hotline intake
        // endpoint, /metrics and the health checks; accounts, sessions and API tokens.
        .target(
            name: "SamuWeb",
            dependencies: [
                "SamuModel", "SamuStore", "RdKafka",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Assets")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "samu",
            dependencies: [
                "SamuWeb", "SamuPipeline", "SamuStore", "SamuModel", "RdKafka", "SamuTriage", "SamuDispatchCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Shared test helpers: the embedded default's addresses, unique names, fixtures.
        .target(
            name: "SamuTestSupport",
            dependencies: [
                "SamuModel", "SamuStore", "RdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SamuModelTests",
            dependencies: [
                "SamuModel", "SamuTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),
        .testTarget(
            name: "SamuDispatchCoreTests",
            dependencies: [
                "SamuDispatchCore", "SamuModel", "SamuTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "SamuTriageTests",
            dependencies: [
                "SamuTriage", "SamuModel", "SamuTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RdKafkaTests", dependencies: ["RdKafka", "SamuTestSupport", "SamuModel", "SamuStore"],
            swiftSettings: strict),
        .testTarget(
            name: "SamuStoreTests", dependencies: ["SamuStore", "SamuModel", "SamuTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "SamuWebTests",
            dependencies: [
                "SamuWeb", "SamuStore", "SamuModel", "RdKafka", "SamuTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "SamuPipelineTests",
            dependencies: [
                "SamuPipeline", "SamuStore", "SamuModel", "RdKafka", "SamuTestSupport", "SamuTriage",
                "SamuDispatchCore", "SamuWeb",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
    ]
)
