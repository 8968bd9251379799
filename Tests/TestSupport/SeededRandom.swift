// Randomized tests draw from a seeded generator so that a failure can be replayed: the seed is in every failure's
// message, and DELTATAPE_TEST_SEED=N makes every randomized test draw what it drew when it failed.
import Foundation

/// The seed of this test run: `DELTATAPE_TEST_SEED` (decimal or 0x-hex) when set, else a fresh random one.
public enum TestSeed {
    /// The name of the environment variable that fixes the seed.
    public static let variable = "DELTATAPE_TEST_SEED"

    /// The run's seed, chosen once per test process.
    public static let value: UInt64 = {
        if let text = ProcessInfo.processInfo.environment[variable] {
            let parsed = text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
            guard let parsed else { fatalError("\(variable)=\(text) is not a 64-bit unsigned number") }
            return parsed
        }
        return UInt64.random(in: .min ... .max)
    }()
}

/// SplitMix64 (Steele, Lea and Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014): small,
/// seedable, good enough to drive test inputs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator starting at `seed`.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }

    /// `count` random 16-bit samples over the whole range.
    public mutating func samples(_ count: Int) -> [Int16] {
        (0..<count).map { _ in Int16.random(in: .min ... .max, using: &self) }
    }
}

/// A SplitMix64 seeded from the run's seed and the test's name, so tests draw different numbers and each replays
/// alone or with the others.
public struct SeededGenerator: RandomNumberGenerator, CustomStringConvertible, Sendable {
    /// The run's seed this generator started from.
    public let seed: UInt64
    private var generator: SplitMix64

    /// A generator for the test named `name` (`#function` by default), from `seed` (the run's seed by default).
    public init(seed: UInt64 = TestSeed.value, name: String = #function) {
        self.seed = seed
        // FNV-1a of the name, so that each test has its own stream for the same run seed.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        generator = SplitMix64(seed: seed ^ hash)
    }

    public mutating func next() -> UInt64 {
        generator.next()
    }

    /// What a failure message says: the seed and how to replay it.
    public var description: String { "seed \(seed) (replay: \(TestSeed.variable)=\(seed))" }
}

/// The seed for a test's randomness: the run's seed when `DELTATAPE_TEST_SEED` is set, `fallback` otherwise; printed
/// with the test's name so that a failure can be replayed.
public func testSeed(_ fallback: UInt64, for name: String = #function) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment[TestSeed.variable] != nil ? TestSeed.value : fallback
    print("\(name): seed \(seed) (replay with \(TestSeed.variable)=\(seed))")
    return seed
}
