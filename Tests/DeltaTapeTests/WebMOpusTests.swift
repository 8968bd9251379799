import DeltaTape
import Foundation
import TestSupport
import Testing

/// WebM Opus output: ffmpeg, ffprobe and mkvinfo, exact lengths, lag 0, and the checker for what no tool checks.
@Suite struct WebMOpusTests {
    /// Checks a WebM file made from session `name`; `finalized` is the seekable form, otherwise the live form.
    private func check(_ path: String, session name: String, rate: Int, finalized: Bool, lagTolerance: Int = 0) throws {
        let inputFrames = try GeneratedSessions.expectedAssistant(name).count / 2
        let decoded = pcm16Samples(try ffmpegDecodeToPCM16(path))
        #expect(decoded.count == inputFrames * 48_000 / rate, "decoded length")
        let lag = correlationPeakLag(decoded, try expectedAssistantAt48kHz(name, rate: rate))
        #expect(abs(lag) <= lagTolerance, "correlation peak at lag \(lag)")
        let mkvinfo = try run("mkvinfo", [path])
        #expect(mkvinfo.status == 0, "\(mkvinfo.standardError)")
        // CodecDelay shows as a negative start: exactly 6.5 ms (312 samples), not rounded to 7 ms by the timestamp scale.
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=start_time", "-of", "default=nw=1:nk=1", path])
        #expect(String(decoding: probe.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "-0.006500")
        // mkvinfo reads the same delay and scale.
        let mkvinfoText = String(decoding: mkvinfo.standardOutput, as: UTF8.self)
        #expect(mkvinfoText.contains("Codec-inherent delay: 00:00:00.006500000"), "\(mkvinfoText)")

        let report = try WebMChecker.read(path)
        #expect(report.docType == "webm" && report.codecID == "A_OPUS")
        #expect(report.opusHeadPreSkip == 312 && report.opusHeadInputRate == rate)
        #expect(report.codecDelayNanoseconds == UInt64(report.opusHeadPreSkip ?? 0) * 1_000_000_000 / 48_000)
        // The timestamp scale makes the codec delay and every Opus frame size (2.5 ms = 120 samples and its multiples)
        // whole ticks, so no demuxer has to round them.
        let scale = report.timestampScaleNanoseconds
        #expect((report.codecDelayNanoseconds ?? 1) % scale == 0 && 2_500_000 % scale == 0, "TimestampScale \(scale) ns")
        #expect(report.seekPreRollNanoseconds == 80_000_000)
        #expect(report.samplingFrequency == 48_000 && report.channels == 1)
        // 20 ms packets: block timestamps step by exactly 20 ms; relative stamps fit int16; clusters at most 5 s.
        let steps = zip(report.blockTimestamps.dropFirst(), report.blockTimestamps).map { UInt64($0 - $1) * scale }
        #expect(report.blockTimestamps.first == 0 && steps.allSatisfy { $0 == 20_000_000 })
        #expect(report.relativeTimestamps.allSatisfy { (0...Int(5_000_000_000 / scale)).contains($0) })
        #expect(report.clusterTimestamps.allSatisfy { report.blockTimestamps.contains($0) })
        #expect(report.keyframeFlags.allSatisfy { $0 })
        // The padding after the input's end, trimmed by DiscardPadding on the last block.
        let packets = report.blockTimestamps.count
        let padding48k = packets * 960 - (inputFrames * 48_000 / rate + 312)
        #expect(report.discardPaddingNanoseconds == Int64((Double(padding48k) * 1e9 / 48_000).rounded()))
        if finalized {
            #expect(report.segmentSizeKnown && report.clusterSizesKnown.allSatisfy { $0 })
            #expect(report.seekEntriesValid == [0x1549_A966: true, 0x1654_AE6B: true, 0x1C53_BB6B: true])
            #expect(!report.cuesPointAtClusters.isEmpty && report.cuesPointAtClusters.allSatisfy { $0 })
            #expect(report.cueTimes == report.clusterTimestamps)
            #expect(abs((report.durationMilliseconds ?? 0) - Double(inputFrames) * 1000 / Double(rate)) < 0.001)
        } else {
            #expect(!report.segmentSizeKnown && report.clusterSizesKnown.allSatisfy { !$0 })
            #expect(report.seekEntriesValid.isEmpty && report.cuesPointAtClusters.isEmpty && report.durationMilliseconds == nil)
        }
    }

    @Test(arguments: [("ga-basic", 24_000, 0), ("g711-ulaw", 8_000, 6)])
    func fileOutputIsFinalizedExactAndAligned(_ name: String, _ rate: Int, _ lagTolerance: Int) throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(name).webm").path
        let summary = try SessionConverter.convert(input: GeneratedSessions.log(name), to: .file(output), options: ConversionOptions(format: .webm))
        #expect(summary.sampleRate == rate)
        try check(output, session: name, rate: rate, finalized: true, lagTolerance: lagTolerance)
    }

    @Test func pipeOutputIsTheLiveForm() throws {
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("odd-splits")))
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["convert", "-", "-o", "-", "--format", "webm"], input: log)
        #expect(result.status == 0, "\(result.standardError)")
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("live.webm")
        try result.standardOutput.write(to: file)
        try check(file.path, session: "odd-splits", rate: 24_000, finalized: false)
    }

    /// Killed mid-write, the file (its Segment and last Cluster still of unknown size) decodes up to the last block.
    @Test func killedConversionLeavesADecodableFile() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("killed.webm").path
        #expect(try convertAndKillMidway(output: output))
        let decode = try run("ffmpeg", ["-v", "error", "-i", output, "-f", "s16le", "-"])
        #expect(decode.status == 0, "\(decode.standardError)")
        #expect(decode.standardOutput.count > 48_000 * 2, "less than a second survived")
        // Duration is written at the end: until then its place is a Void, never a Duration of 0.
        let mkvinfo = String(decoding: try run("mkvinfo", [output]).standardOutput, as: UTF8.self)
        #expect(mkvinfo.contains("Timestamp scale") && !mkvinfo.contains("+ Duration:"), "\(mkvinfo)")
    }
}
