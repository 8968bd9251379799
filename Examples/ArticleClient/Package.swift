// swift-tools-version: 6.1
// A client of the library that holds nothing but the DocC articles' code (extracted into Sources/ArticleClient/
// Articles.swift by scripts/article-client.sh) and a main that calls it on a bundled sample: if an article's code
// stops compiling or working against the library, CI says so.
import PackageDescription

let package = Package(
    name: "ArticleClient",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "DeltaTape", path: "../..")],
    targets: [
        .executableTarget(name: "ArticleClient", dependencies: [.product(name: "DeltaTape", package: "DeltaTape")]),
    ]
)
