import CDeltaTapeSIMD

/// Which instruction sets the kernels use on this CPU, decided once at first use.
///
/// AVX2 kernels live in the `CDeltaTapeSIMD` C target, each compiled for AVX2 alone and called only when the
/// CPU reports it; every other CPU runs the Swift paths, which the tests hold to the same scalar references.
package enum SIMDSupport {
    /// Whether the AVX2 kernels run (x86-64 CPUs that have AVX2).
    package static let avx2 = dt_cpu_has_avx2() != 0
}
