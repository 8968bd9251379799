// Repair by content: the first bytes say which container a file is (never its name), and each container's repair
// makes its plan (the edits in order) from the file as it lies; one routine applies a plan.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import DeltaTapeKernels

/// What a repair found in a file and what it changed: ``WAVRepairReport`` or ``StreamRepairReport``.
@_spi(Blocks) public protocol RepairReport: Sendable, CustomStringConvertible {
    /// The file.
    var path: String { get }
    /// Whether anything disagreed with a finished file.
    var neededRepair: Bool { get }
    /// Whether the file was changed (false on a dry run, or when there was nothing to fix).
    var changed: Bool { get }
    /// The byte ranges the repair wrote (on a dry run: would write), in the file as it is after the repair; a file cut
    /// shorter shows in its length, not here. A copy of the file kept elsewhere (the parts of an upload) differs from
    /// the repaired file in these ranges and past the new end only.
    var editedRanges: [Range<Int>] { get }
}

/// Repairs a recording left unfinished by a killed process, picking the container by the file's first bytes: WAV
/// (``WAVRepair``: the header's sizes), Ogg Opus (torn tail dropped, end of stream marked) or WebM (sizes, Duration,
/// Cues and SeekHead written, a torn tail dropped).
@_spi(Blocks) public enum Repair {
    /// Examines the file at `path` and, unless `dryRun`, repairs it in place.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - dryRun: Only report what would be changed; the file is opened for reading alone.
    /// - Returns: What was found and what was (or, on a dry run, would be) changed.
    /// - Throws: ``RepairError``: the file cannot be read, is none of the formats repair knows or has nothing to keep, or
    ///   writing fails.
    public static func repair(path: String, dryRun: Bool = false) throws(RepairError) -> any RepairReport {
        let start: [UInt8]
        do {
            let file = try ReadOnlyFile(path: path)
            defer { file.close() }
            guard file.byteCount > 0 else { throw RepairError.notRepairable(path: path, reason: "the file is empty") }
            start = try file.bytes(at: 0, count: min(16, file.byteCount))
        }
        if start.starts(with: Array("OggS".utf8)) { return try OggOpusRepair.repair(path: path, dryRun: dryRun) }
        if start.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return try WebMRepair.repair(path: path, dryRun: dryRun) }
        if ["RIFF", "RF64", "BW64"].contains(where: { start.starts(with: Array($0.utf8)) }) {
            return try WAVRepair.repair(path: path, dryRun: dryRun)
        }
        throw .notRepairable(path: path, reason: "it is not a WAV, Ogg Opus or WebM file: " + WAVRepair.describeStart(start))
    }

    /// Runs a stream container's `plan` on the file at `path` and applies its steps unless `dryRun`.
    static func repair(path: String, dryRun: Bool,
                       plan: (ReadOnlyFile) throws(RepairError) -> (StreamRepairReport, [Step])) throws(RepairError) -> StreamRepairReport {
        let file = try ReadOnlyFile(path: path)
        defer { file.close() }
        var (report, steps) = try plan(file)
        report.editedRanges = steps.compactMap { step in
            guard case .write(_, let offset, let bytes) = step else { return nil }
            return offset..<(offset + bytes.count)
        }
        guard !steps.isEmpty, !dryRun else { return report }
        try apply(steps, to: path)
        report.changed = true
        return report
    }

    /// One step of a plan: bytes written at an offset, or the file cut to a length.
    enum Step {
        case write(field: String, offset: Int, bytes: [UInt8])
        case truncate(byteCount: Int)
    }

    /// Applies `steps` in order to the file at `path`, then saves it (fsync).
    static func apply(_ steps: [Step], to path: String) throws(RepairError) {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .writeFailed(path: path, reason: "cannot open for writing: \(SystemCall.errorMessage(errno))", code: errno)
        }
        defer { SystemCall.close(descriptor) }
        for step in steps {
            switch step {
            case .write(let field, let offset, let bytes):
                if let code = WAVRepair.writeAll(bytes, to: descriptor, at: offset) {
                    throw .writeFailed(path: path, reason: "writing the \(field) at byte \(offset) failed: \(SystemCall.errorMessage(code))",
                                       code: code)
                }
            case .truncate(let byteCount):
                guard ftruncate(descriptor, off_t(byteCount)) == 0 else {
                    throw .writeFailed(path: path, reason: "cutting the file to \(byteCount) bytes failed: \(SystemCall.errorMessage(errno))",
                                       code: errno)
                }
            }
        }
        guard fsync(descriptor) == 0 else {
            throw .writeFailed(path: path, reason: "saving the repair failed: \(SystemCall.errorMessage(errno))", code: errno)
        }
    }
}

/// What the repair of an Ogg Opus or WebM file found and kept.
@_spi(Blocks) public struct StreamRepairReport: RepairReport, Equatable {
    /// The file.
    public var path: String
    /// `Ogg Opus` or `WebM`.
    public var format: String
    /// Seconds of audio the file holds (after the repair, on a dry run): what readers decode past the pre-skip.
    public var keptSeconds: Double
    /// The file's length (after the repair, on a dry run).
    public var keptByteCount: Int
    /// Bytes cut from the end (a page or element cut short, garbage, pages that end no packet).
    public var droppedByteCount: Int
    /// Each thing found wrong and what was (or would be) done about it, in words.
    public var findings: [String]
    /// Whether the file was changed (false on a dry run, or when there was nothing to fix).
    public var changed: Bool
    /// The byte ranges written (on a dry run: that would be), in the file as it is after the repair.
    public var editedRanges: [Range<Int>]

    /// Whether anything disagreed with a finished file.
    public var neededRepair: Bool { !findings.isEmpty }

    /// Creates a report.
    public init(path: String, format: String, keptSeconds: Double, keptByteCount: Int, droppedByteCount: Int, findings: [String],
                changed: Bool, editedRanges: [Range<Int>] = []) {
        self.editedRanges = editedRanges
        self.path = path
        self.format = format
        self.keptSeconds = keptSeconds
        self.keptByteCount = keptByteCount
        self.droppedByteCount = droppedByteCount
        self.findings = findings
        self.changed = changed
    }

    /// One line per finding and a verdict, or a line saying the file is finished.
    public var description: String {
        let kept = "\(formatSeconds(keptSeconds)) of audio in \(keptByteCount) bytes"
        guard neededRepair else { return "\(path): nothing to fix: a finished \(format) file (\(kept))" }
        let verdict = changed ? "repaired" : "would repair (dry run, nothing written)"
        let dropped = droppedByteCount > 0 ? "; \(droppedByteCount) bytes dropped from the end" : ""
        return (findings.map { "\(path): \($0)" } + ["\(path): \(verdict): \(format), \(kept)\(dropped)"]).joined(separator: "\n")
    }
}
