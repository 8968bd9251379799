@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeKernels
import DeltaTapeTimeline
import Foundation
import Testing
import TestSupport

/// The track assembler alone, fed hand-built deltas over a message buffer: odd-length PCM16 deltas keep their
/// leftover byte per stream, G.711 decodes as Python's `audioop` does, stream keys resolve JSON escapes.
@Suite struct TrackAssemblerTests {
    /// A message's bytes and the ranges of the strings in it, as the event reader would give them.
    struct Message {
        let bytes: [UInt8]
        init(_ text: String) { bytes = Array(text.utf8) }

        /// The range of the content of the JSON string `"text"` (raw, escapes as written).
        func range(of text: String) -> Range<Int> {
            let needle = Array("\"\(text)\"".utf8)
            let start = (0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }!
            return (start + 1)..<(start + needle.count - 1)
        }
    }

    /// A stream as the test names it: its key written independently of the code under test, its ranges in the message.
    struct Stream {
        var key: AudioStreamKey
        var responseID: Range<Int>?
        var itemID: Range<Int>?
        func delta(_ encoding: SampleEncoding, payloadLength: Int) -> AudioDelta {
            AudioDelta(track: .assistant, format: AudioFormat(encoding: encoding, sampleRate: 24_000), payload: 0..<payloadLength,
                       payloadHasEscapes: false, responseID: responseID, itemID: itemID, contentIndex: key.contentIndex)
        }
    }

    static let message = Message(#"{"response_id":"resp_A","item_id":"item_A","r":"resp_B","i":"item_B","e":"item\u005FA","q":"it\"em"}"#)

    static func streams(_ message: Message) -> [Stream] {
        [Stream(key: AudioStreamKey(responseID: "resp_A", itemID: "item_A", contentIndex: 0),
                responseID: message.range(of: "resp_A"), itemID: message.range(of: "item_A")),
         Stream(key: AudioStreamKey(responseID: "resp_B", itemID: "item_B", contentIndex: 0),
                responseID: message.range(of: "resp_B"), itemID: message.range(of: "item_B")),
         // Differs from the first only by its content index.
         Stream(key: AudioStreamKey(responseID: "resp_A", itemID: "item_A", contentIndex: 1),
                responseID: message.range(of: "resp_A"), itemID: message.range(of: "item_A")),
         // No ids at all.
         Stream(key: AudioStreamKey(responseID: "", itemID: "", contentIndex: 0), responseID: nil, itemID: nil)]
    }

    /// Appends `bytes` as one delta and returns the samples emitted (empty when none).
    static func append(_ bytes: [UInt8], _ delta: AudioDelta, to assembler: inout TrackAssembler, message: Message) -> [Int16] {
        var emitted: [Int16] = []
        message.bytes.withUnsafeBytes { message in
            bytes.withUnsafeBytes { payload in
                assembler.append(payload, of: delta, in: message) { emitted.append(contentsOf: $0) }
            }
        }
        return emitted
    }

    /// Samples of a byte stream, little-endian pairs.
    static func littleEndianSamples(_ bytes: ArraySlice<UInt8>) -> [Int16] {
        stride(from: bytes.startIndex, to: bytes.startIndex + bytes.count / 2 * 2, by: 2).map {
            Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
        }
    }

    /// Deltas of odd lengths from four interleaved streams: every sample split across two deltas of the same stream
    /// comes out whole, never joined with another stream's byte; each call emits exactly the samples it completes.
    @Test func oddLengthDeltasOfInterleavedStreamsKeepOneLeftoverBytePerStream() {
        let seed = testSeed(0x0DD_5EED)
        var random = SplitMix64(seed: seed)
        let streams = Self.streams(Self.message)
        let payloads = streams.map { _ in random.bytes(Int.random(in: 1_500...2_500, using: &random)) }
        var offsets = streams.map { _ in 0 }
        var assembler = TrackAssembler()
        var calls = 0
        while let index = streams.indices.filter({ offsets[$0] < payloads[$0].count }).randomElement(using: &random) {
            // Mostly odd lengths, now and then a run of the same stream, now and then an even length.
            let length = min(Int.random(in: 0...12, using: &random) * 2 + (calls % 7 == 3 ? 0 : 1), payloads[index].count - offsets[index])
            let start = offsets[index], end = start + length
            let chunk = Array(payloads[index][start..<end])
            let emitted = Self.append(chunk, streams[index].delta(.pcm16, payloadLength: chunk.count), to: &assembler, message: Self.message)
            // Exactly the samples whose second byte arrived in this delta.
            let expected = Self.littleEndianSamples(payloads[index][(start / 2 * 2)..<(end / 2 * 2)])
            #expect(emitted == expected, "seed \(seed), call \(calls), stream \(index), bytes \(start)..<\(end)")
            offsets[index] = end
            calls += 1
            let odd = Set(streams.indices.filter { offsets[$0] % 2 == 1 }.map { streams[$0].key })
            #expect(Set(assembler.streamsWithLeftoverByte) == odd, "seed \(seed), call \(calls)")
            #expect(assembler.streamsWithLeftoverByte.count == odd.count)
        }
        // The streams whose total length is odd end holding their last byte.
        let odd = Set(streams.indices.filter { payloads[$0].count % 2 == 1 }.map { streams[$0].key })
        #expect(Set(assembler.streamsWithLeftoverByte) == odd)
    }

    /// One stream's leftover byte survives any number of other streams' deltas, and a G.711 delta in between.
    @Test func aLeftoverByteWaitsAcrossOtherStreams() {
        let streams = Self.streams(Self.message)
        var assembler = TrackAssembler()
        #expect(Self.append([0x34], streams[0].delta(.pcm16, payloadLength: 1), to: &assembler, message: Self.message).isEmpty)
        #expect(Self.append([0xAA, 0xBB, 0xCC], streams[1].delta(.pcm16, payloadLength: 3), to: &assembler, message: Self.message)
            == [Int16(bitPattern: 0xBBAA)])
        _ = Self.append([0xFF, 0xFF], streams[3].delta(.mulaw, payloadLength: 2), to: &assembler, message: Self.message)
        #expect(Self.append([0x12], streams[0].delta(.pcm16, payloadLength: 1), to: &assembler, message: Self.message) == [0x1234])
        #expect(Self.append([0xDD], streams[1].delta(.pcm16, payloadLength: 1), to: &assembler, message: Self.message)
            == [Int16(bitPattern: 0xDDCC)])
        #expect(assembler.streamsWithLeftoverByte.isEmpty)
    }

    /// Every G.711 code decodes to what Python's `audioop` (an independent implementation of the tables) gives.
    @Test(arguments: [(SampleEncoding.mulaw, "ulaw2lin"), (.alaw, "alaw2lin")])
    func g711PayloadsDecodeAsAudioopDoes(_ encoding: SampleEncoding, _ function: String) throws {
        let codes = (0...255).map(UInt8.init)
        let script = "import sys, warnings; warnings.simplefilter('ignore'); import audioop; "
            + "sys.stdout.buffer.write(audioop.\(function)(sys.stdin.buffer.read(), 2))"
        let reference = Self.littleEndianSamples(ArraySlice(try python(script, input: Data(codes))))
        #expect(reference.count == 256)
        var assembler = TrackAssembler()
        let stream = Self.streams(Self.message)[0]
        // Split in odd pieces, after an odd PCM16 delta of the same stream: G.711 has no leftover to keep.
        var decoded: [Int16] = []
        for piece in [0..<1, 1..<100, 100..<255, 255..<256] {
            decoded += Self.append(Array(codes[piece]), stream.delta(encoding, payloadLength: piece.count), to: &assembler, message: Self.message)
        }
        #expect(decoded == reference)
    }

    /// Keys decode the ids' JSON escapes: `item\u005FA` is `item_A`, and the assembler sees one stream in both spellings.
    @Test func keysResolveEscapedIDs() {
        let message = Self.message
        let escaped = message.range(of: #"item\u005FA"#), plain = message.range(of: "item_A"), response = message.range(of: "resp_A")
        message.bytes.withUnsafeBytes { bytes in
            #expect(AudioStreamKey(responseID: response, itemID: escaped, contentIndex: 2, in: bytes)
                == AudioStreamKey(responseID: "resp_A", itemID: "item_A", contentIndex: 2))
            #expect(AudioStreamKey(responseID: nil, itemID: message.range(of: #"it\"em"#), contentIndex: 0, in: bytes)
                == AudioStreamKey(responseID: "", itemID: "it\"em", contentIndex: 0))
            let delta = AudioDelta(track: .assistant, format: .openAIPCM16, payload: 0..<0, payloadHasEscapes: false,
                                   responseID: response, itemID: escaped, contentIndex: 3)
            #expect(AudioStreamKey(delta, in: bytes) == AudioStreamKey(responseID: "resp_A", itemID: "item_A", contentIndex: 3))
        }
        var assembler = TrackAssembler()
        let spelled = { (item: Range<Int>) in
            AudioDelta(track: .assistant, format: .openAIPCM16, payload: 0..<1, payloadHasEscapes: false, responseID: response, itemID: item)
        }
        #expect(Self.append([0x01], spelled(plain), to: &assembler, message: message).isEmpty)
        #expect(assembler.streamsWithLeftoverByte == [AudioStreamKey(responseID: "resp_A", itemID: "item_A", contentIndex: 0)])
        #expect(Self.append([0x02], spelled(escaped), to: &assembler, message: message) == [0x0201])
        #expect(assembler.streamsWithLeftoverByte.isEmpty)
    }

    /// A delta read by the event reader from a real GA message: ids and payload ranges point where the assembler needs.
    @Test func deltasFromTheEventReaderJoinAcrossMessages() throws {
        var reader = EventReader()
        var assembler = TrackAssembler()
        var emitted: [Int16] = []
        for payload in [[0x10, 0x20, 0x30] as [UInt8], [0x40, 0x50]] {
            let text = #"{"type":"response.output_audio.delta","response_id":"resp\/1","item_id":"item_1","output_index":0,"#
                + #""content_index":0,"delta":"\#(Data(payload).base64EncodedString())"}"#
            let bytes = Array(text.utf8)
            try bytes.withUnsafeBytes { message in
                let event = try reader.read(message)
                guard case .audio(let delta) = event.content else { Issue.record("not audio: \(event.content)"); return }
                #expect(AudioStreamKey(delta, in: message) == AudioStreamKey(responseID: "resp/1", itemID: "item_1", contentIndex: 0))
                payload.withUnsafeBytes { payload in assembler.append(payload, of: delta, in: message) { emitted += $0 } }
            }
        }
        #expect(emitted == [0x2010, 0x4030])
        #expect(assembler.streamsWithLeftoverByte == [AudioStreamKey(responseID: "resp/1", itemID: "item_1", contentIndex: 0)])
    }

    /// Millions of streams each ending on half a sample must not grow memory: past 4096 streams holding a byte, the
    /// older half is given up (reported as half samples), oldest first, and nothing is lost from the count.
    @Test func leftoverBytesAreBoundedOldestGivenUpFirst() {
        var assembler = TrackAssembler()
        let format = AudioFormat(encoding: .pcm16, sampleRate: 24_000)
        for n in 0..<5_000 {
            let key = AudioStreamKey(responseID: "r", itemID: "i\(n)", contentIndex: 0)
            [UInt8(7)].withUnsafeBytes { assembler.append($0, format: format, key: key, line: n + 1) { _ in } }
        }
        // 4096 held; the 4097th gives up the oldest 2048; 904 more arrive after.
        #expect(assembler.givenUp.count == 2_048)
        #expect(assembler.givenUp.map(\.line) == Array(1...2_048))
        #expect(assembler.halfSamples.count == 5_000 - 2_048)
        #expect(assembler.halfSamples.first?.stream.itemID == "i2048")
    }
}
