import DeltaTape
import Foundation
import TestSupport
import Testing

/// Ogg Opus output, checked by the real tools: opusinfo, ffmpeg, ffprobe; lengths exact, lag 0.
@Suite struct OggOpusTests {
    /// - Parameter lagTolerance: 0 where the encoder runs CELT or hybrid; libopus's SILK narrowband mode (8 kHz input
    ///   at its default ~11 kbit/s) puts the correlation peak 3-6 samples (at 48 kHz) late, the same whether the
    ///   input is 8 kHz or resampled to 48 kHz first, so that is the codec's, not the pre-skip's (measured).
    private func checkOggOpus(_ path: String, session name: String, rate: Int, lagTolerance: Int = 0) throws {
        // opusinfo exits 1 on any warning (EOS missing, granule errors, bad headers).
        let info = try run("opusinfo", [path])
        let infoText = String(decoding: info.standardOutput, as: UTF8.self) + info.standardError
        #expect(info.status == 0 && !infoText.contains("WARNING"), "\(infoText)")
        // ffmpeg decodes it without a word, to the input's exact length at 48 kHz.
        let decoded = pcm16Samples(try ffmpegDecodeToPCM16(path))
        let inputFrames = try GeneratedSessions.expectedAssistant(name).count / 2
        #expect(decoded.count == inputFrames * 48_000 / rate)
        // The pre-skip is applied (first packet starts before zero by it) and the end is trimmed.
        let packets = String(decoding: try run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_packets", "-of", "compact=p=0", path]).standardOutput, as: UTF8.self)
        #expect(packets.split(separator: "\n").first?.contains("pts=-312|") == true)
        // The last packet is trimmed: ffprobe reports a discard padding of a whole number of samples under one frame.
        let lastFields = packets.split(separator: "\n").last?.split(separator: "|") ?? []
        let discardPadding = lastFields.first { $0.hasPrefix("discard_padding=") }.flatMap { Int($0.dropFirst("discard_padding=".count)) }
        #expect(discardPadding.map { (1..<960).contains($0) } == true, "last packet: \(lastFields.joined(separator: "|"))")
        // Lines up with the input at lag 0.
        let lag = correlationPeakLag(decoded, try expectedAssistantAt48kHz(name, rate: rate))
        #expect(abs(lag) <= lagTolerance, "correlation peak at lag \(lag)")
    }

    @Test(arguments: [("ga-basic", 24_000, 0), ("g711-ulaw", 8_000, 6)])
    func fileOutputIsValidExactAndAligned(_ name: String, _ rate: Int, _ lagTolerance: Int) throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(name).opus").path
        let summary = try SessionConverter.convert(input: GeneratedSessions.log(name), to: .file(output), options: ConversionOptions(format: .ogg))
        #expect(summary.sampleRate == rate)
        try checkOggOpus(output, session: name, rate: rate, lagTolerance: lagTolerance)
        // OpusHead (RFC 7845 §5.1) at the start of the first page's body: version 1, mono, pre-skip, input rate.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)).prefix(47))
        #expect(Array(bytes[28..<36]) == Array("OpusHead".utf8))
        #expect(bytes[36] == 1 && bytes[37] == 1)
        #expect(Int(bytes[38]) | Int(bytes[39]) << 8 == 312)
        #expect(Int(bytes[40]) | Int(bytes[41]) << 8 | Int(bytes[42]) << 16 == rate)
    }

    @Test func pipeOutputIsValidExactAndAligned() throws {
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("odd-splits")))
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["convert", "-", "-o", "-", "--format", "ogg", "--bitrate", "32k"], input: log)
        #expect(result.status == 0, "\(result.standardError)")
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("pipe.ogg")
        try result.standardOutput.write(to: file)
        try checkOggOpus(file.path, session: "odd-splits", rate: 24_000)
    }

    /// libopus's VoIP mode high-passes the input, which moves the correlation peak by at most one sample.
    @Test func voipApplicationStaysWithinOneSample() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("voip.ogg").path
        _ = try SessionConverter.convert(input: GeneratedSessions.log("ga-basic"), to: .file(output),
                                         options: ConversionOptions(format: .ogg, opus: OpusSettings(application: .voip)))
        let decoded = pcm16Samples(try ffmpegDecodeToPCM16(output))
        #expect(decoded.count == (try GeneratedSessions.expectedAssistant("ga-basic")).count)
        #expect(abs(correlationPeakLag(decoded, try expectedAssistantAt48kHz("ga-basic", rate: 24_000))) <= 1)
        // And it is the VoIP application: its high-pass (a 60 Hz cutoff in libopus) takes out most of a 40 Hz tone.
        #expect(try lowToneRetention(application: .voip) < 0.6)
    }

    /// The audio application keeps a 40 Hz tone (libopus only rejects DC there); VoIP takes out most of it
    /// (measured: 1.00 and 0.39 of the 1 kHz tone's level beside it).
    @Test func theApplicationDecidesWhetherLowFrequenciesSurvive() throws {
        #expect(try lowToneRetention(application: .audio) > 0.9)
        #expect(try lowToneRetention(application: .voip) < 0.6)
    }

    /// Encodes 40 Hz and 1 kHz tones of equal level with `application` and returns the decoded 40 Hz level over the
    /// decoded 1 kHz level, away from the ends.
    private func lowToneRetention(application: OpusApplication) throws -> Double {
        let folder = try TestEnvironment.temporaryDirectory()
        let source = folder.appendingPathComponent("tones.wav").path, output = folder.appendingPathComponent("tones.ogg").path
        let synth = try run("sox", ["-D", "-n", "-r", "24000", "-c", "1", "-b", "16", source, "synth", "3", "sine", "40", "sine", "1000", "gain", "-6", "remix", "-"])
        try #require(synth.status == 0, "\(synth.standardError)")
        _ = try SessionConverter.convert(input: source, to: .file(output), options: ConversionOptions(format: .ogg, opus: OpusSettings(application: application)))
        let decoded = Array(pcm16Samples(try ffmpegDecodeToPCM16(output)).dropFirst(24_000).dropLast(24_000))
        return toneAmplitude(decoded, frequency: 40, sampleRate: 48_000) / toneAmplitude(decoded, frequency: 1_000, sampleRate: 48_000)
    }

    /// At 8 kHz with a bitrate that makes libopus choose CELT, the G.711 session lines up at lag 0 exactly.
    @Test func g711SessionAtCELTBitrateIsAlignedExactly() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("celt.ogg").path
        _ = try SessionConverter.convert(input: GeneratedSessions.log("g711-ulaw"), to: .file(output),
                                         options: ConversionOptions(format: .ogg, opus: OpusSettings(bitrate: 64_000)))
        try checkOggOpus(output, session: "g711-ulaw", rate: 8_000)
    }

    @Test func otherRatesAreResampledTo48kHz() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("r.ogg").path
        let summary = try SessionConverter.convert(input: GeneratedSessions.log("ga-basic"), to: .file(output),
                                                   options: ConversionOptions(format: .ogg, sampleRate: 44_100))
        #expect(summary.sampleRate == 48_000)
        let info = try run("opusinfo", [output])
        #expect(info.status == 0)
        // Against sox's resampling of the same PCM to 48 kHz: the exact length, lag 0, the same level (a least-squares
        // gain near 1 whatever noise Opus adds; measured 0.98) and a waveform SNR a broken resampler cannot reach
        // (measured 18 dB at the default bitrate; a resampler halving the signal scores 6).
        let decoded = pcm16Samples(try ffmpegDecodeToPCM16(output))
        let reference = try soxResampled(GeneratedSessions.expectedAssistant("ga-basic"), from: 24_000, to: 48_000)
        #expect(decoded.count == reference.count)
        #expect(correlationPeakLag(decoded, reference) == 0)
        let gain = leastSquaresGain(decoded, reference)
        #expect(abs(gain - 1) < 0.1, "level against sox's resampling: \(gain)")
        let snr = signalToNoiseRatio(decoded, reference)
        #expect(snr >= 12, "SNR against sox's resampling: \(snr) dB")
    }

    /// A conversion killed with SIGKILL leaves a file ffmpeg decodes up to the last whole page.
    @Test func killedConversionLeavesADecodableFile() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("killed.ogg").path
        #expect(try convertAndKillMidway(output: output))
        let decode = try run("ffmpeg", ["-v", "error", "-i", output, "-f", "s16le", "-"])
        #expect(decode.status == 0 && decode.standardError.isEmpty, "\(decode.standardError)")
        #expect(decode.standardOutput.count > 48_000 * 2, "less than a second survived")
    }
}
