#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import DeltaTapeKernels

/// Something input bytes are read from in chunks: a file, a pipe, standard input.
public protocol ByteSource {
    /// A name for messages: the path, or `stdin`.
    var name: String { get }

    /// Reads up to `buffer.count` bytes.
    ///
    /// - Returns: The number of bytes read; 0 at the end of the input.
    /// - Throws: ``InputError`` when reading fails.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int
}

/// A failure to open or read an input.
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input's name (its path, or `stdin`).
    public var name: String
    /// What went wrong, in words (with the system's reason).
    public var reason: String
    /// The system's error number (`errno`) or the C library's code, when one is involved.
    public var code: Int32?

    /// Creates an error.
    public init(name: String, reason: String, code: Int32? = nil) {
        self.name = name
        self.reason = reason
        self.code = code
    }

    public var description: String { "\(name): \(reason)" }
}

/// What to do while a live input (a pipe, a socket) has nothing to read: a writer puts what it holds on disk, so
/// that a process killed between two turns of a live session leaves all the audio it had received.
public final class InputStallHandler {
    /// How long a read waits for bytes before ``action`` runs (and again after each further wait as long).
    public let interval: Duration
    /// Runs on the reading thread, between waits.
    public var action: () -> Void

    /// Creates a handler that runs `action` after each `interval` without input.
    public init(interval: Duration = .milliseconds(250), action: @escaping () -> Void = {}) {
        self.interval = interval
        self.action = action
    }
}

/// Bytes read from a file descriptor with `read(2)`.
public struct FileByteSource: ByteSource {
    public let name: String
    private let descriptor: Int32
    private let closesDescriptor: Bool
    /// Runs while a pipe or socket has nothing to read (a regular file never stalls).
    public var stallHandler: InputStallHandler?

    /// Opens the file at `path` for reading.
    ///
    /// - Throws: ``InputError`` naming the path and the system's reason.
    public init(path: String) throws(InputError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw InputError(name: path, reason: "cannot open for reading: \(SystemCall.errorMessage(errno))", code: errno)
        }
        var status = stat()
        if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            SystemCall.close(descriptor)
            throw InputError(name: path, reason: "is a directory, expected a session log or audio file")
        }
        self.init(descriptor: descriptor, name: path, closesDescriptor: true)
    }

    /// Reads from an open descriptor, for example 0 for standard input.
    ///
    /// - Parameters:
    ///   - descriptor: The descriptor to read from.
    ///   - name: The name used in messages.
    ///   - closesDescriptor: Whether ``close()`` closes the descriptor.
    public init(descriptor: Int32, name: String, closesDescriptor: Bool = false) {
        self.descriptor = descriptor
        self.name = name
        self.closesDescriptor = closesDescriptor
    }

    /// Standard input.
    public static var standardInput: FileByteSource { FileByteSource(descriptor: 0, name: "stdin") }

    /// Opens the file at `path`, or standard input for `-` (the command line's convention).
    ///
    /// - Throws: ``InputError`` naming the path and the system's reason.
    public static func forPath(_ path: String) throws(InputError) -> FileByteSource {
        path == "-" ? .standardInput : try FileByteSource(path: path)
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        if let stallHandler { waitForInput(stallHandler) }
        while true {
            let count = SystemCall.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw InputError(name: name, reason: "read failed: \(SystemCall.errorMessage(errno))", code: errno)
        }
    }

    /// Waits until the descriptor has bytes (or an end, or an error, for `read` to report), running the handler after
    /// each interval without input. Regular files are always readable: `poll` returns at once.
    private func waitForInput(_ handler: InputStallHandler) {
        let (seconds, attoseconds) = handler.interval.components
        let milliseconds = Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&request, 1, max(1, milliseconds))
            if ready > 0 || (ready < 0 && errno != EINTR) { return }
            if ready == 0 { handler.action() }
        }
    }

    /// Whether the input arrives over time (a pipe, a socket, a terminal) rather than being all there (a regular file).
    public var isLive: Bool {
        var status = stat()
        return fstat(descriptor, &status) != 0 || status.st_mode & S_IFMT != S_IFREG
    }

    /// Closes the descriptor if this source opened it.
    public func close() {
        if closesDescriptor { SystemCall.close(descriptor) }
    }
}

/// Bytes from memory, for tests and for messages already in hand.
public struct MemoryByteSource: ByteSource {
    public let name: String
    private let bytes: [UInt8]
    private var offset = 0
    private let maximumReadSize: Int

    /// Serves `bytes`, at most `maximumReadSize` at a time (small values exercise chunk boundaries).
    public init(_ bytes: [UInt8], name: String = "memory", maximumReadSize: Int = .max) {
        self.bytes = bytes
        self.name = name
        self.maximumReadSize = max(1, maximumReadSize)
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        let count = min(buffer.count, bytes.count - offset, maximumReadSize)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count)]))
        }
        offset += count
        return count
    }
}
