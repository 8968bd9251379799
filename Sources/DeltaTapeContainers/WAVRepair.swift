// Hand-written rather than libsndfile or sox: both refuse or misread the very files this exists for (libsndfile stops
// at an RF64 data size past the end, sox reads nothing from data size 0), and repair must only touch size fields.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import DeltaTapeKernels

/// Fixes the size fields of a WAV file left unfinished by any writer, in place.
///
/// A writer that never finished leaves sizes that disagree with the file: zero (libsndfile killed before
/// `sf_close`), `0xFFFFFFFF` (ffmpeg's streaming form, and ``WAVWriter``'s to a pipe), or an older count than the
/// audio on disk (a process killed between writing audio and updating its header). Repair walks the chunks up to
/// `data`, takes the data chunk to hold every whole block (frame, for PCM) from its start to the end of the file, and
/// rewrites the RIFF size, the data size and, where present, the `fact` count and the RF64 `ds64` sizes to match.
///
/// Repair never destroys data: it rewrites header size fields in place and nothing else. The file is never
/// truncated; a partial frame at the end (a write cut short) is left outside the data chunk, where readers ignore it.
/// A data chunk followed by further chunks (LIST, id3) that reach the end of the file exactly is taken as finished.
///
/// A RIFF file whose audio has passed 4 GiB becomes RF64 when a `JUNK` chunk of at least 28 bytes comes first
/// (reserved for exactly this, as EBU Tech 3306 describes and ``WAVWriter`` writes); without one it cannot be repaired.
@_spi(Blocks) public enum WAVRepair {
    /// Examines the WAV at `path` and, unless `dryRun`, rewrites its size fields where they disagree with the file.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - dryRun: Only report what would be changed; the file is opened for reading alone.
    /// - Returns: What was found and what was (or, on a dry run, would be) changed.
    /// - Throws: ``RepairError``: the file cannot be read, is not a WAV that can be repaired, or writing fails.
    public static func repair(path: String, dryRun: Bool = false) throws(RepairError) -> WAVRepairReport {
        let reader = try ReadOnlyFile(path: path)
        defer { reader.close() }
        let plan = try plan(reader, path: path)
        guard !plan.changes.isEmpty, !dryRun else {
            return plan.report(applied: false)
        }
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .writeFailed(path: path, reason: "cannot open for writing: \(SystemCall.errorMessage(errno))", code: errno)
        }
        defer { SystemCall.close(descriptor) }
        for change in plan.changes {
            if let code = writeAll(change.bytes, to: descriptor, at: change.offset) {
                throw .writeFailed(path: path, reason: "rewriting the \(change.field) at byte \(change.offset) failed: "
                    + SystemCall.errorMessage(code), code: code)
            }
        }
        guard fsync(descriptor) == 0 else {
            throw .writeFailed(path: path, reason: "saving the new header failed: \(SystemCall.errorMessage(errno))", code: errno)
        }
        return plan.report(applied: true)
    }

    /// Writes `bytes` at `offset` with `pwrite`; returns `errno` on failure.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32, at offset: Int) -> Int32? {
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let count = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += count
            }
            return nil
        }
    }

    // MARK: - The plan (made in WAVRepair+Header.swift)

    /// One header field to rewrite.
    struct Change {
        var field: String
        var offset: Int
        var bytes: [UInt8]
    }

    /// What the header says and what it should say.
    struct Plan {
        var path: String
        var container: String
        var sampleRate: Int
        var channelCount: Int
        var blockByteCount: Int
        var bytesPerSecond: Int
        var dataOffset: Int
        var dataByteCount: Int
        var partialFrameByteCount: Int
        var findings: [String]
        var changes: [Change]

        func report(applied: Bool) -> WAVRepairReport {
            WAVRepairReport(path: path, container: container, sampleRate: sampleRate, channelCount: channelCount,
                            bytesPerFrame: blockByteCount, dataOffset: dataOffset, dataByteCount: dataByteCount,
                            partialFrameByteCount: partialFrameByteCount, findings: findings, changed: applied,
                            editedRanges: changes.map { $0.offset..<($0.offset + $0.bytes.count) })
        }
    }
}

// MARK: - Reading

/// A file opened for reading with `pread`: the header is read where it is, never the whole file.
final class ReadOnlyFile {
    let path: String
    let byteCount: Int
    private var descriptor: Int32

    init(path: String) throws(RepairError) {
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else { throw .unreadable(path: path, reason: "cannot open: \(SystemCall.errorMessage(errno))", code: errno) }
        var status = stat()
        guard fstat(opened, &status) == 0 else {
            let code = errno
            SystemCall.close(opened)
            throw .unreadable(path: path, reason: "cannot read its size: \(SystemCall.errorMessage(code))", code: code)
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            SystemCall.close(opened)
            throw .unreadable(path: path, reason: status.st_mode & S_IFMT == S_IFDIR ? "is a folder, not a file; expected a WAV, Ogg Opus or WebM file" : "is not a regular file; expected a WAV, Ogg Opus or WebM file", code: nil)
        }
        self.path = path
        descriptor = opened
        byteCount = Int(status.st_size)
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file, none past it).
    ///
    /// Counts come from the file (an element's size): never more is allocated than the file holds there (the repair
    /// fuzzer's 0x42819f8642f7a1-byte EBML size asked for 18 PB).
    func bytes(at offset: Int, count requested: Int) throws(RepairError) -> [UInt8] {
        guard offset >= 0, offset < byteCount, requested > 0 else { return [] }
        let count = min(requested, byteCount - offset)
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = result.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if read < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: "reading at byte \(offset) failed: \(SystemCall.errorMessage(errno))", code: errno)
            }
            if read == 0 { break }
            done += read
        }
        return Array(result.prefix(done))
    }

    func close() {
        if descriptor >= 0 { SystemCall.close(descriptor) }
        descriptor = -1
    }
}
