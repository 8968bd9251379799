#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import DeltaTapeKernels

/// Something input bytes are read from in chunks: a file, a pipe, standard input.
@_spi(Blocks) public protocol ByteSource {
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

    /// `name: reason`.
    public var description: String { "\(name): \(reason)" }
}

/// What to do while a live input (a pipe, a socket) has nothing to read: a writer puts what it holds on disk, so
/// that a process killed between two turns of a live session leaves all the audio it had received.
package final class InputStallHandler {
    /// How long a read waits for bytes before ``action`` runs (and again after each further wait as long).
    package let interval: Duration
    /// Runs on the reading thread, between waits.
    package var action: () -> Void

    /// Creates a handler that runs `action` after each `interval` without input.
    package init(interval: Duration = .milliseconds(250), action: @escaping () -> Void = {}) {
        self.interval = interval
        self.action = action
    }
}

/// Bytes read from a file descriptor with `read(2)`.
package struct FileByteSource: ByteSource {
    package let name: String
    private let descriptor: Int32
    private let closesDescriptor: Bool
    /// Runs while a pipe or socket has nothing to read (a regular file never stalls).
    package var stallHandler: InputStallHandler?

    /// Opens the file at `path` for reading.
    ///
    /// - Throws: ``InputError`` naming the path and the system's reason.
    package init(path: String) throws(InputError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw InputError(name: path, reason: "cannot open for reading: \(SystemCall.errorMessage(errno))", code: errno)
        }
        var status = stat()
        if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            SystemCall.close(descriptor)
            throw InputError(name: path, reason: "is a folder, not a file; expected a session log or an audio file")
        }
        self.init(descriptor: descriptor, name: path, closesDescriptor: true)
    }

    /// Reads from an open descriptor, for example 0 for standard input.
    ///
    /// - Parameters:
    ///   - descriptor: The descriptor to read from.
    ///   - name: The name used in messages.
    ///   - closesDescriptor: Whether ``close()`` closes the descriptor.
    package init(descriptor: Int32, name: String, closesDescriptor: Bool = false) {
        self.descriptor = descriptor
        self.name = name
        self.closesDescriptor = closesDescriptor
    }

    /// Standard input.
    package static var standardInput: FileByteSource { FileByteSource(descriptor: 0, name: "stdin") }

    /// Opens the file at `path`, or standard input for `-` (the command line's convention).
    ///
    /// - Throws: ``InputError`` naming the path and the system's reason.
    package static func forPath(_ path: String) throws(InputError) -> FileByteSource {
        path == "-" ? .standardInput : try FileByteSource(path: path)
    }

    package mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        if let stallHandler { waitForInput(stallHandler) }
        while true {
            let count = SystemCall.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw InputError(name: name, reason: "read failed: \(SystemCall.errorMessage(errno))", code: errno)
        }
    }

    /// Waits at most `timeout` until the input has bytes to read (or its end, or an error, for ``read(into:)`` to
    /// report); a regular file always has.
    ///
    /// - Returns: Whether it has; `false` when the time ran out first.
    package func waitForInput(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&request, 1, max(1, milliseconds))
            if ready > 0 || (ready < 0 && errno != EINTR) { return true }
            if ready == 0 { return false }
        }
    }

    /// Waits until the descriptor has bytes (or an end, or an error, for `read` to report), running the handler after
    /// each interval without input. Regular files are always readable: `poll` returns at once.
    private func waitForInput(_ handler: InputStallHandler) {
        while !waitForInput(timeout: handler.interval) { handler.action() }
    }

    /// Whether the input arrives over time (a pipe, a socket, a terminal) rather than being all there (a regular file).
    package var isLive: Bool {
        var status = stat()
        return fstat(descriptor, &status) != 0 || status.st_mode & S_IFMT != S_IFREG
    }

    /// Closes the descriptor if this source opened it.
    package func close() {
        if closesDescriptor { SystemCall.close(descriptor) }
    }
}

/// Bytes from memory, for tests and for messages already in hand.
@_spi(Blocks) public struct MemoryByteSource: ByteSource {
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

    /// Copies the next bytes, at most `maximumReadSize` of them.
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

/// Input bytes in a buffer of their own, handed from the thread that reads them to the thread that parses them without
/// being copied: a message reader parses them where they lie, and puts the unread end of the chunk before (a message
/// cut by the chunk's end) in the room kept free in front of them.
///
/// A chunk belongs to one thread at a time: the one filling it, then (handed over through a lock) the one reading it,
/// then (given back) the one filling it again: hence unchecked, as the compiler cannot see that hand-over.
package final class ByteChunk: @unchecked Sendable {
    /// The bytes a chunk holds unless its creator says otherwise: 256 KiB, large enough that handing a chunk over
    /// costs nothing measurable (a lock and a signal, a few thousand times for an hour's log), small enough that the
    /// chunks in flight stay in the processor's shared cache between the thread that reads them and the one that
    /// parses them, and keep memory low.
    package static let defaultCapacity = 256 << 10
    /// The room in front of the bytes: the end of a message cut by the previous chunk's end fits there unless it is
    /// longer (realtime messages are a few kilobytes); a longer one is copied together with the chunk instead.
    package static let headroomByteCount = 64 << 10

    /// The memory: ``headroomByteCount`` bytes of room, then up to ``capacity`` bytes.
    let memory: UnsafeMutableRawBufferPointer
    /// The first byte not yet read, in ``memory``.
    var start: Int
    /// The end of the bytes, in ``memory``.
    var end: Int

    /// The most bytes the chunk holds.
    package let capacity: Int

    /// Creates an empty chunk that holds up to `capacity` bytes.
    package init(capacity: Int = ByteChunk.defaultCapacity) {
        self.capacity = max(1, capacity)
        memory = .allocate(byteCount: Self.headroomByteCount + self.capacity, alignment: 64)
        start = Self.headroomByteCount
        end = start
    }

    deinit {
        memory.deallocate()
    }

    /// The bytes not yet read.
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: memory[start..<end]) }

    /// How many bytes are not yet read.
    package var byteCount: Int { end - start }

    /// Replaces the chunk's bytes with what `body` puts in the buffer it is given (the chunk's whole capacity), for
    /// example with `read(2)`.
    ///
    /// - Parameter body: Fills the buffer's first bytes and returns how many (at most the buffer's size).
    /// - Returns: What `body` returned, limited to the capacity.
    /// - Throws: What `body` throws; the chunk is then empty.
    @discardableResult
    package func fill<E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> Int) throws(E) -> Int {
        start = Self.headroomByteCount
        end = start
        let count = try body(UnsafeMutableRawBufferPointer(rebasing: memory[start...]))
        end = start + min(max(0, count), capacity)
        return end - start
    }

    /// Replaces the chunk's bytes with as many of `bytes` as it holds.
    ///
    /// - Returns: How many of `bytes` were taken.
    @discardableResult
    package func fill(copying bytes: some Collection<UInt8>) -> Int {
        fill { buffer in
            let taken = bytes.prefix(buffer.count)
            buffer.copyBytes(from: taken)
            return taken.count
        }
    }

    /// Appends as many of `bytes` as fit after the chunk's bytes.
    ///
    /// - Returns: How many of `bytes` were taken.
    @discardableResult
    package func append(_ bytes: some Collection<UInt8>) -> Int {
        let room = UnsafeMutableRawBufferPointer(rebasing: memory[end..<(Self.headroomByteCount + capacity)])
        let taken = bytes.prefix(room.count)
        room.copyBytes(from: taken)
        end += taken.count
        return taken.count
    }

    /// Marks the first `count` bytes as read.
    package func dropFirst(_ count: Int) {
        start = min(end, start + count)
    }
}

/// A byte source that hands over the chunks it was given (``ByteChunk``) instead of copying them into the reader's
/// buffer: a reader on one thread parses what another thread read, without copying it again.
///
/// ``ByteSource/read(into:)`` still copies, for callers that want a few bytes (detecting an input's kind).
package protocol ChunkByteSource: ByteSource, AnyObject {
    /// The next chunk of input (its bytes not yet read), which the caller owns until it gives it back with
    /// ``recycle(_:)``; `nil` at the end of the input.
    ///
    /// - Throws: ``InputError`` when reading the input failed.
    func nextChunk() throws(InputError) -> ByteChunk?

    /// Gives back a chunk whose bytes the caller is done with, to be filled again.
    func recycle(_ chunk: ByteChunk)
}
