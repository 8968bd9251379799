public import DeltaTapeContainers

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
    public func makeSink() throws(OutputError) -> any PositionalByteSink {
        switch self {
        case .file(let path): try FileDescriptorSink(path: path)
        case .standardOutput: try FileDescriptorSink(lockingDescriptor: 1, name: "stdout")
        }
    }
}
