// Why a journal of the input rather than of the held audio: the audio the timeline holds (an answer that a later cut
// may still shorten) exists only in the pipeline's state (item placement, the resampler's and the encoder's state),
// which a side file of samples could not bring back exactly. The input it came from can: converted again to its end,
// it gives the recording the conversion would have finished with, had the input ended there — cuts that arrived
// applied, an answer still open heard up to where it was received. Its cost is a second copy of a live input (realtime
// rates: kilobytes a second) while the conversion runs; it is removed when the conversion ends.
import DeltaTapeKernels
@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeTimeline
import DeltaTapeCodecs
import DeltaTapeContainers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The input of a live conversion to a file, kept beside the output (`OUTPUT.journal`) while the conversion runs, so
/// that a process killed at any moment loses nothing it received: `deltatape repair OUTPUT` converts the journal again
/// and puts the whole recording in the output's place.
///
/// The file is one header line (`deltatape-journal 1` and the conversion's options, tab-separated `name=value`,
/// percent-escaped) and then the input's bytes exactly as read, so it is a session log in itself. Every read is
/// appended at once (`write(2)`: a killed process's writes are the kernel's, and stay).
package final class InputJournal {
    /// The journal's path.
    package let path: String
    /// The file, until the journal is closed (`FileDescriptorSink(creatingNew:)`, or the caller's made the same way:
    /// O_EXCL, never through a link, locked).
    private var file: (any ByteSink)?
    /// Whether appending failed (a full disk): the conversion goes on without its journal, which is then removed.
    package private(set) var failure: OutputError?

    /// The journal of the output at `output`.
    package static func path(forOutput output: String) -> String { output + ".journal" }

    private static let magic = "deltatape-journal 1"

    private init(path: String, file: any ByteSink) {
        self.path = path
        self.file = file
    }

    /// Makes the journal of `output` and writes its header: created anew (never through a link), readable by its owner
    /// only (a session's input holds what was said), locked while it is written, so that a repair leaves it be. A
    /// journal left by an earlier conversion of the same output, killed, is replaced: this conversion replaces that
    /// output too.
    ///
    /// - Throws: ``OutputError`` when the file cannot be made or written.
    package static func create(forOutput output: String, options: ConversionOptions) throws(OutputError) -> InputJournal {
        let path = path(forOutput: output)
        let file: FileDescriptorSink
        do throws(OutputError) {
            file = try FileDescriptorSink(creatingNew: path, permissions: 0o600)
        } catch where error.code == EEXIST {
            // Only a regular file is replaced: a link or a folder at the name is left, and refused.
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, unlink(path) == 0 else {
                throw OutputError(path: path, reason: "a file of another kind (a link, a folder) has the journal's name; move it away",
                                  code: EEXIST)
            }
            file = try FileDescriptorSink(creatingNew: path, permissions: 0o600)
        }
        return try start(in: file, path: path, options: options)
    }

    /// Starts the journal at `path` in `file`, a new empty file the caller made there (a relay makes a recording's
    /// files, its journal among them, under one name no one else can take), by writing its header.
    ///
    /// - Throws: ``OutputError`` when the header cannot be written (the file is closed and removed).
    package static func start(in file: any ByteSink, path: String, options: ConversionOptions) throws(OutputError) -> InputJournal {
        let journal = InputJournal(path: path, file: file)
        let header = Array((magic + "\t" + encode(options) + "\n").utf8)
        header.withUnsafeBytes { journal.append($0) }
        if let failure = journal.failure {
            journal.discard()
            throw failure
        }
        return journal
    }

    /// Appends input bytes. A failure is kept in ``failure`` and ends the journal (the conversion goes on).
    package func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let file else { return }
        do throws(OutputError) {
            try file.write(bytes)
        } catch {
            failure = OutputError(path: path, reason: "the input's journal could not be written (\(error.reason)); a kill from here on "
                + "loses the audio not yet on disk", code: error.code)
        }
    }

    /// Closes and removes the journal: the conversion ended, and its output holds everything.
    package func discard() {
        close()
        unlink(path)
    }

    /// Closes the journal and leaves it, for `deltatape repair` (a conversion whose output failed).
    package func keep() {
        close()
    }

    private func close() {
        try? file?.close()
        file = nil
    }

    // MARK: - The header

    private static func encode(_ options: ConversionOptions) -> String {
        var fields: [(String, String?)] = [
            ("format", options.format.rawValue), ("track", options.track.rawValue), ("layout", options.layout.rawValue),
            ("keep-truncated", options.keepsTruncated ? "1" : nil), ("sample-format", options.sampleFormat.rawValue),
            ("rate", options.sampleRate.map(String.init)), ("resampler", options.resampler.rawValue),
            ("quality", options.quality.rawValue), ("bitrate", options.opus.bitrate.map(String.init)),
            ("complexity", options.opus.complexity.map(String.init)), ("application", options.opus.application.rawValue),
            ("frame-ms", String(options.opus.frameMilliseconds)), ("input-kind", options.inputKind?.rawValue),
            ("event-field", options.eventField), ("max-message-bytes", String(options.maximumMessageByteCount)),
            ("stream-id", options.streamIdentifier.map(String.init)),
        ]
        fields.removeAll { $0.1 == nil }
        return fields.map { "\($0.0)=\(percentEscaped($0.1 ?? ""))" }.joined(separator: "\t")
    }

    /// The options a header line names; `nil` when it is not a journal's header or names a value this version does
    /// not know.
    package static func decode(_ line: String) -> ConversionOptions? {
        var parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == magic else { return nil }
        parts.removeFirst()
        var values: [String: String] = [:]
        for part in parts {
            guard let equals = part.firstIndex(of: "="), let value = percentUnescaped(String(part[part.index(after: equals)...])) else { return nil }
            values[String(part[..<equals])] = value
        }
        var options = ConversionOptions()
        guard let format = values["format"].flatMap(OutputFormat.init(rawValue:)),
              let track = values["track"].flatMap(TrackSelection.init(rawValue:)),
              let layout = values["layout"].flatMap(ChannelLayout.init(rawValue:)),
              let sampleFormat = values["sample-format"].flatMap(PCMSampleFormat.init(rawValue:)),
              let resampler = values["resampler"].flatMap(ResamplerEngine.init(rawValue:)),
              let quality = values["quality"].flatMap(ResamplerQuality.init(rawValue:)),
              let application = values["application"].flatMap(OpusApplication.init(rawValue:)),
              let frameMilliseconds = values["frame-ms"].flatMap(Double.init),
              let maximumMessageByteCount = values["max-message-bytes"].flatMap(Int.init) else { return nil }
        options.format = format
        options.track = track
        options.layout = layout
        options.keepsTruncated = values["keep-truncated"] == "1"
        options.sampleFormat = sampleFormat
        options.resampler = resampler
        options.quality = quality
        options.opus = OpusSettings(bitrate: values["bitrate"].flatMap(Int.init), complexity: values["complexity"].flatMap(Int.init),
                                    application: application, frameMilliseconds: frameMilliseconds)
        options.maximumMessageByteCount = maximumMessageByteCount
        options.eventField = values["event-field"]
        if let rate = values["rate"] {
            guard let value = Int(rate) else { return nil }
            options.sampleRate = value
        }
        if let kind = values["input-kind"] {
            guard let value = InputKind(rawValue: kind) else { return nil }
            options.inputKind = value
        }
        if let identifier = values["stream-id"] {
            guard let value = UInt32(identifier) else { return nil }
            options.streamIdentifier = value
        }
        return options
    }

    /// `%`, tab, CR and LF (and every other control byte) as `%XX`: a value (an envelope field's name) stays on the
    /// header's line and in its field.
    private static func percentEscaped(_ value: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var escaped: [UInt8] = []
        for byte in value.utf8 {
            if byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "%") {
                escaped += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
            } else {
                escaped.append(byte)
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }

    private static func percentUnescaped(_ value: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(value.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
