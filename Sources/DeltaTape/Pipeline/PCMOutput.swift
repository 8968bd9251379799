import DeltaTapeCodecs
import DeltaTapeContainers

/// The end of every pipeline: samples at any rate in, the output's writer opened with the first of them (so that no
/// file appears for an input without audio), resampled to the output's rate where they differ.
///
/// It chains the three jobs, each done elsewhere: the sink comes from `makeSink`, the writer from
/// ``OutputFormat/makeWriter(on:sampleRate:channelCount:sampleFormat:opus:streamIdentifier:)``, rate conversion from
/// a ``ResamplingStage``.
final class PCMOutput {
    let options: ConversionOptions
    let channelCount: Int
    private let makeSink: () throws(OutputError) -> any ByteSink
    private(set) var writer: (any PCMWriter)?
    /// Every rate samples came in at: those other than the writer's were resampled (the summary says so).
    private(set) var sourceRates: Set<Int> = []
    private let resampling: ResamplingStage
    /// Source frames written since the output's count was last reported to ``ConversionOptions/progress``.
    private var framesSinceProgress = 0
    private var lastFlush = monotonicSeconds()
    /// Seconds of wall time between flushes, for a live input: a process killed while it flows loses at most that
    /// of what it had received. `nil` for an input read from a file, whose output is then the same bytes whatever
    /// the machine's speed.
    var flushInterval: Double?

    /// - Parameters:
    ///   - options: The format, rate, sample format, resampler and Opus settings.
    ///   - channelCount: Interleaved channels of the samples written.
    ///   - makeSink: Opens where the bytes go; called once, with the first samples.
    init(options: ConversionOptions, channelCount: Int = 1, makeSink: @escaping () throws(OutputError) -> any ByteSink) {
        self.options = options
        self.channelCount = channelCount
        self.makeSink = makeSink
        resampling = ResamplingStage(engine: options.resampler, quality: options.quality, channelCount: channelCount)
    }

    /// Writes interleaved frames sampled at `rate`.
    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int) throws(ConversionError) {
        sourceRates.insert(rate)
        let writer = try opened(firstRate: rate)
        try resampling.write(samples, rate: rate, to: writer)
        guard let progress = options.progress else { return }
        // The output's own count, every 10 s of audio or so: what a progress display shows while a session's queued
        // answers are written after its input has been read. (An Opus writer's count waits for its encoder.)
        framesSinceProgress += samples.count / max(1, channelCount)
        if framesSinceProgress >= 10 * rate {
            framesSinceProgress = 0
            progress.updateWritten(frameCount: writer.frameCount, sampleRate: writer.sampleRate)
        }
    }

    /// Puts what the writer holds where a reader has it; the output goes on. (A resampler's few held-back samples stay
    /// until the end: flushing them would end its stream.)
    func flush() throws(ConversionError) {
        do throws(OutputError) {
            try writer?.flush()
        } catch {
            throw .output(error)
        }
        lastFlush = monotonicSeconds()
    }

    /// Flushes when ``flushInterval`` of wall time has passed since the last flush.
    func flushIfDue() throws(ConversionError) {
        guard let flushInterval, writer != nil, monotonicSeconds() - lastFlush >= flushInterval else { return }
        try flush()
    }

    /// Flushes the resampler and closes the output.
    func finish() throws(ConversionError) {
        guard let writer else { return }
        try resampling.finish(into: writer)
        do throws(OutputError) {
            try writer.close()
        } catch {
            throw .output(error)
        }
    }

    /// Closes the output on any path out of a conversion, so what was written stays readable.
    func closeQuietly() {
        try? writer?.close()
    }

    private func opened(firstRate: Int) throws(ConversionError) -> any PCMWriter {
        if let writer { return writer }
        let opened: any PCMWriter
        do throws(OutputError) {
            let format = options.format
            let written = try format.makeWriter(
                on: makeSink(), sampleRate: format.writtenSampleRate(for: options.sampleRate ?? firstRate), channelCount: channelCount,
                sampleFormat: options.sampleFormat, opus: options.opus, streamIdentifier: options.streamIdentifier)
            // Writing runs on a thread of its own, so that reading and decoding overlap with it: Opus encoding is the
            // heavy part of an Opus output, and the kernel's copying into the page cache that of a WAV file (measured:
            // as long as all the parsing of a session). WAV blocks are longer: the writer is fast, hand-overs are not.
            opened = EncoderThread(written, blockSeconds: format == .wav ? 4 : 0.25, inBackground: options.runsInBackground)
        } catch {
            throw .output(error)
        }
        writer = opened
        return opened
    }
}
