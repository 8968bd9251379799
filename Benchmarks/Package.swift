// swift-tools-version: 6.1
// DeltaTape's benchmarks, a package of their own so that users of the library never build the benchmark machinery.
// Run: swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark   (see README.md)
import PackageDescription

/// One executable per suite, each in Benchmarks/<Suite>/<Suite>.swift.
let suites = ["EndToEnd", "EventReading", "Kernels", "ObjectStorage", "Opus", "Resampling"]

let package = Package(
    name: "DeltaTapeBenchmarks",
    dependencies: [
        // Named, so that the product reference below holds whatever the clone's folder is called.
        .package(name: "DeltaTape", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Fixtures, timing helpers, metrics and malloc thresholds, shared by every suite.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Support"
        ),
    ] + suites.map { suite in
        .executableTarget(
            name: suite,
            dependencies: [
                "BenchmarkSupport",
                .product(name: "DeltaTape", package: "DeltaTape"),
                .product(name: "Benchmark", package: "benchmark"),
            ] + (suite == "ObjectStorage" ? [.product(name: "DeltaTapeTestSupport", package: "DeltaTape")] : []),
            path: "Benchmarks/\(suite)",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    }
)
