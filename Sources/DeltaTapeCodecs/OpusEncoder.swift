import COpus

/// What libopus optimizes for.
public enum OpusApplication: String, Sendable, Hashable, CaseIterable {
    /// Speech intelligibility (high-pass, formant emphasis). Its pre-processing shifts the phase of low
    /// frequencies slightly (measured: the cross-correlation peak lands one 48 kHz sample early).
    case voip
    /// Faithfulness to the input: the default, since archives should sound like what was said.
    case audio
}

/// Settings of an Opus encoding.
public struct OpusSettings: Sendable, Hashable {
    /// Bits per second; `nil` lets libopus choose (about 27 kbit/s for 24 kHz mono at 20 ms frames).
    public var bitrate: Int?
    /// 0 (fastest) to 10 (best); libopus's default is 9.
    public var complexity: Int?
    /// What to optimize for.
    public var application: OpusApplication
    /// Frame duration in milliseconds: 2.5, 5, 10, 20, 40 or 60.
    public var frameMilliseconds: Double

    /// Creates settings: libopus's bitrate and complexity, the audio application, 20 ms frames by default.
    public init(bitrate: Int? = nil, complexity: Int? = nil, application: OpusApplication = .audio, frameMilliseconds: Double = 20) {
        self.bitrate = bitrate
        self.complexity = complexity
        self.application = application
        self.frameMilliseconds = frameMilliseconds
    }

    /// The rates libopus encodes natively; other rates are resampled to 48 kHz first.
    package static let nativeSampleRates: Set<Int> = [8_000, 12_000, 16_000, 24_000, 48_000]

    /// The frame durations libopus accepts, in milliseconds.
    package static let frameDurations: [Double] = [2.5, 5, 10, 20, 40, 60]

    /// The bitrates libopus accepts, in bits per second (`OPUS_SET_BITRATE`: 500 to 512000).
    @_spi(Blocks) public static let bitrates: ClosedRange<Int> = 500...512_000

    /// A bitrate as `deltatape convert` and `deltatape relay` take it: bits per second, `32000`, or thousands of them,
    /// `32k` (`0.5k` included); `nil` for anything else. The range is not checked (``bitrates``).
    @_spi(Blocks) public static func bitrate(parsing text: String) -> Int? {
        let text = text.lowercased()
        if text.hasSuffix("k") {
            guard let thousands = Double(text.dropLast()), thousands.isFinite, abs(thousands) < 1e9 else { return nil }
            return Int((thousands * 1000).rounded())
        }
        return Int(text)
    }
}

/// A failure of libopus, with its code and message.
package struct OpusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libopus's error code.
    package var code: Int32
    /// What was being done, and libopus's message.
    package var message: String

    package init(code: Int32, while doing: String) {
        self.code = code
        message = "\(doing): \(String(cString: opus_strerror(code)))"
    }

    package var description: String { "libopus: \(message)" }
}

/// One encoded Opus packet, valid until the encoder's next call.
package struct OpusPacket {
    /// The packet's bytes.
    package var bytes: UnsafeRawBufferPointer
    /// Samples it decodes to, at 48 kHz (Ogg granules and WebM timestamps count in these).
    package var sampleCount48k: Int
    /// On the stream's last packet only: the input's whole length at 48 kHz, to which containers trim the end.
    package var streamLength48k: Int?

    /// Describes a packet, for feeding a container packets from another encoder.
    ///
    /// - Parameters:
    ///   - bytes: The packet's bytes, valid while the container's `write` runs.
    ///   - sampleCount48k: Samples it decodes to, at 48 kHz.
    ///   - streamLength48k: On the stream's last packet only: the input's whole length at 48 kHz.
    package init(bytes: UnsafeRawBufferPointer, sampleCount48k: Int, streamLength48k: Int? = nil) {
        self.bytes = bytes
        self.sampleCount48k = sampleCount48k
        self.streamLength48k = streamLength48k
    }

    /// The samples at 48 kHz a packet read back from a file decodes to, from its TOC byte and frame count (libopus's
    /// `opus_packet_get_nb_samples`, RFC 6716 §3.1); `nil` for bytes that are no valid Opus packet.
    package static func sampleCount48k(ofPacket bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= Int(Int32.max) else { return nil }
        let count = bytes.withUnsafeBufferPointer { opus_packet_get_nb_samples($0.baseAddress!, Int32($0.count), 48_000) }
        return count > 0 ? Int(count) : nil
    }
}

/// Encodes 16-bit PCM into Opus packets of fixed duration, buffering samples until a frame is whole.
///
/// ``finish(_:)`` pads the stream with silence so that every input sample is decodable after the encoder's
/// lookahead (RFC 7845 §8); the container trims the padding with the exact sample count.
package final class OpusStreamEncoder {
    /// Input frames per second (8, 12, 16, 24 or 48 kHz).
    package let sampleRate: Int
    /// Channels (1 or 2).
    package let channelCount: Int
    /// Samples to discard at the start of decoding, at 48 kHz: the encoder's lookahead.
    package let preSkip48k: Int
    /// Input frames per Opus frame.
    package let frameSize: Int
    /// Input frames received so far (a frame split across calls counts once it is whole).
    package var inputFrameCount: Int { inputSampleCount / channelCount }
    /// Input samples (all channels) received so far: a call may end partway through a frame.
    private var inputSampleCount = 0

    private let encoder: OpaquePointer
    private let lookahead: Int
    /// One frame's duration in 48 kHz samples, which every packet carries.
    private let frameSamples48k: Int
    private var pending: [Int16]
    private var pendingCount = 0
    private var packet: [UInt8] = [UInt8](repeating: 0, count: 4000)

    /// Creates an encoder.
    ///
    /// - Throws: ``OpusError`` when libopus refuses the rate, channel count or settings.
    package init(sampleRate: Int, channelCount: Int, settings: OpusSettings) throws(OpusError) {
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        guard OpusSettings.frameDurations.contains(settings.frameMilliseconds) else {
            throw OpusError(code: OPUS_BAD_ARG, while: "frame duration \(settings.frameMilliseconds) ms (allowed: 2.5, 5, 10, 20, 40, 60)")
        }
        frameSize = Int(Double(sampleRate) * settings.frameMilliseconds / 1000)
        frameSamples48k = frameSize * 48_000 / sampleRate
        var status: Int32 = 0
        let application = settings.application == .voip ? dt_opus_application_voip() : dt_opus_application_audio()
        guard let created = opus_encoder_create(Int32(sampleRate), Int32(channelCount), application, &status), status == OPUS_OK else {
            throw OpusError(code: status, while: "creating an encoder for \(sampleRate) Hz, \(channelCount) channel(s)")
        }
        encoder = created
        if let bitrate = settings.bitrate {
            let result = dt_opus_set_bitrate(encoder, Int32(clamping: bitrate))
            guard result == OPUS_OK else {
                opus_encoder_destroy(created)
                throw OpusError(code: result, while: "setting the bitrate to \(bitrate) bit/s")
            }
        }
        if let complexity = settings.complexity {
            let result = dt_opus_set_complexity(encoder, Int32(clamping: complexity))
            guard result == OPUS_OK else {
                opus_encoder_destroy(created)
                throw OpusError(code: result, while: "setting the complexity to \(complexity)")
            }
        }
        var samples: Int32 = 0
        _ = dt_opus_get_lookahead(encoder, &samples)
        lookahead = Int(samples)
        // The lookahead is in samples at the encoder's rate; Ogg and WebM count pre-skip at 48 kHz.
        preSkip48k = Int(samples) * 48_000 / sampleRate
        pending = [Int16](repeating: 0, count: frameSize * channelCount)
    }

    deinit {
        opus_encoder_destroy(encoder)
    }

    /// libopus's version string (for example "libopus 1.3.1"), which Ogg and WebM record as the vendor.
    package static var libraryVersion: String { String(cString: opus_get_version_string()) }

    /// Samples `frameCount` input frames decode to at 48 kHz (exact for the native rates).
    package func samples48k(forInputFrames frameCount: Int) -> Int {
        frameCount * 48_000 / sampleRate
    }

    /// Encodes interleaved samples, passing each completed packet to `emit`.
    ///
    /// - Throws: ``StageFailure/own(_:)`` with libopus's error, or ``StageFailure/downstream(_:)`` with what `emit`
    ///   threw.
    package func encode<Failure: Error>(
        _ samples: UnsafeBufferPointer<Int16>,
        _ emit: (OpusPacket) throws(Failure) -> Void
    ) throws(StageFailure<OpusError, Failure>) {
        inputSampleCount += samples.count
        let frameSampleCount = frameSize * channelCount
        var index = 0
        while index < samples.count {
            // Whole frames straight from the caller's buffer; only a frame split across calls is gathered.
            if pendingCount == 0, let base = samples.baseAddress, samples.count - index >= frameSampleCount {
                try encodeFrame(base + index, emit)
                index += frameSampleCount
                continue
            }
            let taken = min(frameSampleCount - pendingCount, samples.count - index)
            pending.withUnsafeMutableBufferPointer { buffer in
                _ = UnsafeMutableBufferPointer(rebasing: buffer[pendingCount..<(pendingCount + taken)])
                    .update(fromContentsOf: UnsafeBufferPointer(rebasing: samples[index..<(index + taken)]))
            }
            pendingCount += taken
            index += taken
            if pendingCount == frameSampleCount { try encodePendingFrame(emit) }
        }
    }

    /// Pads with silence until every input sample has passed the encoder's lookahead, encodes the last frames,
    /// and passes them to `emit`.
    ///
    /// - Throws: As ``encode(_:_:)``.
    package func finish<Failure: Error>(_ emit: (OpusPacket) throws(Failure) -> Void) throws(StageFailure<OpusError, Failure>) {
        // Frames encoded must cover input + lookahead (RFC 7845 §8): what is still pending and the lookahead; the
        // container trims to the input's length.
        // The lookahead is never zero, so this emits at least one packet, and it knows which one is the last.
        var needed = pendingCount / channelCount + lookahead
        while needed > 0 {
            pending.withUnsafeMutableBufferPointer { buffer in
                UnsafeMutableBufferPointer(rebasing: buffer[pendingCount...]).update(repeating: 0)
            }
            needed -= frameSize
            try encodePendingFrame(needed > 0 ? emit : { (packet) throws(Failure) in
                var last = packet
                last.streamLength48k = samples48k(forInputFrames: inputFrameCount)
                try emit(last)
            })
        }
    }

    private func encodePendingFrame<Failure: Error>(_ emit: (OpusPacket) throws(Failure) -> Void) throws(StageFailure<OpusError, Failure>) {
        pendingCount = 0
        try pending.withUnsafeBufferPointer { (frame) throws(StageFailure<OpusError, Failure>) in try encodeFrame(frame.baseAddress!, emit) }
    }

    private func encodeFrame<Failure: Error>(
        _ frame: UnsafePointer<Int16>,
        _ emit: (OpusPacket) throws(Failure) -> Void
    ) throws(StageFailure<OpusError, Failure>) {
        let length = packet.withUnsafeMutableBufferPointer { output in
            opus_encode(encoder, frame, Int32(frameSize), output.baseAddress!, Int32(output.count))
        }
        guard length > 0 else { throw .own(OpusError(code: length, while: "encoding a frame")) }
        try packet.withUnsafeBufferPointer { (bytes) throws(StageFailure<OpusError, Failure>) in
            try StageFailure<OpusError, Failure>.emit(OpusPacket(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[..<Int(length)])), sampleCount48k: frameSamples48k), to: emit)
        }
    }
}
