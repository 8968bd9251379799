#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@_spi(Blocks) import DeltaTapeKernels
@_spi(Blocks) import DeltaTapeEvents
@_spi(Blocks) import DeltaTapeContainers

/// Interleaved 16-bit frames read a block at a time from an audio input.
protocol AudioFrameSource: AnyObject {
    var name: String { get }
    var sampleRate: Int { get }
    var channelCount: Int { get }
    /// Bytes of input read so far (for an audio file, its size).
    var byteCount: Int { get }
    /// What runs while a live input has nothing to read (`nil` for inputs that cannot stall).
    var inputStall: InputStallHandler? { get }
    /// Whether the input arrives over time (a pipe) rather than from a file.
    var isLive: Bool { get }
    /// The next block of whole frames, valid until the next call; `nil` at the end.
    func nextBlock() throws(ConversionError) -> UnsafeBufferPointer<Int16>?
}

/// An audio file read through libsndfile.
final class AudioFileSource: AudioFrameSource {
    let inputStall: InputStallHandler? = nil  // a file read by path never stalls
    let isLive = false
    let reader: AudioFileReader

    init(path: String) throws(ConversionError) {
        do throws(AudioFileError) {
            reader = try AudioFileReader(path: path)
        } catch {
            throw .badInput("\(error.path): cannot read it as audio: \(error.reason)")
        }
    }

    var name: String { reader.path }
    var sampleRate: Int { reader.sampleRate }
    var channelCount: Int { reader.channelCount }
    var byteCount: Int { fileSize(reader.path) }

    func nextBlock() throws(ConversionError) -> UnsafeBufferPointer<Int16>? {
        do throws(AudioFileError) {
            return try reader.nextBlock()
        } catch {
            throw .unreadableInput(InputError(name: error.path, reason: error.reason, code: error.code))
        }
    }
}

/// Headerless PCM from a file or standard input; bytes of a frame split across reads are carried over.
final class RawPCMSource: AudioFrameSource {
    private let stall = InputStallHandler()
    var inputStall: InputStallHandler? { stall }
    var isLive: Bool { source.isLive }
    let format: AudioFormat
    private var source: FileByteSource
    private let bytes: UnsafeMutableRawBufferPointer
    private let samples: UnsafeMutableBufferPointer<Int16>
    private var carried = 0  // bytes of an incomplete frame kept at the start of `bytes`

    init(path: String, format: AudioFormat) throws(ConversionError) {
        self.format = format
        do throws(InputError) {
            source = try FileByteSource.forPath(path)
            source.stallHandler = stall
        } catch {
            throw .unreadableInput(error)
        }
        bytes = .allocate(byteCount: 1 << 18, alignment: 16)
        samples = .allocate(capacity: 1 << 18)
    }

    deinit {
        source.close()
        bytes.deallocate()
        samples.deallocate()
    }

    var name: String { source.name }
    var sampleRate: Int { format.sampleRate }
    var channelCount: Int { format.channelCount }
    private(set) var byteCount = 0

    func nextBlock() throws(ConversionError) -> UnsafeBufferPointer<Int16>? {
        let frameBytes = format.encoding.bytesPerSample * format.channelCount
        var filled = carried
        // Read until at least one whole frame is in hand, or the input ends.
        while filled < frameBytes {
            let count: Int
            do throws(InputError) {
                count = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[filled...]))
            } catch {
                throw .unreadableInput(error)
            }
            if count == 0 { break }
            if byteCount == 0 { try refuseImplausible(UnsafeRawBufferPointer(rebasing: bytes[filled..<(filled + count)])) }
            filled += count
            byteCount += count
        }
        let usable = filled / frameBytes * frameBytes
        guard usable > 0 else { return nil }  // a trailing partial frame at the very end is dropped
        let sampleCount = usable / format.encoding.bytesPerSample
        let chunk = UnsafeRawBufferPointer(rebasing: bytes[..<usable])
        switch format.encoding {
        case .pcm16: PCMConversion.samplesFromPCM16LittleEndian(chunk, into: samples)
        case .mulaw, .alaw: G711.decode(chunk, law: format.encoding, into: samples)
        }
        carried = filled - usable
        if carried > 0, let base = bytes.baseAddress {
            base.copyMemory(from: base + usable, byteCount: carried)
        }
        return UnsafeBufferPointer(rebasing: samples[..<sampleCount])
    }
}

extension RawPCMSource {
    /// Throws when the input's first bytes (as one read gave them) are plainly a session log, not headerless audio: text
    /// that ``InputKind/detect(_:)`` takes for JSON Lines, a JSON array or a HAR, all of its first bytes printable.
    /// Decoded as samples it would be noise, with no word of warning. (An audio file's header is let through: reading a
    /// WAV as raw PCM is a known trick, and the header is a few milliseconds of noise.)
    private func refuseImplausible(_ first: UnsafeRawBufferPointer) throws(ConversionError) {
        guard let kind = InputKind.detect(first), kind != .audioFile else { return }
        let flags = "--input-format \(format.encoding.rawInputName)"
        // Raw audio whose first bytes are all printable text is vanishingly rare; JSON text always is.
        let text = first.prefix(4096).allSatisfy { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20...0x7E).contains($0) || $0 >= 0x80 }
        guard text else { return }
        throw .badInput("\(name): looks like \(kind.displayName.withIndefiniteArticle) (JSON text), not headerless \(format.encoding.rawInputName) audio; "
            + "leave out \(flags) and --input-rate to convert the session's audio")
    }
}

extension SampleEncoding {
    /// The name `--input-format` gives the encoding.
    fileprivate var rawInputName: String {
        switch self {
        case .pcm16: "s16le"
        case .mulaw: "mulaw"
        case .alaw: "alaw"
        }
    }
}

extension String {
    /// The phrase with "a" or "an" before it.
    fileprivate var withIndefiniteArticle: String {
        (first.map { "aeiouAEIOU".contains($0) } ?? false ? "an " : "a ") + self
    }
}

/// The size of the file at `path`, 0 when it cannot be read.
private func fileSize(_ path: String) -> Int {
    var status = stat()
    return stat(path, &status) == 0 ? Int(status.st_size) : 0
}
