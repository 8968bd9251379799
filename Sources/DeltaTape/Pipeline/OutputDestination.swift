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
    /// Opens the destination for writing: creates (or truncates) the file, or takes standard output.
    ///
    /// - Throws: ``OutputError`` naming the path and the system's reason.
    public func makeSink() throws(OutputError) -> any PositionalByteSink {
        switch self {
        case .file(let path): try FileDescriptorSink(path: path)
        case .standardOutput: FileDescriptorSink(descriptor: 1, name: "stdout")
        }
    }
}
