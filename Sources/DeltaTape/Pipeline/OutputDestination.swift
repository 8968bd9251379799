package import DeltaTapeContainers
@_spi(Blocks) package import DeltaTapeEvents

/// Where a conversion writes.
public enum OutputDestination: Sendable, Hashable {
    /// A file at a path (created or replaced).
    case file(String)
    /// Standard output.
    case standardOutput

    /// The name used in messages.
    public var name: String {
        switch self {
        case .file(let path): path
        case .standardOutput: "stdout"
        }
    }
}

extension OutputDestination {
    /// Opens the destination for writing: creates (or truncates) the file, or takes standard output. Either way a regular
    /// file is locked for the conversion (`flock`), so a second process writing it fails instead of corrupting it.
    ///
    /// - Throws: ``OutputError`` naming the path and the system's reason, or saying that another process writes the file.
    package func makeSink() throws(OutputError) -> any PositionalByteSink {
        switch self {
        case .file(let path): try FileDescriptorSink(path: path)
        case .standardOutput: try FileDescriptorSink(lockingDescriptor: 1, name: "stdout")
        }
    }
}

extension OutputDestination {
    /// Where one track of separate files goes: `x.wav` becomes `x.user.wav` and `x.assistant.wav` (a name without an
    /// extension gets the track's name appended). `nil` for standard output, which cannot hold two files.
    package func destination(for track: AudioTrack) -> OutputDestination? {
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
    package func makeSink(for track: AudioTrack?) throws(OutputError) -> any PositionalByteSink {
        guard let track else { return try makeSink() }
        guard let destination = destination(for: track) else {
            throw OutputError(path: name, reason: "separate files (one per track) cannot go to standard output; name a file with -o")
        }
        return try destination.makeSink()
    }
}
