public import DeltaTapeContainers
@_spi(Blocks) public import DeltaTapeEvents

/// Where a conversion or a recording writes: a file, standard output, a sink of the caller's, or an async writer.
public enum OutputDestination: Sendable {
    /// A file at a path (created or replaced): the finalized forms (WAV and WebM sizes written back). A regular file
    /// is locked for the work (`flock`), so a second process writing it fails instead of corrupting it.
    case file(String)
    /// Standard output: the streaming forms when it is a pipe.
    case standardOutput
    /// A sink of the caller's, opened at the first audio: for example a ``PositionalByteSink`` of its own, or one
    /// that hands out parts for a multipart upload. `track` is `nil` for the one output, the track for
    /// ``ChannelLayout/separate`` files.
    case custom(@Sendable (_ track: AudioTrack?) throws(OutputError) -> any ByteSink)
    /// An async writer of the caller's (an upload stream, a network connection): it receives the bytes in order, in
    /// chunks; the work waits while it is busy (at most `bufferedBytes` are held for it), never seeks, so the
    /// streaming forms are written.
    case writer(bufferedBytes: Int = 1 << 20, @Sendable (_ bytes: [UInt8]) async throws -> Void)

    /// The name used in messages.
    public var name: String {
        switch self {
        case .file(let path): path
        case .standardOutput: "stdout"
        case .custom: "the caller's sink"
        case .writer: "writer"
        }
    }
}

extension OutputDestination {
    /// Where one track of separate files goes: `x.wav` becomes `x.user.wav` and `x.assistant.wav` (a name without an
    /// extension gets the track's name appended). `nil` for anything but a file: standard output cannot hold two
    /// files, and a sink or a writer of the caller's is given the track when it is opened.
    public func destination(for track: AudioTrack) -> OutputDestination? {
        guard case .file(let path) = self else { return nil }
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        if let dot = path[slash...].lastIndex(of: "."), dot > slash {
            return .file(path[..<dot] + "." + track.rawValue + path[dot...])
        }
        return .file(path + "." + track.rawValue)
    }

    /// Opens the destination of `track` (`nil`: the one output) for writing.
    ///
    /// - Throws: ``OutputError`` naming the path and the system's reason; for a track of standard output, that two
    ///   files cannot go there.
    package func makeSink(for track: AudioTrack?) throws(OutputError) -> any ByteSink {
        switch self {
        case .file(let path):
            guard let track else { return try FileDescriptorSink(path: path) }
            return try FileDescriptorSink(path: destination(for: track)?.name ?? path)
        case .standardOutput:
            guard track == nil else {
                throw OutputError(path: name, reason: "separate files (one per track) cannot go to standard output; name a file with -o")
            }
            return try FileDescriptorSink(lockingDescriptor: 1, name: "stdout")
        case .custom(let open):
            return try open(track)
        case .writer(let bufferedBytes, let write):
            return AsyncWriterSink(name: track.map { "writer (\($0.rawValue))" } ?? "writer", bufferedBytes: bufferedBytes, write: write)
        }
    }
}
