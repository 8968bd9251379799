import DeltaTapeCodecs
import DeltaTapeContainers
import Foundation
import Testing
import TestSupport

/// The WebM writer alone, fed the encoder's packets: the live form on a sink that cannot seek, the finalized form
/// (sizes, Duration, SeekHead, Cues) on a file; read back by mkvinfo, ffprobe, ffmpeg and the tests' EBML reader.
@Suite struct WebMOpusWriterTests {
    static func write(_ stream: EncodedStream, to sink: any ByteSink) throws(OutputError) {
        let writer = try WebMOpusWriter(sink: sink, channelCount: stream.channelCount, inputSampleRate: stream.sampleRate,
                                        preSkip48k: stream.preSkip48k, trackUID: 0x0123_4567_89AB_CDEF)
        try stream.forEachPacket(writer.write)
        try writer.finish()
    }

    /// What holds in both forms: the tools read it, to the exact length; the track's fields; one block per packet.
    static func checkCommon(_ path: String, _ stream: EncodedStream) throws -> WebMReport {
        let mkvinfo = try run("mkvinfo", [path])
        #expect(mkvinfo.status == 0, "\(text(mkvinfo))")
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,channels,sample_rate", "-of", "compact=p=0", path])
        #expect(text(probe).trimmingCharacters(in: .whitespacesAndNewlines) == "codec_name=opus|sample_rate=48000|channels=\(stream.channelCount)")
        #expect(try ffmpegDecodeToPCM16(path).count == stream.length48k * stream.channelCount * 2)

        let report = try WebMChecker.read(path)
        #expect(report.docType == "webm" && report.codecID == "A_OPUS")
        #expect(report.opusHeadPreSkip == 312 && report.opusHeadInputRate == stream.sampleRate)
        #expect(report.codecDelayNanoseconds == 312 * 1_000_000_000 / 48_000)
        #expect(report.channels == UInt64(stream.channelCount) && report.samplingFrequency == 48_000)
        // One block per packet, at the packet's start in the file's ticks, exactly (SPEC §5: a timestamp scale at which
        // every block time is whole), all keyframes.
        let starts = stream.packets.indices.map { index in stream.packets.prefix(index).reduce(0) { $0 + $1.sampleCount48k } }
        let samples48kPerTickTimes1e9 = 48_000 * Int(report.timestampScaleNanoseconds)  // ticks = samples × 1e9 / this
        #expect(starts.allSatisfy { $0 * 1_000_000_000 % samples48kPerTickTimes1e9 == 0 })
        #expect(report.blockTimestamps == starts.map { $0 * 1_000_000_000 / samples48kPerTickTimes1e9 })
        #expect(report.keyframeFlags.count == stream.packets.count && report.keyframeFlags.allSatisfy { $0 })
        // DiscardPadding trims the last block to pre-skip + the input's length.
        let padding48k = starts.last! + stream.packets.last!.sampleCount48k - (312 + stream.length48k)
        #expect(report.discardPaddingNanoseconds == Int64((Double(padding48k) * 1e9 / 48_000).rounded()))
        return report
    }

    /// A sink that cannot seek gets the live form: Segment and Clusters of unknown size, no Duration, Cues or SeekHead,
    /// and clusters of at most a second.
    @Test func aSinkThatCannotSeekGetsTheLiveForm() throws {
        let stream = try EncodedStream(sampleRate: 24_000, seconds: 3.2, seed: testSeed(24))
        let sink = MemorySink(seekable: false)
        try Self.write(stream, to: sink)
        let report = try Self.checkCommon(try sink.file("live.webm"), stream)
        #expect(!report.segmentSizeKnown && !report.clusterSizesKnown.isEmpty && report.clusterSizesKnown.allSatisfy { !$0 })
        #expect(report.durationMilliseconds == nil && report.seekEntriesValid.isEmpty && report.cuesPointAtClusters.isEmpty)
        #expect(report.clusterTimestamps.count == 4)
        let ticksPerSecond = 1_000_000_000 / Int(report.timestampScaleNanoseconds)
        #expect(zip(report.clusterTimestamps.dropFirst(), report.clusterTimestamps).allSatisfy { $0 - $1 <= ticksPerSecond })
    }

    /// A file gets the finalized form: sizes, Duration of the input's exact length, a SeekHead, Cues at every cluster.
    @Test(arguments: [(16_000, 1), (48_000, 2)])
    func aFileGetsDurationAndCues(_ rate: Int, _ channels: Int) throws {
        let stream = try EncodedStream(sampleRate: rate, channelCount: channels, seconds: 11.5, seed: testSeed(UInt64(rate + channels)))
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("file.webm").path
        let sink = try FileDescriptorSink(path: path)
        try Self.write(stream, to: sink)
        try sink.close()
        let report = try Self.checkCommon(path, stream)
        #expect(report.segmentSizeKnown && report.clusterSizesKnown.count == 3 && report.clusterSizesKnown.allSatisfy { $0 })
        #expect(abs((report.durationMilliseconds ?? 0) - Double(stream.frameCount) * 1_000 / Double(rate)) < 0.001)
        #expect(report.seekEntriesValid == [0x1549_A966: true, 0x1654_AE6B: true, 0x1C53_BB6B: true])
        #expect(report.cuesPointAtClusters == [true, true, true])
        let mkvinfo = text(try run("mkvinfo", ["--all", path]))
        #expect(mkvinfo.contains("Duration") && mkvinfo.contains("Cues"), "\(mkvinfo)")
        let duration = text(try run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path]))
        #expect(abs((Double(duration.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) - Double(stream.frameCount) / Double(rate)) < 0.001)
        // Finalized in memory too, byte for byte, when the sink says it can seek.
        let memory = MemorySink(seekable: true)
        try Self.write(stream, to: memory)
        #expect(Data(memory.bytes) == (try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// A sink that fails on its Nth write, appends and overwrites alike: the writer throws the sink's `OutputError`.
    @Test(arguments: [false, true])
    func aFailingSinkIsAnOutputErrorAtEveryWrite(_ seekable: Bool) throws {
        let stream = try EncodedStream(sampleRate: 8_000, seconds: 11, seed: testSeed(8))
        let counting = MemorySink(seekable: seekable)
        try Self.write(stream, to: counting)
        #expect(counting.writeCount > 3)
        for failing in 1...counting.writeCount {
            let sink = MemorySink(name: "sink-failing-at-\(failing)", seekable: seekable, failingWrite: failing)
            #expect(throws: OutputError(path: sink.name, reason: "planned failure at write \(failing)", code: 28)) {
                try Self.write(stream, to: sink)
            }
            #expect(sink.writeCount == failing)
        }
    }
}
