import DeltaTape
import Foundation
import TestSupport
import Testing

/// What a browser makes of every output: headless Chromium's `decodeAudioData` must give the input's exact frame
/// count, and the samples at lag 0 (bit-exact for WAV), for WAV, Ogg Opus and WebM Opus, finalized (a file) and
/// streamed (through a pipe), at the rates realtime voice sessions use.
///
/// Opus at 8 kHz and the default ~11 kbit/s runs libopus's SILK narrowband mode, whose own decoder (opusdec, at
/// 8 kHz, no resampling) puts the peak 1 sample late: the codec's doing, not the pre-skip's (see OggOpusTests).
/// There Chromium must agree with that reference decoder, and at a CELT bitrate (64 kbit/s) it must be at lag 0.
@Suite struct ChromiumTests {
    @Test(arguments: [8_000, 16_000, 24_000, 48_000])
    func everyFormatDecodesExactlyInChromium(_ rate: Int) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 3.0123 s of seeded noise at a moderate level: not a whole number of Opus frames, nothing periodic to
        // fool the correlation.
        let frames = rate * 30_123 / 10_000
        let input = WAVWriterTests.samples(count: frames, seed: UInt64(rate)).map { $0 / 4 }
        let raw = folder.appendingPathComponent("input.raw")
        try WAVWriterTests.bytes(input).write(to: raw)

        var outputs: [String] = []
        let variants = [("wav", [String]()), ("ogg", []), ("webm", [])] + (rate == 8_000 ? [("ogg", ["--bitrate", "64k"]), ("webm", ["--bitrate", "64k"])] : [])
        for (format, options) in variants {
            let rawInput = ["--input-format", "s16le", "--input-rate", "\(rate)", "--format", format] + options
            let file = folder.appendingPathComponent("file\(options.joined()).\(format)").path
            let toFile = try run(TestEnvironment.deltatapeExecutable.path, ["convert", raw.path, "-o", file] + rawInput)
            #expect(toFile.status == 0, "\(toFile.standardError)")
            let toPipe = try run(TestEnvironment.deltatapeExecutable.path, ["convert", "-", "-o", "-"] + rawInput,
                                 input: WAVWriterTests.bytes(input))
            #expect(toPipe.status == 0, "\(toPipe.standardError)")
            let piped = folder.appendingPathComponent("pipe\(options.joined()).\(format)")
            try toPipe.standardOutput.write(to: piped)
            outputs += [file, piped.path]
        }
        // WAVWriter's own file form (RIFF, JUNK, plain PCM fmt) too.
        let written = folder.appendingPathComponent("writer.wav").path
        let writer = try WAVWriter(sink: FileDescriptorSink(path: written), sampleRate: rate)
        try input.withUnsafeBufferPointer { try writer.write($0) }
        try writer.close()
        outputs.append(written)

        // libopus's own decoder at the input's rate: the alignment the codec gives the default encoding.
        let reference = try run("opusdec", ["--rate", "\(rate)", "--quiet", folder.appendingPathComponent("file.ogg").path, "-"])
        #expect(reference.status == 0, "\(reference.standardError)")
        let referenceLag = correlationPeakLag(pcm16Samples(reference.standardOutput), input)
        #expect(rate == 8_000 || referenceLag == 0, "opusdec: lag \(referenceLag)")

        // Decoded at the input's rate (Chromium decodes Opus at 48 kHz and resamples to the context's rate).
        let decoded = try chromiumDecode(outputs, sampleRate: rate)
        for (path, decoding) in zip(outputs, decoded) {
            let name = URL(fileURLWithPath: path).lastPathComponent
            #expect(decoding.sampleRate == rate && decoding.channels.count == 1, "\(name)")
            #expect(decoding.frameCount == frames, "\(name): \(decoding.frameCount) frames, input \(frames)")
            if path.hasSuffix(".wav") {
                #expect(decoding.samples16() == input, "\(name): samples differ")
            } else {
                let lag = correlationPeakLag(decoding.samples16(), input)
                let expectedLag = name.contains("64k") ? 0 : referenceLag
                #expect(lag == expectedLag, "\(name): correlation peak at lag \(lag), opusdec's \(referenceLag)")
            }
        }
    }
}
