@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeKernels
import DeltaTapeTimeline
import Foundation
import Testing

/// The timeline alone, fed messages through the event reader and a payload decoder as the pipeline does: where each
/// sample lands is computed here from the rules of docs/TIMELINE.md, with constant-valued items so that a sample out of
/// place shows.
@Suite struct ConversationTimelineTests {
    /// Collects each track as written. Silences are zeros at the rate of the track's audio (`audioRate`): a silence the
    /// timeline writes at another rate (the other track's, before any audio) is the same duration at this one.
    final class RecordingSink: TimelineSink {
        var tracks: [AudioTrack: [Int16]] = [.assistant: [], .user: []]
        var audioRate: [AudioTrack: Int] = [.assistant: 24_000, .user: 24_000]
        func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int, track: AudioTrack) {
            #expect(rate == audioRate[track], "\(track) audio at \(rate) Hz")
            tracks[track]!.append(contentsOf: samples)
        }
        func writeSilence(frameCount: Int, rate: Int, track: AudioTrack) {
            let target = audioRate[track]!
            #expect(frameCount * target % rate == 0, "a silence of \(frameCount) frames at \(rate) Hz is no whole number at \(target) Hz")
            tracks[track]!.append(contentsOf: repeatElement(0, count: frameCount * target / rate))
        }
    }

    /// Reads each line, puts its audio on `timeline`, then its signals; calls `after` after each line.
    static func feed(_ lines: [String], into timeline: ConversationTimeline<RecordingSink>, after: () -> Void = {}) throws {
        var reader = EventReader()
        var decoder = PayloadDecoder()
        for (index, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            try bytes.withUnsafeMutableBytes { buffer in
                let message = UnsafeRawBufferPointer(buffer)
                let event = try reader.read(message)
                timeline.noteTime(event.time)
                event.forEachAudioDelta { delta in
                    decoder.decode(delta, in: message) { result in
                        timeline.take(result.bytes, of: delta, in: message, line: index + 1)
                    }
                }
                timeline.takeSignals(of: event, line: index + 1)
            }
            after()
        }
        timeline.finish()
    }

    /// `count` samples of `value`, PCM16 little-endian in base64.
    static func pcm(_ value: Int16, _ count: Int) -> String {
        var bytes: [UInt8] = []
        for _ in 0..<count { bytes += [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)] }
        return Data(bytes).base64EncodedString()
    }

    static let serverVAD = #"{"type":"session.created","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"turn_detection":{"type":"server_vad"}},"output":{"format":{"type":"audio/pcm","rate":24000}}}}}"#

    static func user(_ value: Int16, _ count: Int) -> String {
        #"{"type":"input_audio_buffer.append","audio":"\#(pcm(value, count))"}"#
    }

    static func delta(_ response: String, _ item: String, _ value: Int16, _ count: Int) -> String {
        #"{"type":"response.output_audio.delta","response_id":"\#(response)","item_id":"\#(item)","content_index":0,"delta":"\#(pcm(value, count))"}"#
    }

    static func done(_ response: String, _ item: String) -> String {
        #"{"type":"response.output_audio.done","response_id":"\#(response)","item_id":"\#(item)","content_index":0}"#
    }

    static func truncated(_ item: String, _ milliseconds: Int) -> String {
        #"{"type":"conversation.item.truncated","item_id":"\#(item)","content_index":0,"audio_end_ms":\#(milliseconds)}"#
    }

    @Test func concurrentStreamsPlayWholeInTheOrderTheyStarted() throws {
        let sink = RecordingSink()
        let timeline = ConversationTimeline(selection: .assistant, sink: sink)
        var lines = [Self.serverVAD]
        for _ in 0..<10 {
            lines.append(Self.delta("resp_A", "item_A", 1_000, 480))
            lines.append(Self.delta("resp_B", "item_B", 2_000, 240))
        }
        lines += [Self.done("resp_A", "item_A"), Self.done("resp_B", "item_B")]
        try Self.feed(lines, into: timeline)
        #expect(sink.tracks[.assistant]! == [Int16](repeating: 1_000, count: 4_800) + [Int16](repeating: 2_000, count: 2_400))
    }

    @Test func aTruncationKeepsWhatTheListenerHeard() throws {
        let sink = RecordingSink()
        let timeline = ConversationTimeline(selection: .assistant, sink: sink)
        let lines = [Self.serverVAD, Self.delta("r1", "i1", 7, 24_000), Self.delta("r1", "i1", 7, 24_000), Self.done("r1", "i1"),
                     Self.truncated("i1", 1_250), Self.delta("r2", "i2", 9, 100), Self.done("r2", "i2")]
        try Self.feed(lines, into: timeline)
        // 1250 ms at 24 kHz: 30 000 samples of the first item, then all of the second.
        #expect(sink.tracks[.assistant]! == [Int16](repeating: 7, count: 30_000) + [Int16](repeating: 9, count: 100))
        #expect(timeline.statistics.cutItemCount == 1)
        #expect(timeline.statistics.cutSeconds == Double(48_000 - 30_000) / 24_000)
    }

    @Test func continuousInputPlacesAnItemWhereItsFirstDeltaArrivesOnTheUserClock() throws {
        let sink = RecordingSink()
        let timeline = ConversationTimeline(selection: .both, sink: sink)
        // 0.5 s of user audio, the answer (1 s, sent at once), 1.5 s more of user audio.
        let lines = [Self.serverVAD, Self.user(3, 12_000), Self.delta("r1", "i1", 5, 24_000), Self.done("r1", "i1"),
                     Self.user(4, 36_000)]
        try Self.feed(lines, into: timeline)
        #expect(sink.tracks[.user]! == [Int16](repeating: 3, count: 12_000) + [Int16](repeating: 4, count: 36_000))
        #expect(sink.tracks[.assistant]! == [Int16](repeating: 0, count: 12_000) + [Int16](repeating: 5, count: 24_000)
            + [Int16](repeating: 0, count: 12_000))
        #expect(timeline.statistics.rule == .continuousInput)
    }

    @Test func anInterruptionWithoutOffsetCutsWhatWasPlayingAndDropsWhatWasQueued() throws {
        let sink = RecordingSink()
        sink.audioRate[.user] = 16_000
        let timeline = ConversationTimeline(selection: .both, sink: sink)
        // Gemini: 16 kHz in, 24 kHz out. 1 s of user audio; two model turns of 2 s each arrive at once (the second
        // queued behind the first); 0.5 s more of user audio; interrupted. The first turn played 0.5 s; the second never.
        let model = { (value: Int16) in #"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"\#(Self.pcm(value, 48_000))"}}]}}}"# }
        let user = { (count: Int) in #"{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"\#(Self.pcm(2, count))"}}}"# }
        let lines = [user(16_000), model(6), #"{"serverContent":{"turnComplete":true}}"#, model(8), user(8_000),
                     #"{"serverContent":{"interrupted":true}}"#]
        try Self.feed(lines, into: timeline)
        #expect(sink.tracks[.assistant]! == [Int16](repeating: 0, count: 24_000) + [Int16](repeating: 6, count: 12_000))
        #expect(sink.tracks[.user]!.count == 24_000)  // 1.5 s at 16 kHz, padded to the assistant's end
        #expect(timeline.statistics.droppedItemCount == 1)
    }

    /// Every answer truncated: the audio held never exceeds the longest item, however long the session.
    @Test func heldAudioIsBoundedByTheLongestItem() throws {
        let sink = RecordingSink()
        let timeline = ConversationTimeline(selection: .both, sink: sink)
        var lines = [Self.serverVAD]
        for turn in 0..<200 {
            lines.append(Self.user(1, 24_000))
            for _ in 0..<4 { lines.append(Self.delta("r\(turn)", "i\(turn)", 2, 6_000)) }
            lines += [Self.done("r\(turn)", "i\(turn)"), Self.user(1, 2_400), Self.truncated("i\(turn)", 100)]
        }
        var peak = 0
        try Self.feed(lines, into: timeline) { peak = max(peak, timeline.heldFrameCount) }
        #expect(peak <= 24_000)
        #expect(peak > 0)
        #expect(timeline.statistics.cutItemCount == 200)
        // Each answer keeps its first 100 ms.
        #expect(sink.tracks[.assistant]!.filter { $0 == 2 }.count == 200 * 2_400)
    }
}
