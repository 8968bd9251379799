// Seeded randomness for tests: a failure reproduces from the printed seed, and `DELTATAPE_TEST_SEED` replays one.
public import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): small, seedable, good enough to drive test inputs.
public struct SplitMix64: RandomNumberGenerator {
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

/// The seed for a test's randomness: `DELTATAPE_TEST_SEED` when set, `fallback` otherwise; printed with the
/// test's name so that a failure can be replayed.
public func testSeed(_ fallback: UInt64, for name: String = #function) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["DELTATAPE_TEST_SEED"].flatMap { UInt64($0) } ?? fallback
    print("\(name): seed \(seed) (replay with DELTATAPE_TEST_SEED=\(seed))")
    return seed
}
