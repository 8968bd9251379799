// swift-tools-version: 6.1
// DeltaTape's benchmarks, a package of their own so that users of the library never build the benchmark machinery.
// Run: swift package --package-path Benchmarks benchmark   (see Benchmarks/README.md)
import PackageDescription

let package = Package(
    name: "DeltaTapeBenchmarks",
    dependencies: [
        .package(name: "DeltaTape", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Kernels",
            dependencies: [
                .product(name: "DeltaTape", package: "DeltaTape"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Kernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EndToEnd",
            dependencies: [
                .product(name: "DeltaTape", package: "DeltaTape"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/EndToEnd",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
