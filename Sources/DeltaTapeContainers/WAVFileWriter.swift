import CSndFile
import DeltaTapeKernels

/// The sample format of a PCM file.
public enum PCMSampleFormat: String, Sendable, Hashable, CaseIterable {
    /// 16-bit signed integers: bit-exact to PCM16 sources.
    case s16
    /// 32-bit floats.
    case f32
}

/// A failure to write an output.
public struct OutputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The output's path.
    public var path: String
    /// What went wrong, in words, with the library's or system's reason.
    public var reason: String
    /// The C library's error code, when one is involved.
    public var code: Int32?

    /// Creates an error.
    public init(path: String, reason: String, code: Int32? = nil) {
        self.path = path
        self.reason = reason
        self.code = code
    }

    public var description: String { "\(path): \(reason)" }
}

/// Writes a WAV file through libsndfile, streaming: samples are buffered and written in blocks.
///
/// The file is a plain RIFF WAV while it is smaller than 4 GiB and switches to RF64 beyond (libsndfile's
/// auto-downgrading RF64), so long sessions never wrap the 32-bit sizes. The header is rewritten with
/// every block, so a process killed mid-write leaves a file whose header describes all blocks written.
/// A block is written when 1 MiB is buffered (large writes keep the kernel's page-cache cost low: small
/// unaligned writes made it zero and copy pages twice) or when half a second has passed since the last one,
/// so a live recording is never more than about half a second behind on disk.
public final class WAVFileWriter {
    /// The file's path.
    public let path: String
    /// Frames per second.
    public let sampleRate: Int
    /// Channels per frame.
    public let channelCount: Int
    /// The sample format written.
    public let sampleFormat: PCMSampleFormat

    private var file: OpaquePointer?
    private var pending: [Int16] = []
    private var floats: [Float] = []
    private let blockSampleCount: Int
    private var lastFlush: ContinuousClock.Instant
    private static let maximumFlushInterval = Duration.milliseconds(500)

    /// Frames written to the file so far (buffered frames included).
    public private(set) var frameCount = 0

    /// Creates (or truncates) the file at `path`.
    ///
    /// - Parameters:
    ///   - path: Where to write.
    ///   - sampleRate: Frames per second.
    ///   - channelCount: Interleaved channels per frame.
    ///   - sampleFormat: 16-bit integers or 32-bit floats.
    /// - Throws: ``OutputError`` naming the path, with libsndfile's reason.
    public init(path: String, sampleRate: Int, channelCount: Int = 1, sampleFormat: PCMSampleFormat = .s16) throws(OutputError) {
        self.path = path
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.sampleFormat = sampleFormat
        blockSampleCount = 512 * 1024
        pending.reserveCapacity(blockSampleCount)
        lastFlush = ContinuousClock.now

        guard let rate = Int32(exactly: sampleRate), rate > 0, let channels = Int32(exactly: channelCount), channels > 0 else {
            throw OutputError(path: path, reason: "cannot write \(channelCount) channel(s) at \(sampleRate) Hz")
        }
        var info = SF_INFO()
        info.samplerate = rate
        info.channels = channels
        let subtype = sampleFormat == .s16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT
        info.format = Int32(SF_FORMAT_RF64 | subtype)
        guard let file = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw OutputError(path: path, reason: "cannot open for writing: \(String(cString: sf_strerror(nil)))", code: sf_error(nil))
        }
        self.file = file
        // Both must be set before the first write: plain WAV until 4 GiB, header current after every write.
        sf_command(file, Int32(SFC_RF64_AUTO_DOWNGRADE), nil, Int32(SF_TRUE))
        sf_command(file, Int32(SFC_SET_UPDATE_HEADER_AUTO), nil, Int32(SF_TRUE))
    }

    deinit {
        if let file { sf_close(file) }
    }

    /// Appends interleaved samples.
    ///
    /// - Throws: ``OutputError`` when the disk is full or the file cannot be written.
    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        var remaining = samples[...]
        while !remaining.isEmpty {
            let room = blockSampleCount - pending.count
            let taken = remaining.prefix(room)
            pending.append(contentsOf: taken)
            remaining = remaining.dropFirst(taken.count)
            if pending.count == blockSampleCount { try flush() }
        }
        frameCount += samples.count / channelCount
        if !pending.isEmpty, ContinuousClock.now - lastFlush >= Self.maximumFlushInterval { try flush() }
    }

    /// Writes buffered samples to the file and brings its header up to date.
    ///
    /// - Throws: ``OutputError`` when the write fails.
    public func flush() throws(OutputError) {
        guard let file else { throw OutputError(path: path, reason: "write after close") }
        guard !pending.isEmpty else { return }
        lastFlush = ContinuousClock.now
        let written: sf_count_t
        switch sampleFormat {
        case .s16:
            written = pending.withUnsafeBufferPointer { sf_write_short(file, $0.baseAddress, sf_count_t($0.count)) }
        case .f32:
            // Scaled to [-1, 1) here: exact for every 16-bit value, and independent of libsndfile's scaling options.
            if floats.count < pending.count { floats = [Float](repeating: 0, count: pending.count) }
            pending.withUnsafeBufferPointer { source in floats.withUnsafeMutableBufferPointer { PCMConversion.floats(from: source, into: $0) } }
            written = floats.withUnsafeBufferPointer { sf_write_float(file, $0.baseAddress, sf_count_t(pending.count)) }
        }
        guard written == pending.count else {
            let reason = String(cString: sf_strerror(file))
            throw OutputError(path: path, reason: "write failed after \(frameCount - pending.count / channelCount) frames: \(reason)", code: sf_error(file))
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the file. Called again, it does nothing.
    ///
    /// - Throws: ``OutputError`` when the last write or the header update fails.
    public func close() throws(OutputError) {
        guard let file else { return }
        defer { self.file = nil }
        do {
            try flush()
        } catch {
            sf_close(file)
            throw error
        }
        let status = sf_close(file)
        guard status == 0 else {
            throw OutputError(path: path, reason: "closing failed: \(String(cString: sf_error_number(status)))", code: status)
        }
    }
}
