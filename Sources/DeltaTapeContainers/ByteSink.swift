#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import DeltaTapeKernels

/// Where a container writer's bytes go: a file, a pipe, standard output.
public protocol ByteSink: AnyObject {
    /// A name for messages (a path, or `stdout`).
    var name: String { get }
    /// Bytes written so far: the bytes the sink accepted, which writers count as delivered.
    var byteCount: Int { get }
    /// Appends bytes. A write that fails may have taken some of them first: ``byteCount`` says how many.
    /// - Throws: ``OutputError`` naming the sink and how much was written before the failure.
    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError)
    /// Finishes the sink (closes what it opened).
    func close() throws(OutputError)
}

extension ByteSink {
    /// Appends the bytes of an array.
    /// - Throws: ``OutputError`` naming the sink and how much was written before the failure.
    package func write(_ bytes: [UInt8]) throws(OutputError) {
        // Typed throws do not pass through withUnsafeBytes: carried out as a Result.
        try bytes.withUnsafeBytes { buffer in Result { () throws(OutputError) in try write(buffer) } }.get()
    }
}

/// A sink that can also overwrite bytes already written (a regular file): writers finalize sizes in place.
public protocol PositionalByteSink: ByteSink {
    /// Whether overwriting works here (false for pipes and terminals).
    var isSeekable: Bool { get }
    /// Overwrites bytes at `offset` from the sink's first byte, without moving the append position.
    /// - Throws: ``OutputError`` naming the sink.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(OutputError)
}

/// Bytes written with `write(2)` to a file descriptor (a file it opened, or one it was given).
package final class FileDescriptorSink: PositionalByteSink {
    package let name: String
    package private(set) var byteCount = 0
    private var descriptor: Int32
    private let closesDescriptor: Bool
    /// The descriptor's position when the sink started: offsets count from here, so bytes before it (a file
    /// handed over part-way, `(echo; deltatape …) > f`) are never overwritten.
    private let startOffset: Int

    /// Creates (or replaces) the file at `path`, holding an exclusive advisory lock on it (`flock`) while the sink is
    /// open: a second writer of the same file fails at once instead of interleaving its bytes with the first's.
    ///
    /// A file already there with content is replaced by a new one with the same permissions (when the path is the
    /// file's only name; otherwise, a symbolic or a hard link, it is emptied and written through): emptying a large file
    /// in place cost the conversion its freeing (36 ms for a 1-hour WAV, measured), and ext4 then pushes the whole new
    /// file to the disk when it is closed (62 ms, its guard for files rewritten by truncation); the old file's memory is
    /// freed on a thread of its own.
    ///
    /// - Throws: ``OutputError`` naming the path and the system's reason, or saying that another process is writing
    ///   the file (which is then left as it was).
    package init(path: String) throws(OutputError) {
        // Not O_TRUNC: the file is emptied only once the lock is held, so a refused second writer destroys nothing.
        let opened = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw OutputError(path: path, reason: "cannot open for writing: \(SystemCall.errorMessage(errno))", code: errno)
        }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            SystemCall.close(opened)
            throw OutputError(path: path, reason: code == EWOULDBLOCK
                ? "another process is writing this file (it holds its lock); wait for it to finish or write elsewhere"
                : "cannot lock for writing: \(SystemCall.errorMessage(code))", code: code)
        }
        var status = stat()
        var written = opened
        // Empty already (a file just made): left alone, as ext4 treats any truncation as a rewrite (see above).
        if fstat(opened, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size > 0 {
            if let replacement = try Self.replace(path, opened: opened, status: status) {
                written = replacement
            } else if ftruncate(opened, 0) != 0 {
                let code = errno
                SystemCall.close(opened)
                throw OutputError(path: path, reason: "cannot empty the file for writing: \(SystemCall.errorMessage(code))", code: code)
            }
        }
        name = path
        descriptor = written
        closesDescriptor = true
        startOffset = 0
    }

    /// Replaces the file `opened` (locked) at `path` by a new, locked, empty one with the same permissions, and closes
    /// the old one on a thread of its own; `nil` (nothing changed) where the path is not the file's only name (a
    /// symbolic or a hard link, written through instead) or the folder does not allow it.
    ///
    /// - Throws: When the old file is gone but no new one could be made: another process made one first, or the system
    ///   refused.
    private static func replace(_ path: String, opened: Int32, status: stat) throws(OutputError) -> Int32? {
        var named = stat()
        guard status.st_nlink == 1, lstat(path, &named) == 0, named.st_dev == status.st_dev, named.st_ino == status.st_ino,
              unlink(path) == 0 else { return nil }
        let permissions = status.st_mode & 0o7777
        let made = Self.createExclusively(path, permissions: mode_t(permissions))
        guard made >= 0 else {
            let code = -made
            SystemCall.close(opened)
            throw OutputError(path: path, reason: code == EEXIST
                ? "another process made this file while it was being replaced; wait for it to finish or write elsewhere"
                : "cannot make the file anew for writing: \(SystemCall.errorMessage(code))", code: code)
        }
        _ = fchmod(made, permissions)  // as it was, whatever the umask
        guard flock(made, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            SystemCall.close(made)
            SystemCall.close(opened)
            throw OutputError(path: path, reason: "another process is writing this file (it holds its lock); wait for it to finish or write elsewhere",
                              code: code)
        }
        // Its pages are freed when its last descriptor closes: not on the conversion's path.
        if !startDedicatedThread(named: "deltatape-close", { SystemCall.close(opened) }) { SystemCall.close(opened) }
        return made
    }

    /// Makes a file that did not exist, `O_CREAT | O_EXCL | O_NOFOLLOW`: never one already there, whatever it is (a file,
    /// a symbolic link even to nowhere, a FIFO); returns the descriptor, or minus the errno.
    private static func createExclusively(_ path: String, permissions: mode_t, readable: Bool = false) -> Int32 {
        let made = open(path, (readable ? O_RDWR : O_WRONLY) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
        return made >= 0 ? made : -errno
    }

    /// Makes the file at `path`, which must not exist (a name taken by anything, a link included, is never written
    /// through), mode 0644 less the umask, locked as ``init(path:)`` locks: for writers that pick their own names, such as the relay, whose
    /// folder others may write into.
    ///
    /// - Throws: ``OutputError`` naming the path and the system's reason; its `code` is `EEXIST` when the name is taken.
    /// - Parameters:
    ///   - permissions: The file's mode (0644 by default; a journal of what was said is its owner's alone).
    ///   - readable: Whether the descriptor also reads (``fileDescriptor``, for a reader beside the writer: an upload's
    ///     spool file).
    package init(creatingNew path: String, permissions: Int = 0o644, readable: Bool = false) throws(OutputError) {
        let made = Self.createExclusively(path, permissions: mode_t(permissions), readable: readable)
        guard made >= 0 else {
            throw OutputError(path: path, reason: -made == EEXIST
                ? "the name is taken (by a file, a link or anything else); it is never written through"
                : "cannot make the file: \(SystemCall.errorMessage(-made))", code: -made)
        }
        _ = flock(made, LOCK_EX | LOCK_NB)  // new, so nobody else holds it; taken so that a second writer is refused
        name = path
        descriptor = made
        closesDescriptor = true
        startOffset = 0
    }

    /// Writes to an open descriptor (1 for standard output), which it does not close.
    package init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
        closesDescriptor = false
        startOffset = max(0, Int(lseek(descriptor, 0, SEEK_CUR)))  // -1 for pipes, which never overwrite
    }

    /// Writes to an open descriptor (standard output) that the caller hands over for the whole conversion: when it is a
    /// regular file (`> out.wav`), the sink takes the same exclusive advisory lock as ``init(path:)``, so that two
    /// processes redirected to one file cannot interleave their bytes; pipes and devices are not locked.
    ///
    /// A shell empties a file for `>` before the process starts, so the lock cannot save a second writer's target
    /// from its own shell; it stops the second process from writing into the first's file.
    ///
    /// - Throws: ``OutputError`` saying that another process is writing the file.
    package convenience init(lockingDescriptor descriptor: Int32, name: String) throws(OutputError) {
        var status = stat()
        if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG, flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            throw OutputError(path: name, reason: code == EWOULDBLOCK
                ? "another process is writing this file (it holds its lock); wait for it to finish or write elsewhere"
                : "cannot lock for writing: \(SystemCall.errorMessage(code))", code: code)
        }
        self.init(descriptor: descriptor, name: name)
    }

    deinit {
        if closesDescriptor, descriptor >= 0 { _ = SystemCall.close(descriptor) }
    }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let count = SystemCall.write(descriptor, base + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw OutputError(path: name, reason: SystemCall.errorMessage(errno), code: errno, writtenByteCount: byteCount)
            }
            offset += count
            byteCount += count
        }
    }

    /// The descriptor written to (-1 once closed): for a reader of the same file beside the writer (an upload of the
    /// parts already written, by `pread`).
    package var fileDescriptor: Int32 { descriptor }

    /// True for a regular file not opened for appending: on Linux `pwrite` to an `O_APPEND` descriptor (`>>`)
    /// appends whatever the offset, so such a file is written as a stream.
    package var isSeekable: Bool {
        var status = stat()
        return fstat(descriptor, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && lseek(descriptor, 0, SEEK_CUR) >= 0
            && fcntl(descriptor, F_GETFL) & O_APPEND == 0
    }

    package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(OutputError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, base + done, bytes.count - done, off_t(startOffset + offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw OutputError(path: name, reason: "rewriting at byte \(offset) failed: \(SystemCall.errorMessage(errno))", code: errno)
            }
            done += count
        }
    }

    package func close() throws(OutputError) {
        guard closesDescriptor, descriptor >= 0 else { return }
        let status = SystemCall.close(descriptor)
        descriptor = -1
        if status != 0 {
            throw OutputError(path: name, reason: "closing failed after \(byteCount) bytes: \(SystemCall.errorMessage(errno))", code: errno)
        }
    }
}

/// Files made new, for the project's writers that choose their own names (the relay, whose folder others may write
/// into): a name already taken, by a file, a link or anything else, is never opened.
@_spi(Blocks) public enum NewFile {
    /// Makes the file at `path` (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode `permissions` less the umask), locked while
    /// written.
    ///
    /// - Throws: ``OutputError`` naming the path and the system's reason; its `code` is `EEXIST` when the name is taken.
    public static func sink(creating path: String, permissions: Int = 0o644) throws(OutputError) -> any PositionalByteSink {
        try FileDescriptorSink(creatingNew: path, permissions: permissions)
    }
}
