/// What ``WAVRepair/repair(path:dryRun:)`` found in a WAV file and what it changed.
@_spi(Blocks) public struct WAVRepairReport: RepairReport, Equatable {
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
    /// The header fields' byte ranges written (on a dry run: that would be); a WAV repair never cuts the file.
    public var editedRanges: [Range<Int>]

    /// Whole frames in the data chunk.
    public var frameCount: Int { dataByteCount / bytesPerFrame }
    /// Whether any field disagreed with the file.
    public var neededRepair: Bool { findings.contains { !$0.hasPrefix("the last ") } }

    /// Creates a report.
    public init(path: String, container: String, sampleRate: Int, channelCount: Int, bytesPerFrame: Int, dataOffset: Int,
                dataByteCount: Int, partialFrameByteCount: Int, findings: [String], changed: Bool, editedRanges: [Range<Int>] = []) {
        self.editedRanges = editedRanges
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

/// Why a file could not be repaired (a WAV, an Ogg Opus or a WebM file).
@_spi(Blocks) public enum RepairError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file cannot be opened or read.
    case unreadable(path: String, reason: String, code: Int32?)
    /// The file is not one repair can fix: another format, a WAV without fmt or data chunk, an Ogg or WebM file cut
    /// short before any audio, a header cut short.
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

/// Seconds with millisecond precision, `12.345 s`.
func formatSeconds(_ seconds: Double) -> String {
    let milliseconds = Int((seconds * 1000).rounded())
    let fraction = String(milliseconds % 1000)
    return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction) s"
}
