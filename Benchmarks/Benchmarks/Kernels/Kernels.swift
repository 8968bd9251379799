// The byte kernels, each beside its anchor in the same run: base64 decoding against Foundation's
// `Data(base64Encoded:)` on 2 KB, 13 KB (a typical delta) and 1 MB; G.711 and sample conversions in samples/s,
// beside their plain scalar references.
import Benchmark
import BenchmarkSupport
@_spi(Blocks) import DeltaTapeKernels
import Foundation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 2,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 20,
        thresholds: mallocThresholds()
    )

    // MARK: Base64

    for (label, byteCount) in [("2 KB", 2_048), ("13 KB", 13_312), ("1 MB", 1_048_576)] {
        let text = Data((0..<byteCount * 3 / 4).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).base64EncodedData()
        let repeats = max(1, 64 * 1_048_576 / text.count)  // about 64 MB decoded per measured iteration
        let configuration = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal, BenchmarkMetric.megabytesPerSecond])

        func decoderBenchmark(
            _ name: String,
            _ decode: @escaping @Sendable (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws(Base64.DecodingError) -> Int
        ) {
            Benchmark("base64 decode \(label): \(name)", configuration: configuration) { benchmark in
                var output = [UInt8](repeating: 0, count: Base64.maximumDecodedByteCount(encodedByteCount: text.count))
                let started = ContinuousClock.now
                for _ in benchmark.scaledIterations {
                    for _ in 0..<repeats {
                        let count = text.withUnsafeBytes { input in
                            output.withUnsafeMutableBytes { (try? decode(input, $0)) ?? -1 }
                        }
                        blackHole(count)
                    }
                }
                report(benchmark, BenchmarkMetric.megabytesPerSecond, units: Double(text.count * repeats) / 1e6, since: started)
            }
        }
        decoderBenchmark("DeltaTape", Base64.decode)
        decoderBenchmark("DeltaTape scalar reference", Base64.scalarDecode)

        Benchmark("base64 decode \(label): Foundation Data(base64Encoded:)", configuration: configuration) { benchmark in
            let started = ContinuousClock.now
            for _ in benchmark.scaledIterations {
                for _ in 0..<repeats {
                    blackHole(Data(base64Encoded: text))
                }
            }
            report(benchmark, BenchmarkMetric.megabytesPerSecond, units: Double(text.count * repeats) / 1e6, since: started)
        }
    }

    // MARK: Sample kernels (4096 samples: a delta's worth, in cache)

    let sampleCount = 4_096
    let repeats = 16_384  // 64 Msamples per measured iteration
    let samples = (0..<sampleCount).map { Int16(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
    let codes = (0..<sampleCount).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 9) }
    let floatSamples = samples.map { Float($0) / 32768 }
    let sampleConfiguration = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal, BenchmarkMetric.megasamplesPerSecond])

    func sampleBenchmark(_ name: String, _ kernel: @escaping @Sendable (UnsafeMutableRawPointer) -> Void, output byteCount: Int) {
        Benchmark(name, configuration: sampleConfiguration) { benchmark in
            let output = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
            defer { output.deallocate() }
            let started = ContinuousClock.now
            for _ in benchmark.scaledIterations {
                for _ in 0..<repeats { kernel(output) }
            }
            blackHole(output.load(as: UInt8.self))
            report(benchmark, BenchmarkMetric.megasamplesPerSecond, units: Double(sampleCount * repeats) / 1e6, since: started)
        }
    }

    for law in [SampleEncoding.mulaw, .alaw] {
        sampleBenchmark("G.711 \(law.rawValue) decode: SIMD", { output in
            codes.withUnsafeBytes { G711.decode($0, law: law, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
        }, output: sampleCount * 2)
        sampleBenchmark("G.711 \(law.rawValue) decode: scalar reference", { output in
            codes.withUnsafeBytes { G711.scalarDecode($0, law: law, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
        }, output: sampleCount * 2)
        sampleBenchmark("G.711 \(law.rawValue) encode: SIMD", { output in
            samples.withUnsafeBufferPointer { G711.encode($0, law: law, into: UnsafeMutableRawBufferPointer(start: output, count: sampleCount)) }
        }, output: sampleCount)
        sampleBenchmark("G.711 \(law.rawValue) encode: scalar reference", { output in
            samples.withUnsafeBufferPointer { G711.scalarEncode($0, law: law, into: UnsafeMutableRawBufferPointer(start: output, count: sampleCount)) }
        }, output: sampleCount)
    }

    sampleBenchmark("int16 to float: vectorized", { output in
        samples.withUnsafeBufferPointer { PCMConversion.floats(from: $0, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Float.self), count: sampleCount)) }
    }, output: sampleCount * 4)
    sampleBenchmark("int16 to float: scalar reference", { output in
        samples.withUnsafeBufferPointer { PCMConversion.scalarFloats(from: $0, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Float.self), count: sampleCount)) }
    }, output: sampleCount * 4)
    sampleBenchmark("float to int16: vectorized", { output in
        floatSamples.withUnsafeBufferPointer { PCMConversion.samples(from: $0, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
    }, output: sampleCount * 2)
    sampleBenchmark("float to int16: scalar reference", { output in
        floatSamples.withUnsafeBufferPointer { PCMConversion.scalarSamples(from: $0, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
    }, output: sampleCount * 2)
    sampleBenchmark("mix two tracks: vectorized", { output in
        samples.withUnsafeBufferPointer { a in PCMConversion.mix(a, a, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
    }, output: sampleCount * 2)
    sampleBenchmark("mix two tracks: scalar reference", { output in
        samples.withUnsafeBufferPointer { a in PCMConversion.scalarMix(a, a, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
    }, output: sampleCount * 2)
    sampleBenchmark("interleave stereo: vectorized", { output in
        samples.withUnsafeBufferPointer { a in PCMConversion.interleave(left: UnsafeBufferPointer(rebasing: a[..<(sampleCount / 2)]), right: UnsafeBufferPointer(rebasing: a[(sampleCount / 2)...]), into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
    }, output: sampleCount * 2)
    sampleBenchmark("deinterleave stereo: vectorized", { output in
        samples.withUnsafeBufferPointer { a in
            let out = output.assumingMemoryBound(to: Int16.self)
            PCMConversion.deinterleave(a, left: UnsafeMutableBufferPointer(start: out, count: sampleCount / 2), right: UnsafeMutableBufferPointer(start: out + sampleCount / 2, count: sampleCount / 2))
        }
    }, output: sampleCount * 2)
    sampleBenchmark("gain: vectorized", { output in
        samples.withUnsafeBufferPointer { PCMConversion.applyGain(0.7, to: $0, into: UnsafeMutableBufferPointer(start: output.assumingMemoryBound(to: Int16.self), count: sampleCount)) }
    }, output: sampleCount * 2)
}

/// Records `units` per second since `started`, averaged over the iterations run.
private func report(_ benchmark: Benchmark, _ metric: BenchmarkMetric, units: Double, since started: ContinuousClock.Instant) {
    let elapsed = seconds(since: started)
    let iterations = Double(benchmark.scaledIterations.count)
    benchmark.measurement(metric, Int(units * iterations / elapsed))
}
