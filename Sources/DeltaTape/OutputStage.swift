import DeltaTapeCodecs
import DeltaTapeContainers

/// The end of every conversion: samples at any input rate in, resampled to the output's rate when they differ,
/// written to the destination. The writer opens with the first samples (so no file appears for bad input).
final class OutputStage {
    let destination: OutputDestination
    let options: ConversionOptions
    let channelCount: Int
    private(set) var writer: (any PCMWriter)?
    /// Resamples the current input rate to the output's, when they differ.
    private var resampling: PCMResampler?
    /// The sample rate of the samples taken last.
    private var currentInputRate: Int?

    init(destination: OutputDestination, options: ConversionOptions, channelCount: Int = 1) {
        self.destination = destination
        self.options = options
        self.channelCount = channelCount
    }

    /// Writes interleaved frames sampled at `rate`.
    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int) throws(DeltaTapeError) {
        let writer = try opened(sampleRate: options.sampleRate ?? rate)
        if rate != currentInputRate { try switchInputRate(to: rate, writer: writer) }
        guard let resampling else {
            do throws(OutputError) { try writer.write(samples) } catch { throw DeltaTapeError(error) }
            return
        }
        try runResampling { try resampling.process(samples) { try writer.write($0) } }
    }

    /// Flushes the resampler and closes the output.
    func finish() throws(DeltaTapeError) {
        guard let writer else { return }
        try finishResampling(into: writer)
        do throws(OutputError) {
            try writer.close()
        } catch {
            throw DeltaTapeError(error)
        }
    }

    /// Closes the output on any path out of a conversion, so what was written stays readable.
    func closeQuietly() {
        try? writer?.close()
    }

    /// Ends the resampling of the previous input rate (its tail is written) and starts the new one's.
    private func switchInputRate(to rate: Int, writer: any PCMWriter) throws(DeltaTapeError) {
        try finishResampling(into: writer)
        currentInputRate = rate
        guard rate != writer.sampleRate else { return }
        do throws(ResamplerError) {
            resampling = try PCMResampler(engine: options.resampler, quality: options.quality,
                                          inputRate: rate, outputRate: writer.sampleRate, channelCount: channelCount)
        } catch {
            throw .usage("cannot resample \(rate) Hz to \(writer.sampleRate) Hz: \(error)")
        }
    }

    private func finishResampling(into writer: any PCMWriter) throws(DeltaTapeError) {
        guard let stage = resampling else { return }
        resampling = nil
        try runResampling { try stage.finish { try writer.write($0) } }
    }

    /// Runs resampling work and sorts its failures: a write failure is I/O, a library failure says so.
    private func runResampling(_ work: () throws -> Void) throws(DeltaTapeError) {
        do {
            try work()
        } catch let error as OutputError {
            throw DeltaTapeError(error)
        } catch {
            throw .io("resampling failed: \(error)")
        }
    }

    private func opened(sampleRate requested: Int) throws(DeltaTapeError) -> any PCMWriter {
        if let writer { return writer }
        let opened: any PCMWriter
        do throws(OutputError) {
            switch options.format {
            case .wav:
                switch destination {
                case .file(let path):
                    opened = try WAVFileWriter(path: path, sampleRate: requested, channelCount: channelCount, sampleFormat: options.sampleFormat)
                case .standardOutput:
                    opened = try StreamingWAVWriter(sink: sink(), sampleRate: requested, channelCount: channelCount, sampleFormat: options.sampleFormat)
                }
            case .ogg, .webm:
                // Opus encodes 8/12/16/24/48 kHz natively; any other rate is resampled to 48 kHz.
                let rate = OpusSettings.nativeSampleRates.contains(requested) ? requested : 48_000
                let encoder = try OpusPCMWriter(options.format == .ogg ? .ogg : .webm, sink: sink(), sampleRate: rate,
                                                channelCount: channelCount, settings: options.opus, streamIdentifier: options.streamIdentifier)
                // Encoding is the heavy part: on its own thread, reading and decoding hide behind it.
                opened = BackgroundPCMWriter(encoder)
            }
        } catch {
            throw DeltaTapeError(error)
        }
        writer = opened
        return opened
    }

    private func sink() throws(OutputError) -> any ByteSink {
        switch destination {
        case .file(let path): try FileDescriptorSink(path: path)
        case .standardOutput: FileDescriptorSink(descriptor: 1, name: "stdout")
        }
    }
}
