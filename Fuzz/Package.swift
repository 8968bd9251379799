// swift-tools-version: 5.4
// DeltaTape's fuzz targets, a package of its own so that the library's users never build it.
// Build and run: scripts/fuzz.sh [SECONDS]   (libFuzzer with AddressSanitizer; see docs/FUZZING.md)
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point to `<Module>_main` and
// links `main` to it, which breaks libFuzzer (its own `main` must drive, and `-parse-as-library` emits none), the
// same reason apple/swift-protobuf's FuzzTesting/Package.swift stays below 5.5.
import PackageDescription

let package = Package(
    name: "DeltaTapeFuzz",
    dependencies: [
        // Named, so that the product reference below holds whatever the clone's folder is called.
        .package(name: "DeltaTape", path: "../"),
    ],
    targets: [
        // libFuzzer's LLVMFuzzerTestOneInput over the JSON scanner, the event reader, the payload decoder and the
        // message readers. The sanitizer flags come from the command line (scripts/fuzz.sh), not from here.
        // ReferenceJSONValidator.swift is a symbolic link to Tests/TestSupport's, so both compare against one copy.
        .executableTarget(
            name: "MessageFuzzer",
            dependencies: [.product(name: "DeltaTape", package: "DeltaTape")]
        ),
        // `deltatape repair` over files of any bytes (FUZZ_TARGET=RepairFuzzer scripts/fuzz.sh).
        .executableTarget(
            name: "RepairFuzzer",
            dependencies: [.product(name: "DeltaTape", package: "DeltaTape")]
        ),
    ],
    swiftLanguageVersions: [.version("6")]
)
