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
    /// - Throws: ``WAVRepairError``: the file cannot be read, is not a WAV that can be repaired, or writing fails.
    public static func repair(path: String, dryRun: Bool = false) throws(WAVRepairError) -> WAVRepairReport {
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
    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, at offset: Int) -> Int32? {
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

    // MARK: - Reading the header

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
                            partialFrameByteCount: partialFrameByteCount, findings: findings, changed: applied)
        }
    }

    private static let unknownSize: UInt32 = 0xFFFF_FFFF
    private static let ds64PayloadByteCount = 28

    /// Reads the header and works out which fields to rewrite.
    static func plan(_ file: ReadOnlyFile, path: String) throws(WAVRepairError) -> Plan {
        let fileByteCount = file.byteCount
        func refuse(_ reason: String) -> WAVRepairError { .notRepairable(path: path, reason: reason) }
        guard fileByteCount > 0 else { throw refuse("the file is empty") }
        let riff = try file.bytes(at: 0, count: min(12, fileByteCount))
        let magic = String(decoding: riff.prefix(4), as: UTF8.self)
        guard ["RIFF", "RF64", "BW64"].contains(magic) else { throw refuse("it is not a WAV file: " + describeStart(riff)) }
        guard riff.count == 12 else { throw refuse("the file is \(fileByteCount) bytes long, too short for a WAV header (12 bytes at least)") }
        guard riff[8..<12].elementsEqual("WAVE".utf8) else { throw refuse("it is not a WAV file: " + describeStart(riff)) }
        let isRF64 = magic != "RIFF"

        // The chunks up to data: ds64 (RF64), JUNK (room for ds64), fmt, fact.
        var offset = 12
        var format: (tag: Int, channels: Int, rate: Int, bytesPerSecond: Int, blockAlign: Int)?
        var ds64Offset: Int?, junkOffset: Int?, factOffset: Int?
        var data: (offset: Int, size32: UInt32)?
        while data == nil {
            guard offset + 8 <= fileByteCount else {
                throw refuse(format == nil ? "it has no fmt chunk before the end of the file at byte \(fileByteCount)"
                    : "it has no data chunk: the chunks end at byte \(offset) of \(fileByteCount)")
            }
            let header = try file.bytes(at: offset, count: 8)
            let id = String(decoding: header[0..<4], as: UTF8.self)
            let size = Int(littleEndian32(header, 4))
            let body = offset + 8
            switch id {
            case "data":
                guard let format else { throw refuse("its data chunk (at byte \(offset)) comes before any fmt chunk") }
                guard format.blockAlign > 0 else { throw refuse("its fmt chunk gives 0 bytes per frame (block align)") }
                data = (body, UInt32(size))
                continue
            case "fmt ":
                guard size >= 16, body + 16 <= fileByteCount else { throw refuse("its fmt chunk is \(size) bytes, shorter than the 16 a WAV needs") }
                let fields = try file.bytes(at: body, count: 16)
                format = (Int(littleEndian16(fields, 0)), Int(littleEndian16(fields, 2)), Int(littleEndian32(fields, 4)),
                          Int(littleEndian32(fields, 8)), Int(littleEndian16(fields, 12)))
            case "ds64":
                guard size >= ds64PayloadByteCount else { throw refuse("its ds64 chunk is \(size) bytes, shorter than the 28 RF64 needs") }
                ds64Offset = body
            case "JUNK":
                if junkOffset == nil, offset == 12, size >= ds64PayloadByteCount { junkOffset = body }
            case "fact":
                if size >= 4 { factOffset = body }
            default:
                guard isPrintableChunkID(header[0..<4]) else {
                    throw refuse("the bytes at \(offset) are not a chunk (no printable chunk ID) and no data chunk came before them")
                }
            }
            // Chunks are word-aligned: an odd size is followed by a pad byte.
            let next = body + size + (size & 1)
            guard next <= fileByteCount || id == "data" else {
                throw refuse("its \(printable(header[0..<4])) chunk at byte \(offset) claims \(size) bytes, past the end of the file "
                    + "(\(fileByteCount) bytes), and no data chunk came before it")
            }
            offset = next
        }
        guard let format, let data else { throw refuse("it has no data chunk") }
        if isRF64, ds64Offset == nil { throw refuse("it is \(magic) but has no ds64 chunk before its data") }

        // What the header says.
        var declaredRIFF = UInt64(littleEndian32(riff, 4))
        var declaredData = UInt64(data.size32)
        var declaredFrames: UInt64?
        if isRF64, let ds64Offset {
            // In RF64 the ds64 chunk holds the true sizes; the 32-bit fields say "see ds64" (or, below 4 GiB, may agree).
            let ds64 = try file.bytes(at: ds64Offset, count: ds64PayloadByteCount)
            declaredRIFF = littleEndian64(ds64, 0)
            declaredData = littleEndian64(ds64, 8)
            declaredFrames = littleEndian64(ds64, 16)
        }

        // What the file holds: the declared data when it fits and what follows is chunks to the end; otherwise every
        // whole block from the data's start to the end of the file.
        let available = fileByteCount - data.offset
        let block = format.blockAlign
        var dataByteCount: Int, partial = 0, riffEnd: Int
        if declaredData <= UInt64(available),
           case let declared = Int(declaredData), try chunksReachEnd(file, from: data.offset + declared + (declared & 1), fileByteCount: fileByteCount) {
            dataByteCount = declared
            riffEnd = fileByteCount
        } else {
            dataByteCount = available / block * block
            partial = available - dataByteCount
            riffEnd = data.offset + dataByteCount + (dataByteCount & 1 == 1 && partial > 0 ? 1 : 0)
        }
        let riffSize = UInt64(riffEnd - 8)
        let frames = UInt64(dataByteCount / block)
        let seconds = format.bytesPerSecond > 0 ? Double(dataByteCount) / Double(format.bytesPerSecond) : Double(frames) / Double(max(1, format.rate))
        let audio = "\(dataByteCount) bytes (\(formatSeconds(seconds)) of audio)"

        var findings: [String] = []
        var changes: [Change] = []
        func describe(_ value: UInt64) -> String { value == UInt64(unknownSize) ? "0xFFFFFFFF" : "\(value)" }
        func set32(_ field: String, at fieldOffset: Int, to value: UInt32) {
            changes.append(Change(field: field, offset: fieldOffset, bytes: bytes(littleEndian: value)))
        }
        func set64(_ field: String, at fieldOffset: Int, to value: UInt64) {
            changes.append(Change(field: field, offset: fieldOffset, bytes: bytes(littleEndian: value)))
        }
        let dataSizeOffset = data.offset - 4

        // RIFF past 4 GiB: RF64 through the reserved JUNK chunk, or nothing.
        var becomesRF64 = false
        if !isRF64, riffSize >= UInt64(unknownSize) {
            guard let junkOffset else {
                throw refuse("its audio passes 4 GiB (\(dataByteCount) bytes), more than a RIFF header can count, and it has no JUNK chunk "
                    + "first to turn into RF64's ds64")
            }
            becomesRF64 = true
            findings.append("the audio passes 4 GiB: RIFF becomes RF64 and the JUNK chunk at byte \(junkOffset - 8) its ds64 chunk")
            changes.append(Change(field: "RF64 marker", offset: 0, bytes: Array("RF64".utf8)))
            changes.append(Change(field: "ds64 chunk ID", offset: junkOffset - 8, bytes: Array("ds64".utf8)))
            changes.append(Change(field: "ds64 chunk size", offset: junkOffset - 4, bytes: bytes(littleEndian: UInt32(ds64PayloadByteCount))))
            set64("ds64 RIFF size", at: junkOffset, to: riffSize)
            set64("ds64 data size", at: junkOffset + 8, to: UInt64(dataByteCount))
            set64("ds64 sample count", at: junkOffset + 16, to: frames)
            set32("ds64 table length", at: junkOffset + 24, to: 0)
            set32("RIFF size", at: 4, to: unknownSize)
            set32("data size", at: dataSizeOffset, to: unknownSize)
            findings.append("data size was \(describe(declaredData)); set to \(audio)")
        } else if isRF64, let ds64Offset {
            if declaredRIFF != riffSize {
                findings.append("ds64 RIFF size was \(describe(declaredRIFF)); set to \(riffSize) bytes")
                set64("ds64 RIFF size", at: ds64Offset, to: riffSize)
            }
            if declaredData != UInt64(dataByteCount) {
                findings.append("data size was \(describe(declaredData)); set to \(audio)")
                set64("ds64 data size", at: ds64Offset + 8, to: UInt64(dataByteCount))
            }
            if declaredFrames != frames {
                findings.append("ds64 sample count was \(describe(declaredFrames ?? 0)); set to \(frames)")
                set64("ds64 sample count", at: ds64Offset + 16, to: frames)
            }
            // In RF64 the 32-bit fields say "see ds64"; a true value below 4 GiB is allowed too.
            let riff32 = littleEndian32(riff, 4)
            if UInt64(riff32) != riffSize, riff32 != unknownSize {
                findings.append("the 32-bit RIFF size was \(riff32); set to 0xFFFFFFFF (see ds64)")
                set32("RIFF size", at: 4, to: unknownSize)
            }
            if UInt64(data.size32) != UInt64(dataByteCount), data.size32 != unknownSize {
                findings.append("the 32-bit data size was \(data.size32); set to 0xFFFFFFFF (see ds64)")
                set32("data size", at: dataSizeOffset, to: unknownSize)
            }
        } else {
            if declaredRIFF != riffSize {
                findings.append("RIFF size was \(describe(declaredRIFF)); set to \(riffSize) bytes")
                set32("RIFF size", at: 4, to: UInt32(riffSize))
            }
            if declaredData != UInt64(dataByteCount) {
                let relation = declaredData == 0 || declaredData == UInt64(unknownSize) ? ""
                    : declaredData > UInt64(available) ? ", more than the \(available) bytes the file holds after the header"
                    : ", less than the \(available) bytes the file holds after the header"
                findings.append("data size was \(describe(declaredData))\(relation); set to \(audio)")
                set32("data size", at: dataSizeOffset, to: UInt32(dataByteCount))
            }
        }
        if let factOffset, format.tag != 1 {
            let fact = UInt64(littleEndian32(try file.bytes(at: factOffset, count: 4), 0))
            let wanted = frames < UInt64(unknownSize) ? frames : UInt64(unknownSize)
            if fact != wanted {
                findings.append("fact sample count was \(describe(fact)); set to \(describe(wanted))")
                set32("fact sample count", at: factOffset, to: UInt32(wanted))
            }
        }
        if partial > 0 {
            findings.append("the last \(partial) bytes are part of a frame (\(block) bytes each): left in the file, outside the data chunk")
        }
        return Plan(path: path, container: becomesRF64 ? "RF64" : magic, sampleRate: format.rate, channelCount: format.channels,
                    blockByteCount: block, bytesPerSecond: format.bytesPerSecond, dataOffset: data.offset,
                    dataByteCount: dataByteCount, partialFrameByteCount: partial, findings: findings, changes: changes)
    }

    /// Whether the bytes from `offset` to the end of the file are whole chunks with printable IDs (or nothing).
    private static func chunksReachEnd(_ file: ReadOnlyFile, from start: Int, fileByteCount: Int) throws(WAVRepairError) -> Bool {
        var offset = start
        // A lone pad byte after an odd-sized data chunk written without one is fine too.
        if offset == fileByteCount || offset == fileByteCount + 1 { return true }
        while offset + 8 <= fileByteCount {
            let header = try file.bytes(at: offset, count: 8)
            guard isPrintableChunkID(header[0..<4]) else { return false }
            let size = Int(littleEndian32(header, 4))
            offset += 8 + size + (size & 1)
            if offset == fileByteCount || offset == fileByteCount + 1 { return true }
        }
        return false
    }

    /// A four-byte ID as text, bytes outside printable ASCII as `?`.
    private static func printable(_ id: ArraySlice<UInt8>) -> String {
        String(decoding: id.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    private static func isPrintableChunkID(_ id: ArraySlice<UInt8>) -> Bool {
        id.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// Says what a file that is not a WAV starts with, for the refusal.
    private static func describeStart(_ bytes: [UInt8]) -> String {
        if bytes.starts(with: Array("OggS".utf8)) { return "it is an Ogg file (it starts with OggS)" }
        if bytes.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "it is a Matroska or WebM file (it starts with an EBML header)" }
        if bytes.starts(with: Array("fLaC".utf8)) { return "it is a FLAC file" }
        if bytes.starts(with: Array("ID3".utf8)) || bytes.starts(with: [0xFF]) && bytes.count > 1 && bytes[1] & 0xE0 == 0xE0 { return "it is an MP3 file" }
        if let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            return "it looks like JSON text (a session log?), not audio"
        }
        if bytes.starts(with: Array("RIFF".utf8)) {
            return "it is a RIFF file of another kind (\(printable(bytes[8..<12])), not WAVE)"
        }
        let hex = bytes.prefix(4).map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined(separator: " ")
        return "it starts with the bytes \(hex), not RIFF, RF64 or BW64 followed by WAVE"
    }
}

/// What ``WAVRepair/repair(path:dryRun:)`` found in a WAV file and what it changed.
@_spi(Blocks) public struct WAVRepairReport: Sendable, Equatable, CustomStringConvertible {
    /// The file.
    public var path: String
    /// `RIFF`, `RF64` or `BW64`: the container the file is (after the repair, when it became RF64).
    public var container: String
    /// Frames per second, from the fmt chunk.
    public var sampleRate: Int
    /// Channels per frame, from the fmt chunk.
    public var channelCount: Int
    /// Bytes per frame (the fmt chunk's block align).
    public var bytesPerFrame: Int
    /// Where the audio starts in the file.
    public var dataOffset: Int
    /// The data chunk's size now (or after the repair, on a dry run): whole frames only.
    public var dataByteCount: Int
    /// Bytes at the end of the file that do not make a whole frame, left outside the data chunk.
    public var partialFrameByteCount: Int
    /// Each field found wrong, what it was and what it became, in words.
    public var findings: [String]
    /// Whether the file was changed (false on a dry run, or when there was nothing to fix).
    public var changed: Bool

    /// Whole frames in the data chunk.
    public var frameCount: Int { dataByteCount / bytesPerFrame }
    /// Whether any field disagreed with the file.
    public var neededRepair: Bool { findings.contains { !$0.hasPrefix("the last ") } }

    /// Creates a report.
    public init(path: String, container: String, sampleRate: Int, channelCount: Int, bytesPerFrame: Int, dataOffset: Int,
                dataByteCount: Int, partialFrameByteCount: Int, findings: [String], changed: Bool) {
        self.path = path
        self.container = container
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.bytesPerFrame = bytesPerFrame
        self.dataOffset = dataOffset
        self.dataByteCount = dataByteCount
        self.partialFrameByteCount = partialFrameByteCount
        self.findings = findings
        self.changed = changed
    }

    /// One line per finding, or a line saying the sizes already agree with the file.
    public var description: String {
        let seconds = formatSeconds(Double(frameCount) / Double(max(1, sampleRate)))
        guard neededRepair else {
            return (["\(path): nothing to fix: the sizes agree with the file (\(frameCount) frames, \(seconds) at \(sampleRate) Hz)"]
                + findings.map { "\(path): \($0)" }).joined(separator: "\n")
        }
        let verdict = changed ? "repaired" : "would repair (dry run, nothing written)"
        return (findings.map { "\(path): \($0)" }
            + ["\(path): \(verdict): \(frameCount) frames, \(seconds) at \(sampleRate) Hz, \(channelCount) channel(s)"]).joined(separator: "\n")
    }
}

/// Why a WAV could not be repaired.
@_spi(Blocks) public enum WAVRepairError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file cannot be opened or read.
    case unreadable(path: String, reason: String, code: Int32?)
    /// The file is not a WAV whose sizes can be repaired (another format, no fmt or data chunk, a header cut short).
    case notRepairable(path: String, reason: String)
    /// Rewriting the header failed; the fields already rewritten describe the same audio.
    case writeFailed(path: String, reason: String, code: Int32?)

    /// The failure in words, naming the file.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason, _): "\(path): \(reason)"
        case .notRepairable(let path, let reason): "\(path): cannot repair: \(reason)"
        case .writeFailed(let path, let reason, _): "\(path): \(reason)"
        }
    }
}

// MARK: - Reading

/// A file opened for reading with `pread`: the header is read where it is, never the whole file.
final class ReadOnlyFile {
    let path: String
    let byteCount: Int
    private var descriptor: Int32

    init(path: String) throws(WAVRepairError) {
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
            throw .unreadable(path: path, reason: status.st_mode & S_IFMT == S_IFDIR ? "is a folder, not a file" : "is not a regular file", code: nil)
        }
        self.path = path
        descriptor = opened
        byteCount = Int(status.st_size)
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    func bytes(at offset: Int, count: Int) throws(WAVRepairError) -> [UInt8] {
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

private func littleEndian16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
    UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
}

private func littleEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
}

private func littleEndian64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
}

private func bytes<Value: FixedWidthInteger>(littleEndian value: Value) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// Seconds with millisecond precision, `12.345 s`.
private func formatSeconds(_ seconds: Double) -> String {
    let milliseconds = Int((seconds * 1000).rounded())
    let fraction = String(milliseconds % 1000)
    return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction) s"
}
