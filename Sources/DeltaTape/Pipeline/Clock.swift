#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `1.234 s` or `56 ms`.
func formatMilliseconds(_ seconds: Double) -> String {
    seconds >= 1 ? "\((seconds * 1000).rounded() / 1000) s" : "\(Int((seconds * 1000).rounded())) ms"
}

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
