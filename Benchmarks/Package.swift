// swift-tools-version:6.2
import Foundation
import PackageDescription

// samu's benchmarks, out of the product: a package of their own (as swift-kafka-client's
// Benchmarks/ is), built on the main package's libraries. `ops/bench.sh` runs the suite (baselines
// and samu interleaved), `ops/bench-dispatch.sh` the dispatch core against a linear scan.
//
// A path dependency's identity is its directory's name, which depends on where the repository was
// cloned: read it from this manifest's location.
let samu = Context.packageDirectory.split(separator: "/").dropLast().last.map { String($0).lowercased() } ?? "samu"

let package = Package(
    name: "samu-benchmarks",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "samu-bench", targets: ["SamuBench"])],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .executableTarget(
            name: "SamuBench",
            dependencies: [
                .product(name: "SamuModel", package: samu),
                .product(name: "SamuDispatchCore", package: samu),
                .product(name: "SamuTriage", package: samu),
                .product(name: "SamuStore", package: samu),
                .product(name: "SamuPipeline", package: samu),
                .product(name: "RdKafka", package: samu),
                .product(name: "SamuTestSupport", package: samu),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: [
                .treatAllWarnings(as: .error), .enableUpcomingFeature("ExistentialAny"), .strictMemorySafety(),
            ]
        )
    ]
)
