import CSndFile

/// Reads an audio file that libsndfile understands (WAV, RF64, FLAC, AIFF, Ogg Vorbis, ...) as 16-bit frames,
/// a block at a time.
@_spi(Blocks) public final class AudioFileReader {
    /// The file's path.
    public let path: String
    /// Frames per second.
    public let sampleRate: Int
    /// Interleaved channels per frame.
    public let channelCount: Int

    private var file: OpaquePointer?
    private let block: UnsafeMutableBufferPointer<Int16>
    private let blockFrameCount = 16_384

    /// Opens the file at `path` for reading.
    ///
    /// - Throws: ``AudioFileError`` with libsndfile's reason when it cannot read the file.
    public init(path: String) throws(AudioFileError) {
        self.path = path
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioFileError(path: path, reason: String(cString: sf_strerror(nil)), code: sf_error(nil))
        }
        self.file = file
        sampleRate = Int(info.samplerate)
        channelCount = Int(info.channels)
        block = .allocate(capacity: blockFrameCount * max(1, channelCount))
    }

    deinit {
        if let file { sf_close(file) }
        block.deallocate()
    }

    /// Reads the next block of interleaved frames, valid until the next call; `nil` at the end of the file.
    ///
    /// - Throws: ``AudioFileError`` when the file cannot be read.
    public func nextBlock() throws(AudioFileError) -> UnsafeBufferPointer<Int16>? {
        guard let file else { return nil }
        let frames = sf_readf_short(file, block.baseAddress, sf_count_t(blockFrameCount))
        if frames < 0 || sf_error(file) != 0 {
            throw AudioFileError(path: path, reason: "read failed: \(String(cString: sf_strerror(file)))", code: sf_error(file))
        }
        guard frames > 0 else { return nil }
        return UnsafeBufferPointer(rebasing: block[..<(Int(frames) * channelCount)])
    }
}

/// A failure to read an audio file, with libsndfile's reason.
@_spi(Blocks) public struct AudioFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file's path.
    public var path: String
    /// libsndfile's reason, in words.
    public var reason: String
    /// libsndfile's error code.
    public var code: Int32

    /// Creates an error.
    public init(path: String, reason: String, code: Int32) {
        self.path = path
        self.reason = reason
        self.code = code
    }

    /// `path: reason`.
    public var description: String { "\(path): \(reason)" }
}
