// swift-tools-version:6.2
import Foundation
import PackageDescription

// The coverage-guided fuzzer of samu's decoders (libFuzzer): a package of its own, because its
// executable is built with `-sanitize=fuzzer` (libFuzzer's `main`, coverage instrumentation), which
// the main package's build must not get. `ops/fuzz.sh` builds and runs it; the README's test
// command runs it for 60 s.
//
// A path dependency's identity is its directory's name, which depends on where the repository was
// cloned: read it from this manifest's location.
let samu = Context.packageDirectory.split(separator: "/").dropLast().last.map { String($0).lowercased() } ?? "samu"

let package = Package(
    name: "samu-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        // libFuzzer's driver, declared for Swift (defined by compiler-rt with -sanitize=fuzzer).
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "DecoderFuzzer",
            dependencies: ["CLibFuzzer", .product(name: "SamuModel", package: samu)],
            swiftSettings: [.treatAllWarnings(as: .error), .strictMemorySafety()]
        ),
    ]
)
