// What `convert` writes to standard error: warnings, summaries and errors, one line each, and, when standard error is
// a terminal, one progress line redrawn in place under them. Every write goes through here so the two never mix.
@_spi(Blocks) import DeltaTape
import FoundationEssentials
import Glibc
import Synchronization

/// Standard error for a run of conversions: whole lines, and a progress line kept at the bottom while a terminal shows it.
///
/// With several inputs the progress line is one aggregate for the whole run (how many are done, the share of all
/// input bytes read, the audio written per wall-clock second by all of them together, when the run will end), not a line
/// per conversion: redrawing several lines needs cursor movement that a warning scrolling the screen or a line wrapping
/// in a narrow window throws off, and the question a waiting user asks is when the run ends; each input's outcome is
/// its summary line.
final class ProgressDisplay: Sendable {
    private struct Job {
        /// The input's size, when it is a regular file.
        var totalByteCount: Int?
        var progress: ConversionProgress?
        var isDone = false
        /// Audio written, once done.
        var writtenSeconds = 0.0
    }

    private struct State {
        var jobs: [Job]
        /// Whether the progress line is on screen (then the cursor is at its end).
        var isLineShown = false
    }

    /// Whether a progress line is drawn at all.
    let showsProgress: Bool
    private let state: Mutex<State>
    private let started = ContinuousClock.now

    /// A display for conversions of `inputs` (`-` is standard input).
    ///
    /// - Parameter showsProgress: Whether to draw the progress line: standard error is a terminal and the user did not ask
    ///   for quiet.
    init(inputs: [String], showsProgress: Bool) {
        self.showsProgress = showsProgress
        let jobs = inputs.map { Job(totalByteCount: showsProgress ? regularFileByteCount($0) : nil) }
        state = Mutex(State(jobs: jobs))
    }

    /// Whether standard error is a terminal, where a progress line redrawn in place makes sense.
    static var standardErrorIsTerminal: Bool { isatty(2) != 0 }

    /// Notes that conversion `index` starts, and returns where it should report its progress (`nil` without a progress line).
    func begin(_ index: Int) -> ConversionProgress? {
        guard showsProgress else { return nil }
        let progress = ConversionProgress()
        state.withLock { $0.jobs[index].progress = progress }
        return progress
    }

    /// Notes that conversion `index` ended, having written `writtenSeconds` of audio (`nil`: as far as its progress said).
    func end(_ index: Int, writtenSeconds: Double?) {
        state.withLock { state in
            state.jobs[index].writtenSeconds = writtenSeconds ?? state.jobs[index].progress?.writtenSeconds ?? 0
            state.jobs[index].isDone = true
            state.jobs[index].progress = nil
        }
    }

    /// Writes `text` as one line, control characters escaped (it carries names from the input), above the progress line.
    func printLine(_ text: String) {
        let line = text.escapingControlCharacters(limit: 4_000) + "\n"
        state.withLock { state in
            writeToStandardError((state.isLineShown ? Self.clearLine : "") + line)
            state.isLineShown = false
        }
    }

    /// Draws the progress line again with the latest figures.
    func redraw() {
        guard showsProgress else { return }
        state.withLock { state in
            // Once every conversion has ended its summary is the last line: nothing is drawn under it.
            guard !state.jobs.allSatisfy(\.isDone) else { return }
            var line = Self.describe(state.jobs, elapsedSeconds: (ContinuousClock.now - started).seconds)
            // A line longer than the terminal wraps, and `\r` returns only to the start of its last row.
            let width = terminalWidth()
            if width > 1, line.count > width - 1 { line = String(line.prefix(width - 1)) }
            writeToStandardError("\r" + line + "\u{1B}[K")
            state.isLineShown = true
        }
    }

    /// Clears the progress line, leaving the cursor at the start of an empty line.
    func clear() {
        state.withLock { state in
            if state.isLineShown { writeToStandardError(Self.clearLine) }
            state.isLineShown = false
        }
    }

    /// Redraws the progress line about ten times a second until the task is cancelled, then clears it.
    func run() async {
        guard showsProgress else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            if !Task.isCancelled { redraw() }
        }
        clear()
    }

    /// Back to the line's start, and erase it (ANSI EL, which every terminal emulator in use knows).
    private static let clearLine = "\r\u{1B}[K"

    /// `2/8 done · 42% of 1.2 GB · 1:02:05 of audio · 350× real time · ETA 0:03`; without known sizes,
    /// `12.6 MB read` and no percent or ETA. The ETA counts the input left and the audio read but not yet written.
    private static func describe(_ jobs: [Job], elapsedSeconds: Double) -> String {
        var readByteCount = 0, audioSeconds = 0.0, pendingSeconds = 0.0
        for job in jobs {
            if job.isDone {
                readByteCount += job.totalByteCount ?? 0
                audioSeconds += job.writtenSeconds
            } else if let progress = job.progress {
                readByteCount += progress.inputByteCount ?? 0
                audioSeconds += progress.writtenSeconds
                pendingSeconds += progress.pendingSeconds
            }
        }
        var parts: [String] = []
        if jobs.count > 1 { parts.append("\(jobs.count(where: \.isDone))/\(jobs.count) done") }
        let sizes = jobs.compactMap(\.totalByteCount)
        let fraction: Double? = if sizes.count == jobs.count, case let total = sizes.reduce(0, +), total > 0 {
            min(1, Double(readByteCount) / Double(total))
        } else {
            nil
        }
        if let fraction {
            parts.append("\(Int(fraction * 100))% of \(formatBytes(sizes.reduce(0, +)))")
        } else {
            parts.append("\(formatBytes(readByteCount)) read")
        }
        parts.append("\(formatClock(audioSeconds)) of audio")
        if elapsedSeconds > 0 { parts.append("\(Int((audioSeconds / elapsedSeconds).rounded()))× real time") }
        // The time left counts both sides: the input still to read, and the audio read but not yet written (a session's
        // last answers are written after its last byte is read), at the speed audio has been written so far.
        if let fraction, fraction > 0, fraction < 1 || pendingSeconds > 0 {
            let writing = audioSeconds > 0 && elapsedSeconds > 0 ? pendingSeconds / (audioSeconds / elapsedSeconds) : 0
            parts.append("ETA \(formatClock(elapsedSeconds * (1 - fraction) / fraction + writing))")
        }
        return parts.joined(separator: " · ")
    }
}

/// `0:07`, `12:34` or `1:02:03`.
func formatClock(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded(.up))
    let (hours, minutes, remainder) = (whole / 3600, whole / 60 % 60, whole % 60)
    let tail = (remainder < 10 ? "0" : "") + "\(remainder)"
    if hours > 0 { return "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes):" + tail }
    return "\(minutes):" + tail
}

/// `512 B`, `12.6 MB` (decimal units, as file managers show sizes).
func formatBytes(_ count: Int) -> String {
    let units = ["kB", "MB", "GB", "TB"]
    var value = Double(count), unit = "B"
    for next in units where value >= 1000 {
        value /= 1000
        unit = next
    }
    return unit == "B" ? "\(count) B" : "\((value * 10).rounded() / 10) \(unit)"
}

/// The size of a regular file at `path` (`-`: standard input, by `fstat`); `nil` for a pipe, a terminal or a device,
/// whose size says nothing about what will be read.
private func regularFileByteCount(_ path: String) -> Int? {
    var status = stat()
    let found = path == "-" ? fstat(0, &status) == 0 : stat(path, &status) == 0
    guard found, status.st_mode & S_IFMT == S_IFREG else { return nil }
    return Int(status.st_size)
}

/// Columns of the terminal on standard error; 0 when unknown.
private func terminalWidth() -> Int {
    var size = winsize()
    return ioctl(2, UInt(TIOCGWINSZ), &size) == 0 ? Int(size.ws_col) : 0
}

/// Writes all of `text` to descriptor 2, in as few `write` calls as it takes.
func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if written > 0 {
            offset += written
        } else if written < 0, errno == EINTR {
            continue
        } else {
            return  // standard error closed or full: nothing better to do than drop the line
        }
    }
}

extension Duration {
    /// The duration in seconds.
    fileprivate var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
