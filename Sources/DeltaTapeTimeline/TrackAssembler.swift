import DeltaTapeKernels
public import DeltaTapeEvents

/// Joins one track's decoded payloads into 16-bit samples, in arrival order and without gaps.
///
/// PCM16 payloads may hold an odd number of bytes: the leftover byte is kept per stream and joins the
/// next payload of the same stream, so a sample split across two deltas comes out whole.
public struct TrackAssembler: Sendable {
    private var leftoverBytes: [AudioStreamKey: UInt8] = [:]
    private var samples: [Int16] = []
    private var joined: [UInt8] = []
    // The last stream seen, to build a key only when the stream changes.
    private var lastKey: AudioStreamKey?
    private var lastResponseBytes: [UInt8] = []
    private var lastItemBytes: [UInt8] = []
    private var lastContentIndex = -1

    /// Creates an assembler for one track.
    public init() {}

    /// Streams still holding a leftover byte: when the session ends, each is half a sample that never completed.
    public var streamsWithLeftoverByte: [AudioStreamKey] { Array(leftoverBytes.keys) }

    /// Appends a decoded payload and passes the complete samples it yields to `emit`.
    ///
    /// - Parameters:
    ///   - bytes: The decoded payload (PCM16 little-endian or G.711, per `delta.format`).
    ///   - delta: The delta the payload came from (its stream and format).
    ///   - message: The message bytes `delta` points into.
    ///   - emit: Receives the samples (valid only during the call).
    public mutating func append<Failure: Error>(
        _ bytes: UnsafeRawBufferPointer,
        of delta: AudioDelta,
        in message: UnsafeRawBufferPointer,
        emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        switch delta.format.encoding {
        case .pcm16:
            try appendPCM16(bytes, key: streamKey(delta, message), emit: emit)
        case .mulaw, .alaw:
            ensureSampleCapacity(bytes.count)
            try samples.withUnsafeMutableBufferPointer { (buffer) throws(Failure) in
                G711.decode(bytes, law: delta.format.encoding, into: buffer)
                try emit(UnsafeBufferPointer(rebasing: buffer[..<bytes.count]))
            }
        }
    }

    private mutating func appendPCM16<Failure: Error>(
        _ bytes: UnsafeRawBufferPointer, key: AudioStreamKey, emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        guard !bytes.isEmpty else { return }
        guard let leftover = leftoverBytes.removeValue(forKey: key) else {
            return try appendPCM16(whole: bytes, key: key, emit: emit)
        }
        // Re-join the sample split across deltas by prepending the leftover byte.
        joined.removeAll(keepingCapacity: true)
        joined.append(leftover)
        joined.append(contentsOf: bytes)
        let rejoined = joined
        try rejoined.withUnsafeBufferPointer { (rejoined) throws(Failure) in
            try appendPCM16(whole: UnsafeRawBufferPointer(rejoined), key: key, emit: emit)
        }
    }

    private mutating func appendPCM16<Failure: Error>(
        whole bytes: UnsafeRawBufferPointer, key: AudioStreamKey, emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        let count = bytes.count / 2
        if bytes.count % 2 == 1 { leftoverBytes[key] = bytes[bytes.count - 1] }
        guard count > 0 else { return }
        ensureSampleCapacity(count)
        try samples.withUnsafeMutableBufferPointer { (buffer) throws(Failure) in
            PCMConversion.samplesFromPCM16LittleEndian(UnsafeRawBufferPointer(rebasing: bytes[..<(count * 2)]), into: buffer)
            try emit(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    private mutating func ensureSampleCapacity(_ count: Int) {
        if samples.count < count { samples = [Int16](repeating: 0, count: max(count, samples.count * 2)) }
    }

    /// The stream key of `delta`, rebuilt only when it differs from the previous delta's.
    private mutating func streamKey(_ delta: AudioDelta, _ message: UnsafeRawBufferPointer) -> AudioStreamKey {
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
