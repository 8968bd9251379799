@_spi(Blocks) import DeltaTapeCodecs
import DeltaTapeContainers

/// Converts samples at whatever rate they come in to the writer's rate: a resampler per input rate, started when
/// the rate changes (a G.711 response among PCM16 ones) after the previous one's tail has been written.
final class ResamplingStage {
    let engine: ResamplerEngine
    let quality: ResamplerQuality
    let channelCount: Int
    /// Resamples the current input rate to the output's, when they differ.
    private var resampler: PCMResampler?
    /// The sample rate of the samples taken last.
    private var currentInputRate: Int?

    init(engine: ResamplerEngine, quality: ResamplerQuality, channelCount: Int) {
        self.engine = engine
        self.quality = quality
        self.channelCount = channelCount
    }

    /// Writes interleaved frames sampled at `rate` to `writer`, resampled to its rate when they differ.
    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int, to writer: any PCMWriter) throws(ConversionError) {
        try write(samples, rate: rate, outputRate: writer.sampleRate) { (samples) throws(OutputError) in try writer.write(samples) }
    }

    /// Passes interleaved frames sampled at `rate` to `consume`, resampled to `outputRate` when they differ.
    func write(
        _ samples: UnsafeBufferPointer<Int16>, rate: Int, outputRate: Int,
        into consume: (UnsafeBufferPointer<Int16>) throws(OutputError) -> Void
    ) throws(ConversionError) {
        if rate != currentInputRate { try switchInputRate(to: rate, outputRate: outputRate, consume: consume) }
        guard let resampler else {
            do throws(OutputError) { try consume(samples) } catch { throw .output(error) }
            return
        }
        do throws(StageFailure<ResamplerError, OutputError>) {
            try resampler.process(samples, consume)
        } catch {
            throw ConversionError(error)
        }
    }

    /// Writes what the resampler still holds back; the stage can take samples again afterwards.
    func finish(into writer: any PCMWriter) throws(ConversionError) {
        try finish { (samples) throws(OutputError) in try writer.write(samples) }
    }

    /// Passes what the resampler still holds back to `consume`; the stage can take samples again afterwards.
    func finish(into consume: (UnsafeBufferPointer<Int16>) throws(OutputError) -> Void) throws(ConversionError) {
        guard let finishing = resampler else { return }
        resampler = nil
        do throws(StageFailure<ResamplerError, OutputError>) {
            try finishing.finish(consume)
        } catch {
            throw ConversionError(error)
        }
    }

    /// Ends the resampling of the previous input rate (its tail is written) and starts the new one's.
    private func switchInputRate(
        to rate: Int, outputRate: Int, consume: (UnsafeBufferPointer<Int16>) throws(OutputError) -> Void
    ) throws(ConversionError) {
        try finish(into: consume)
        currentInputRate = rate
        guard rate != outputRate else { return }
        do throws(ResamplerError) {
            resampler = try PCMResampler(engine: engine, quality: quality, inputRate: rate, outputRate: outputRate,
                                         channelCount: channelCount)
        } catch {
            throw .resampling(error)
        }
    }
}

extension ConversionError {
    /// A resampling stage's failure: the resampler's own, or the write it fed.
    init(_ failure: StageFailure<ResamplerError, OutputError>) {
        switch failure {
        case .own(let error): self = .resampling(error)
        case .downstream(let error): self = .output(error)
        }
    }
}
