// swift-tools-version: 6.2
// `deltatape relay`: a recording WebSocket relay (SPEC §9), a package of its own so that `import DeltaTape` and the
// `deltatape` CLI never build the server stack (SwiftNIO, Hummingbird: minutes of a first build). `deltatape relay`
// runs the `deltatape-relay` executable this package builds, the way git runs its external subcommands.
import PackageDescription

let package = Package(
    name: "DeltaTapeRelay",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DeltaTapeRelay", targets: ["DeltaTapeRelay"]),
        .executable(name: "deltatape-relay", targets: ["deltatape-relay"]),
    ],
    dependencies: [
        .package(name: "DeltaTape", path: "../"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Comes with Hummingbird; the relay accepts clients below hummingbird-websocket's router (RelayChildChannel.swift
        // says why).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // The relay: accepting clients, the upstream connection, forwarding, recording, operations.
        .target(
            name: "DeltaTapeRelay",
            dependencies: [
                .product(name: "DeltaTape", package: "DeltaTape"),
                // --output-dir s3://BUCKET/PREFIX/.
                .product(name: "DeltaTapeStorage", package: "DeltaTape"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(
            name: "deltatape-relay",
            dependencies: ["DeltaTapeRelay", "CMallocTuning", .product(name: "DeltaTapeStorage", package: "DeltaTape"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           // --log-format json: a Logger with the relay's JSONLineLogHandler.
                           .product(name: "Logging", package: "swift-log")]
        ),
        // glibc's mallopt for the relay's executable (a process-wide policy: never set by the library).
        .target(name: "CMallocTuning"),
        // What the relay adds to a frame's latency, and its CPU and memory per session (see the file's first lines).
        .executableTarget(
            name: "relay-benchmark",
            dependencies: [
                // --s3: SeaweedFS on loopback, started as the storage tests start it.
                .product(name: "DeltaTapeTestSupport", package: "DeltaTape"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RelayTests",
            dependencies: [
                "DeltaTapeRelay",
                .product(name: "DeltaTape", package: "DeltaTape"),
                .product(name: "DeltaTapeStorage", package: "DeltaTape"),
                // SeaweedFS for the recordings into s3://.
                .product(name: "DeltaTapeTestSupport", package: "DeltaTape"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                // The tests' fake upstream is a Hummingbird server of its own, run in a ServiceGroup.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                // RelayGlueTests drive the forwarding handlers on EmbeddedChannels, in process.
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ]
)

for target in package.targets where target.name != "CMallocTuning" {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    settings.append(.swiftLanguageMode(.v6))
    target.swiftSettings = settings
}
