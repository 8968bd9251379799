import COpus
@_spi(Blocks) import DeltaTapeCodecs
import Testing
import TestSupport

/// The Opus stream encoder alone: how many packets, how long each is, which one carries the stream's length, the
/// pre-skip against libopus's own lookahead, and errors of the next stage passed through as they were thrown.
@Suite struct OpusStreamEncoderTests {
    /// A packet's fields, its bytes copied out of the encoder's buffer.
    struct Packet {
        var bytes: [UInt8]
        var sampleCount48k: Int
        var streamLength48k: Int?
    }

    /// Encodes `samples` in pieces of seeded random sizes (some below a frame, some several frames; whole frames of
    /// `frameGranularity` channels) and finishes.
    static func encode(_ encoder: OpusStreamEncoder, _ samples: [Int16], random: inout SplitMix64, frameGranularity: Int) throws -> [Packet] {
        var packets: [Packet] = []
        let keep = { (packet: OpusPacket) in
            packets.append(Packet(bytes: Array(packet.bytes), sampleCount48k: packet.sampleCount48k, streamLength48k: packet.streamLength48k))
        }
        var index = 0
        try samples.withUnsafeBufferPointer { samples in
            while index < samples.count {
                let count = min(samples.count - index, Int.random(in: 0...(3 * encoder.frameSize), using: &random) * frameGranularity)
                try encoder.encode(UnsafeBufferPointer(rebasing: samples[index..<(index + count)]), keep)
                index += count
            }
        }
        try encoder.finish(keep)
        return packets
    }

    /// libopus's lookahead at `rate`, asked of an encoder of its own: the test's reference for the pre-skip.
    static func libopusLookahead(rate: Int, channels: Int) -> Int {
        var status: Int32 = 0
        let encoder = opus_encoder_create(Int32(rate), Int32(channels), dt_opus_application_audio(), &status)!
        defer { opus_encoder_destroy(encoder) }
        var lookahead: Int32 = 0
        #expect(dt_opus_get_lookahead(encoder, &lookahead) == OPUS_OK)
        return Int(lookahead)
    }

    static let cases: [(Int, Double)] = [8_000, 12_000, 16_000, 24_000, 48_000].flatMap { rate in
        [2.5, 5, 10, 20, 40, 60].map { (rate, $0) }
    }

    @Test(arguments: cases)
    func packetsCoverTheInputAndTheLookaheadAndOnlyTheLastCarriesTheLength(_ rate: Int, _ frameMilliseconds: Double) throws {
        let seed = testSeed(UInt64(rate) * 100 + UInt64(frameMilliseconds * 10))
        var random = SplitMix64(seed: seed)
        let channels = rate == 16_000 ? 2 : 1
        let encoder = try OpusStreamEncoder(sampleRate: rate, channelCount: channels,
                                            settings: OpusSettings(complexity: 0, frameMilliseconds: frameMilliseconds))
        let frames = Int.random(in: (rate / 5)...(rate / 2), using: &random)
        let packets = try Self.encode(encoder, random.samples(frames * channels), random: &random, frameGranularity: channels)

        // Pre-skip: libopus's lookahead, which for the audio application is 2.5 ms + 4 ms of delay compensation.
        let lookahead = Self.libopusLookahead(rate: rate, channels: channels)
        #expect(lookahead == rate / 400 + rate / 250)
        #expect(encoder.preSkip48k == lookahead * 48_000 / rate && encoder.preSkip48k == 312)
        // Enough frames for every input sample to come out of the lookahead, and not one more.
        let frameSize = Int(Double(rate) * frameMilliseconds / 1000)
        #expect(encoder.frameSize == frameSize)
        #expect(packets.count == (frames + lookahead + frameSize - 1) / frameSize, "seed \(seed): \(frames) frames")
        #expect(packets.allSatisfy { $0.sampleCount48k == Int(frameMilliseconds * 48) && !$0.bytes.isEmpty })
        #expect(packets.dropLast().allSatisfy { $0.streamLength48k == nil })
        #expect(packets.last?.streamLength48k == frames * 48_000 / rate)
        #expect(encoder.inputFrameCount == frames)
        // Each packet's TOC byte (RFC 6716 §3.1) says the frame duration the encoder was asked for.
        let tocDurations = Set(packets.map { Self.tocFrameMilliseconds($0.bytes[0]) * Double(Self.tocFrameCount($0.bytes)) })
        #expect(tocDurations == [frameMilliseconds])
    }

    /// The frame duration a TOC byte's configuration names (RFC 6716 §3.1, table 2).
    static func tocFrameMilliseconds(_ toc: UInt8) -> Double {
        let configuration = Int(toc >> 3)
        switch configuration {
        case 0..<12: return [10, 20, 40, 60][configuration % 4]  // SILK
        case 12..<16: return [10, 20][configuration % 2]  // hybrid
        default: return [2.5, 5, 10, 20][configuration % 4]  // CELT
        }
    }

    /// Frames in a packet (RFC 6716 §3.2): code 0 one, 1 and 2 two, 3 as the next byte says.
    static func tocFrameCount(_ packet: [UInt8]) -> Int {
        switch packet[0] & 3 {
        case 0: 1
        case 1, 2: 2
        default: Int(packet[1] & 0x3F)
        }
    }

    /// An error of the next stage, with where it happened.
    struct Refusal: Error, Equatable {
        var packetIndex: Int
    }

    /// What `emit` throws comes back as `.downstream` with the value thrown, from `encode` and from `finish`.
    @Test(arguments: [0, 3, 5])
    func anErrorOfTheNextStageArrivesAsDownstream(_ failingPacket: Int) throws {
        let encoder = try OpusStreamEncoder(sampleRate: 24_000, channelCount: 1, settings: OpusSettings(complexity: 0))
        var emitted = 0
        let emit = { (packet: OpusPacket) throws(Refusal) in
            defer { emitted += 1 }
            if emitted == failingPacket { throw Refusal(packetIndex: emitted) }
        }
        // 5 packets from encode (20 ms at 24 kHz), the sixth (the lookahead) from finish.
        let samples = [Int16](repeating: 1_000, count: 5 * 480)
        var caught: StageFailure<OpusError, Refusal>?
        do throws(StageFailure<OpusError, Refusal>) {
            try samples.withUnsafeBufferPointer { (samples) throws(StageFailure<OpusError, Refusal>) in try encoder.encode(samples, emit) }
            try encoder.finish(emit)
        } catch {
            caught = error
        }
        guard case .downstream(let refusal) = caught else {
            Issue.record("expected .downstream, got \(String(describing: caught))")
            return
        }
        #expect(refusal == Refusal(packetIndex: failingPacket))
        #expect(emitted == failingPacket + 1)
    }

    /// A frame duration or rate libopus does not take is an `OpusError` with libopus's code, before any encoding.
    @Test(arguments: [(24_000, 30.0), (24_000, 0), (44_100, 20), (22_050, 20)])
    func settingsLibopusRefusesAreOpusErrors(_ rate: Int, _ frameMilliseconds: Double) {
        #expect(throws: OpusError.self) {
            try OpusStreamEncoder(sampleRate: rate, channelCount: 1, settings: OpusSettings(frameMilliseconds: frameMilliseconds))
        }
        do {
            _ = try OpusStreamEncoder(sampleRate: rate, channelCount: 1, settings: OpusSettings(frameMilliseconds: frameMilliseconds))
        } catch {
            #expect(error.code == OPUS_BAD_ARG, "\(error)")
        }
    }

    /// A call may end partway through a frame (stereo, an odd sample count): the frame counts once it is whole, and the
    /// stream's length (to which containers trim) is the input's.
    @Test func aFrameSplitAcrossCallsCountsOnce() throws {
        let encoder = try OpusStreamEncoder(sampleRate: 16_000, channelCount: 2, settings: OpusSettings(complexity: 0))
        let samples = [Int16](repeating: 0, count: 2 * 1_000)
        var length: Int?
        try samples.withUnsafeBufferPointer { samples in
            try encoder.encode(UnsafeBufferPointer(rebasing: samples[..<999])) { _ in }
            try encoder.encode(UnsafeBufferPointer(rebasing: samples[999...])) { _ in }
        }
        try encoder.finish { packet in if let total = packet.streamLength48k { length = total } }
        #expect(encoder.inputFrameCount == 1_000)
        #expect(length == 1_000 * 48_000 / 16_000)
    }
}
