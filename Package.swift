// swift-tools-version: 6.1
// DeltaTape: realtime voice-AI session logs to archival WAV, Ogg Opus and WebM Opus.
//
// The data's path shows in the targets, each knowing only the ones before it:
// kernels → events → timeline → codecs → containers → DeltaTape (conversion, inspection) → deltatape (CLI).
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "DeltaTape",
    products: [
        .library(name: "DeltaTape", targets: ["DeltaTape"]),
        // Object storage (s3://) for the relay package; DeltaTape itself never depends on it.
        .library(name: "DeltaTapeStorage", targets: ["DeltaTapeStorage"]),
        // The test servers (SeaweedFS) for the relay package's tests: not an API.
        .library(name: "DeltaTapeTestSupport", targets: ["TestSupport"]),
        .executable(name: "deltatape", targets: ["deltatape"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
    ],
    targets: [
        // C libraries, through pkg-config, with the Debian packages that provide them.
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "COpus", pkgConfig: "opus", providers: [.apt(["libopus-dev"])]),
        .systemLibrary(name: "COgg", pkgConfig: "ogg", providers: [.apt(["libogg-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CSampleRate", pkgConfig: "samplerate", providers: [.apt(["libsamplerate0-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Byte kernels Swift cannot express fast (base64 shuffles), per-function AVX2 with run-time dispatch.
        .target(name: "CDeltaTapeSIMD"),
        // Byte kernels: base64, G.711, PCM sample conversion; SIMD with scalar references beside them.
        .target(name: "DeltaTapeKernels", dependencies: ["CDeltaTapeSIMD"]),
        // Reading session logs: JSON scanning, vocabularies, input kinds.
        .target(name: "DeltaTapeEvents", dependencies: ["DeltaTapeKernels"]),
        // Turning audio events into tracks of PCM frames.
        .target(name: "DeltaTapeTimeline", dependencies: ["DeltaTapeKernels", "DeltaTapeEvents"]),
        // Codecs: sample-rate conversion (libsoxr, libsamplerate) and Opus encoding (libopus).
        .target(name: "DeltaTapeCodecs", dependencies: ["DeltaTapeKernels", "CSoxr", "CSampleRate", "COpus"]),
        // Writing audio files.
        .target(name: "DeltaTapeContainers", dependencies: ["DeltaTapeKernels", "DeltaTapeCodecs", "CSndFile", "COgg"]),
        // The one import for users: conversion and inspection built from the layers above.
        .target(
            name: "DeltaTape",
            dependencies: ["DeltaTapeKernels", "DeltaTapeEvents", "DeltaTapeTimeline", "DeltaTapeCodecs", "DeltaTapeContainers"]
        ),
        // The CLI reads and writes s3:// through DeltaTapeStorage; the library DeltaTape never depends on it.
        .executableTarget(name: "deltatape", dependencies: ["DeltaTape", "DeltaTapeStorage", argumentParser]),
        // Object storage: an S3 client whose requests libcurl signs (SigV4), and an object read as a session log's bytes
        // (hence Events), an upload written as a file is (hence Containers). A target of its own, beside the pipeline, so that building the core library never waits for it.
        .target(name: "DeltaTapeStorage", dependencies: ["CCurl", "DeltaTapeKernels", "DeltaTapeEvents", "DeltaTapeContainers"]),

        // Test-only helpers: reference tools, the deltatape binary, generated session fixtures.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "DeltaTapeKernelsTests", dependencies: ["DeltaTapeKernels", "TestSupport"]),
        .testTarget(name: "DeltaTapeEventsTests", dependencies: ["DeltaTapeEvents", "TestSupport"]),
        .testTarget(name: "DeltaTapeTimelineTests", dependencies: ["DeltaTapeTimeline", "DeltaTapeEvents", "DeltaTapeKernels", "TestSupport"]),
        .testTarget(name: "DeltaTapeCodecsTests", dependencies: ["DeltaTapeCodecs", "TestSupport"]),
        .testTarget(name: "DeltaTapeContainersTests", dependencies: ["DeltaTapeContainers", "DeltaTapeCodecs", "TestSupport"]),
        // Against a real S3 server that checks signatures (SeaweedFS, started by TestSupport's S3TestServer).
        // Runs the `deltatape` binary on s3:// inputs and outputs too: declared, so that it is built before them.
        .testTarget(name: "DeltaTapeStorageTests", dependencies: ["DeltaTapeStorage", "DeltaTapeEvents", "deltatape", "TestSupport"]),
        // Runs the `deltatape` binary too (its command-line tests): declared, so that it is built before them.
        .testTarget(name: "DeltaTapeTests", dependencies: ["DeltaTape", "deltatape", "TestSupport"], exclude: ["OutputChecksums.txt"]),
        // Names every public type through `import DeltaTape` alone: two modules exporting one name fail to compile here.
        .testTarget(name: "PublicAPITests", dependencies: ["DeltaTape"]),
    ]
)

// One settings loop: Swift 6 language mode everywhere, plus the upcoming features we hold ourselves to.
for target in package.targets where target.type != .system && target.name != "CDeltaTapeSIMD" {
    var settings = target.swiftSettings ?? []
    // https://github.com/apple/swift-evolution/blob/main/proposals/0335-existential-any.md
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // https://github.com/apple/swift-evolution/blob/main/proposals/0444-member-import-visibility.md
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // https://github.com/apple/swift-evolution/blob/main/proposals/0409-access-level-on-imports.md
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    settings.append(.swiftLanguageMode(.v6))
    target.swiftSettings = settings
}
