@_spi(Blocks) package import DeltaTapeKernels
@_spi(Blocks) package import DeltaTapeEvents

/// Joins one track's decoded payloads into 16-bit samples, in arrival order and without gaps.
///
/// PCM16 payloads may hold an odd number of bytes: the leftover byte is kept per stream and joins the
/// next payload of the same stream, so a sample split across two deltas comes out whole.
package struct TrackAssembler: Sendable {
    /// A byte waiting for the next payload of its stream: the first half of a sample.
    struct Leftover: Sendable {
        var byte: UInt8
        /// The line of the payload it came from, for the report if the sample never completes.
        var line: Int
        /// When the stream first left a byte over, to report in the order of the input.
        var order: Int
    }

    /// A stream that ended (or was given up on) with half a sample.
    package struct HalfSample: Sendable, Equatable {
        /// The stream.
        package var stream: AudioStreamKey
        /// The line of the payload whose last byte was the half sample.
        package var line: Int
    }

    private var leftoverBytes: [AudioStreamKey: Leftover] = [:]
    private var leftoverOrder = 0
    /// Streams holding a leftover byte at most: beyond it the oldest is given up (reported as a half sample), so that
    /// millions of streams each ending on half a sample cannot grow memory without bound.
    package static let maximumStreamsWithLeftover = 4_096
    /// Streams whose leftover byte was given up to keep within ``maximumStreamsWithLeftover``, for the caller to report
    /// (and empty).
    package var givenUp: [HalfSample] = []
    private var samples: [Int16] = []
    private var joined: [UInt8] = []
    // The last stream seen, to build a key only when the stream changes.
    private var lastKey: AudioStreamKey?
    private var lastResponseBytes: [UInt8] = []
    private var lastItemBytes: [UInt8] = []
    private var lastContentIndex = -1

    /// Creates an assembler for one track.
    package init() {}

    /// Streams still holding a leftover byte: when the session ends, each is half a sample that never completed.
    package var streamsWithLeftoverByte: [AudioStreamKey] { halfSamples.map(\.stream) }

    /// Streams still holding a leftover byte, in the order they first left one, with the line of the byte.
    package var halfSamples: [HalfSample] {
        leftoverBytes.sorted { $0.value.order < $1.value.order }.map { HalfSample(stream: $0.key, line: $0.value.line) }
    }

    /// Appends a decoded payload and passes the complete samples it yields to `emit`.
    ///
    /// - Parameters:
    ///   - bytes: The decoded payload (PCM16 little-endian or G.711, per `delta.format`).
    ///   - delta: The delta the payload came from (its stream and format).
    ///   - message: The message bytes `delta` points into.
    ///   - emit: Receives the samples (valid only during the call).
    package mutating func append<Failure: Error>(
        _ bytes: UnsafeRawBufferPointer,
        of delta: AudioDelta,
        in message: UnsafeRawBufferPointer,
        emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        let key = delta.format.encoding == .pcm16 ? streamKey(delta, message) : AudioStreamKey(responseID: "", itemID: "", contentIndex: 0)
        try append(bytes, format: delta.format, key: key, line: 0, emit: emit)
    }

    /// Appends a decoded payload of stream `key` and passes the complete samples it yields to `emit`.
    ///
    /// - Parameters:
    ///   - bytes: The decoded payload (PCM16 little-endian or G.711, per `format`).
    ///   - format: The payload's format.
    ///   - key: The stream the payload belongs to (a PCM16 byte left over joins the next payload of the same stream).
    ///   - line: Where the payload is in the input, for the report of a half sample.
    ///   - emit: Receives the samples (valid only during the call).
    package mutating func append<Failure: Error>(
        _ bytes: UnsafeRawBufferPointer,
        format: AudioFormat,
        key: AudioStreamKey,
        line: Int,
        emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        switch format.encoding {
        case .pcm16:
            try appendPCM16(bytes, key: key, line: line, emit: emit)
        case .mulaw, .alaw:
            ensureSampleCapacity(bytes.count)
            try samples.withUnsafeMutableBufferPointer { (buffer) throws(Failure) in
                G711.decode(bytes, law: format.encoding, into: buffer)
                try emit(UnsafeBufferPointer(rebasing: buffer[..<bytes.count]))
            }
        }
    }

    /// Forgets the leftover byte of `key`, if it holds one: the stream has ended. Returns it as a half sample.
    package mutating func end(_ key: AudioStreamKey) -> HalfSample? {
        leftoverBytes.removeValue(forKey: key).map { HalfSample(stream: key, line: $0.line) }
    }

    private mutating func appendPCM16<Failure: Error>(
        _ bytes: UnsafeRawBufferPointer, key: AudioStreamKey, line: Int, emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        guard !bytes.isEmpty else { return }
        guard let leftover = leftoverBytes.removeValue(forKey: key) else {
            return try appendPCM16(whole: bytes, key: key, line: line, emit: emit)
        }
        // Re-join the sample split across deltas by prepending the leftover byte.
        joined.removeAll(keepingCapacity: true)
        joined.append(leftover.byte)
        joined.append(contentsOf: bytes)
        let rejoined = joined
        try rejoined.withUnsafeBufferPointer { (rejoined) throws(Failure) in
            try appendPCM16(whole: UnsafeRawBufferPointer(rejoined), key: key, line: line, emit: emit)
        }
    }

    private mutating func appendPCM16<Failure: Error>(
        whole bytes: UnsafeRawBufferPointer, key: AudioStreamKey, line: Int, emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        let count = bytes.count / 2
        if bytes.count % 2 == 1 { keepLeftover(bytes[bytes.count - 1], key: key, line: line) }
        guard count > 0 else { return }
        ensureSampleCapacity(count)
        try samples.withUnsafeMutableBufferPointer { (buffer) throws(Failure) in
            PCMConversion.samplesFromPCM16LittleEndian(UnsafeRawBufferPointer(rebasing: bytes[..<(count * 2)]), into: buffer)
            try emit(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    private mutating func keepLeftover(_ byte: UInt8, key: AudioStreamKey, line: Int) {
        if leftoverBytes[key] == nil, leftoverBytes.count >= Self.maximumStreamsWithLeftover {
            // Give up the older half at once: one sort per half of the limit, not a search per stream.
            let oldest = leftoverBytes.sorted { $0.value.order < $1.value.order }.prefix(Self.maximumStreamsWithLeftover / 2)
            for (stream, leftover) in oldest {
                leftoverBytes.removeValue(forKey: stream)
                givenUp.append(HalfSample(stream: stream, line: leftover.line))
            }
        }
        leftoverOrder += 1
        leftoverBytes[key] = Leftover(byte: byte, line: line, order: leftoverOrder)
    }

    private mutating func ensureSampleCapacity(_ count: Int) {
        if samples.count < count { samples = [Int16](repeating: 0, count: max(count, samples.count * 2)) }
    }

    /// The stream key of `delta`, rebuilt only when it differs from the previous delta's.
    package mutating func streamKey(_ delta: AudioDelta, _ message: UnsafeRawBufferPointer) -> AudioStreamKey {
        let response = delta.responseID.map { UnsafeRawBufferPointer(rebasing: message[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let item = delta.itemID.map { UnsafeRawBufferPointer(rebasing: message[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if let lastKey, delta.contentIndex == lastContentIndex,
           response.elementsEqual(lastResponseBytes), item.elementsEqual(lastItemBytes)
        {
            return lastKey
        }
        lastResponseBytes = Array(response)
        lastItemBytes = Array(item)
        lastContentIndex = delta.contentIndex
        let key = AudioStreamKey(delta, in: message)
        lastKey = key
        return key
    }
}
