/// How often and how patiently a request is sent again after a failure worth another try (``S3Error/isRetryable``):
/// exponential backoff with full jitter, the wait before retry `n` drawn uniformly from
/// `0 ... min(maximumDelaySeconds, baseDelaySeconds × 2ⁿ⁻¹)` (AWS's "Exponential Backoff And Jitter"), so that many
/// clients refused at once do not come back at once.
public struct S3RetryPolicy: Sendable, Hashable {
    /// Times a request is sent at most, the first included (1: never retried).
    public var maximumAttempts: Int
    /// The cap of the first wait.
    public var baseDelaySeconds: Double
    /// The cap of any wait.
    public var maximumDelaySeconds: Double

    /// A policy; by default 5 attempts, waits capped at 0.2 s, 0.4 s, 0.8 s, 1.6 s (3 s at most, about 1.5 s in all
    /// on average).
    ///
    /// - Parameters:
    ///   - maximumAttempts: Times a request is sent at most (at least 1).
    ///   - baseDelaySeconds: The cap of the first wait.
    ///   - maximumDelaySeconds: The cap of any wait.
    public init(maximumAttempts: Int = 5, baseDelaySeconds: Double = 0.2, maximumDelaySeconds: Double = 3) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.baseDelaySeconds = max(0, baseDelaySeconds)
        self.maximumDelaySeconds = max(0, maximumDelaySeconds)
    }

    /// Sends every request once.
    public static let never = S3RetryPolicy(maximumAttempts: 1)

    /// The cap of the wait after failed attempt `attempt` (1 for the first).
    ///
    /// - Parameter attempt: The attempt that failed, from 1.
    /// - Returns: Seconds; the wait is drawn from zero to this.
    public func delayCap(afterAttempt attempt: Int) -> Double {
        let doubling = Double(1 << min(max(attempt - 1, 0), 30))
        return min(maximumDelaySeconds, baseDelaySeconds * doubling)
    }

    /// A wait after failed attempt `attempt`, drawn uniformly from zero to ``delayCap(afterAttempt:)``.
    ///
    /// - Parameters:
    ///   - attempt: The attempt that failed, from 1.
    ///   - generator: The source of randomness.
    /// - Returns: Seconds to wait.
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Double {
        let cap = delayCap(afterAttempt: attempt)
        return cap > 0 ? Double.random(in: 0...cap, using: &generator) : 0
    }
}

/// A retry about to happen, for the caller's logs and metrics.
public struct S3RetryEvent: Sendable {
    /// The error of the attempt that failed.
    public let error: S3Error
    /// The attempt that failed, from 1.
    public let attempt: Int
    /// The seconds waited before the next.
    public let delaySeconds: Double
}
