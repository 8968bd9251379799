@_spi(Blocks) import DeltaTape
import DeltaTapeStorage
import Foundation
import Synchronization

/// The recording of one relayed connection: its messages go to a ``SessionRecorder`` without ever holding the relay
/// back. When the recording falls ``RelayConfiguration/recordingBufferBytes`` behind (a slow disk, an encoder that
/// cannot keep up), it is abandoned: finalized with what it holds, said so, and the conversation goes on unrecorded.
final class ConnectionRecording: Sendable {
    /// The recording's file (the first of them, for separate tracks).
    let path: String
    private let recorder: SessionRecorder
    private let files: RecordingFiles
    /// Bytes of messages the recording may fall behind before it is abandoned.
    let bufferBytes: Int
    /// The largest message recorded (larger ones are forwarded, not recorded).
    let messageByteLimit: Int
    private let state = Mutex(State())
    private let ended = OneShot<Ending>()
    /// The session's id, looked for in its first messages (``SessionIdentity``).
    private let identitySearch = Mutex((messagesLeft: SessionIdentity.messageLimit, found: false))

    private struct State {
        var abandoned = false
        var finishing = false
        var failure: String?
        /// The failure was reported when it happened (``take(_:direction:at:)``).
        var failureCounted = false
        /// Messages forwarded but not recorded, by reason.
        var unrecorded: [UnrecordedMessage: Int] = [:]
    }

    /// Starts the recording of connection `number`, begun at `start` (seconds since the epoch): its files are made
    /// at once, under a name of its own (``RecordingFiles``).
    ///
    /// - Throws: Why no file could be made, in words (the session goes on unrecorded).
    init(number: Int, start: Double, configuration: RelayConfiguration, names: RecordingNames = RecordingNames(),
         memoryBudget: RecordingMemoryBudget? = nil, problem: @escaping @Sendable (Problem) -> Void) throws(RecordingFailure) {
        let files = try RecordingFiles(number: number, start: start, configuration: configuration, names: names)
        self.files = files
        path = files.audioPath
        bufferBytes = configuration.recordingBufferBytes
        messageByteLimit = configuration.recordedMessageByteLimit
        let audio: OutputDestination = configuration.recordingSinkForTests.map { .file($0) }
            ?? .custom { track throws(OutputError) in try files.takeAudio(for: track) }
        recorder = SessionRecorder(
            options: configuration.options, name: "connection \(number)", sink: audio,
            watermarks: BufferWatermarks(low: configuration.recordingBufferBytes / 2, high: configuration.recordingBufferBytes),
            memoryBudget: memoryBudget,
            sessionLog: files.hasLog ? .custom { _ throws(OutputError) in try files.takeLog() } : nil,
            // Beside the recording, so that a relay killed mid-session loses nothing it had taken (deltatape repair).
            journal: files.journalPath.map { .made(path: $0, take: { () throws(OutputError) in try files.takeJournal() }) },
            problem: problem)
    }

    /// Bytes of messages waiting for the recording.
    var lagBytes: Int { recorder.statistics.bufferedBytes }

    /// Whether the recording was abandoned.
    var isAbandoned: Bool { state.withLock { $0.abandoned } }

    /// What became of a message handed over.
    enum Taking: Equatable {
        case taken
        /// The relay's recordings hold all of their memory budget: this message is not recorded (the recording goes on).
        case overBudget
        /// This message made the recording fall too far behind: it was abandoned just now.
        case abandoned
        /// The recording failed just now (its sink's write, or a problem under strict reading): the failure in words,
        /// and the `reason` label of `deltatape_relay_recordings_failed_total`.
        case failed(String, reason: String)
    }

    /// How a recording ended, for the relay's counters.
    enum Outcome: Equatable {
        case finished, abandoned, nothingRecorded
        /// Failed; `counted` when ``take(_:direction:at:)`` reported the failure already.
        case failed(reason: String, counted: Bool)
    }

    /// Hands one whole message over, if the recording is still going; never waits, not even for the recorder's lock
    /// (its thread runs at the lowest priority: the recorder keeps what it cannot take at once, in order).
    func take(_ message: [UInt8], direction: MessageDirection, isBinary: Bool = false, at time: Double) -> Taking {
        if !isBinary { lookForTheSessionsID(in: message) }
        let taking = state.withLock { state -> Taking in
            guard !state.abandoned && !state.finishing && state.failure == nil else { return .taken }
            do throws(ConversionError) {
                switch try recorder.offer(message, receivedAt: time, direction: direction, isBinary: isBinary, neverWaiting: true) {
                case .accepted: return .taken
                case .overBudget: return .overBudget
                case .full:
                    state.abandoned = true
                    return .abandoned
                }
            } catch {
                state.failure = error.description
                state.failureCounted = true
                return .failed(error.description, reason: Self.reason(error))
            }
        }
        if taking == .abandoned { Task { _ = await end() } }
        return taking
    }

    /// Gives the recording the session's id when this message, one of the session's first, holds it.
    private func lookForTheSessionsID(in message: [UInt8]) {
        let looks = identitySearch.withLock { search -> Bool in
            guard !search.found, search.messagesLeft > 0 else { return false }
            search.messagesLeft -= 1
            return true
        }
        guard looks, let id = SessionIdentity.id(in: message) else { return }
        identitySearch.withLock { $0.found = true }
        files.adopt(sessionID: id)
    }

    /// Counts a message forwarded but not recorded; returns how many there were for `reason`, this one included.
    func countUnrecorded(_ reason: UnrecordedMessage) -> Int {
        state.withLock { state in
            let count = state.unrecorded[reason, default: 0] + 1
            state.unrecorded[reason] = count
            return count
        }
    }

    /// `, N messages not recorded (…)` for the summary line, or "" when every message was offered to the recording.
    private var unrecordedText: String {
        let counts = state.withLock { $0.unrecorded }
        let total = counts.values.reduce(0, +)
        guard total > 0 else { return "" }
        let parts = UnrecordedMessage.allCases.compactMap { reason in counts[reason].map { "\($0) \(reason.phrase)" } }
        return ", \(total) \(total == 1 ? "message" : "messages") forwarded but not recorded (\(parts.joined(separator: ", ")))"
    }

    /// The `reason` label of a recording's failure.
    static func reason(_ error: ConversionError) -> String {
        if case .output(let output) = error {
            return output.path.hasPrefix(S3Address.scheme) ? "upload_failed" : output.code == ENOSPC ? "disk_full" : "write_failed"
        }
        return "bad_input"
    }

    /// Whether the recording's file is still on disk under its name (a folder removed while it was written takes it).
    /// (An object in the making cannot be taken away locally: its spool is the relay's.)
    private var fileIsOnDisk: Bool { files.isObjectStorage || FileManager.default.fileExists(atPath: path) }

    /// How a recording ended: its summary line, its outcome, the seconds of audio it holds (nil when none was
    /// written, or the recording failed).
    typealias Ending = (line: String, outcome: Outcome, audioSeconds: Double?, key: String)

    /// Finalizes the recording (once; later calls wait for the first) and returns how it ended.
    func end() async -> Ending {
        let first = state.withLock { state -> Bool in
            defer { state.finishing = true }
            return !state.finishing
        }
        guard first else { return await ended.value }
        var line: String
        let outcome: Outcome
        var audioSeconds: Double?
        // Messages the recorder still keeps are handed over by finish(), after those before them.
        let (abandoned, earlierFailure, counted) = state.withLock { ($0.abandoned, $0.failure, $0.failureCounted) }
        let gone = "the file was deleted while it was written (was its folder removed?), so nothing of it is on disk"
        do throws(ConversionError) {
            let summary = try await recorder.finish()
            audioSeconds = summary.durationSeconds
            let audio = "\(Self.seconds(summary.durationSeconds)) s of audio (\(summary.sampleRate) Hz, "
                + "\(summary.channelCount == 1 ? "1 channel" : "\(summary.channelCount) channels"))"
            if !fileIsOnDisk {
                line = "\(summary.output): recording failed: \(audio) were written, but \(gone)"
                audioSeconds = nil
                outcome = .failed(reason: "file_deleted", counted: false)
            } else if abandoned {
                let kept = files.audioWasTaken ? "the \(files.noun) holds the audio up to there" : "no audio had been written, so no \(files.noun) is kept"
                line = "\(summary.output): recording abandoned after \(audio): it fell \(bufferBytes) bytes of messages behind "
                    + "(the disk or the encoder too slow); \(kept); the conversation went on unrecorded"
                outcome = .abandoned
            } else {
                line = "\(summary.output): \(audio), \(summary.inputByteCount) bytes of messages"
                    + (summary.problemCount > 0 ? ", \(summary.problemCount) problems" : "") + unrecordedText
                outcome = .finished
            }
        } catch {
            if case .badInput = error, earlierFailure == nil {
                line = "\(path): nothing recorded: \(error)"
                outcome = .nothingRecorded
            } else {
                let failure = earlierFailure ?? error.description
                let kept = !fileIsOnDisk ? gone
                    : files.isObjectStorage ? "no object was made (the spool keeps what was written: deltatape repair)"
                    : files.audioWasTaken ? "the file holds the audio up to there" : "no audio had been written, so no file is kept"
                line = "\(path): recording failed: \(failure); \(kept)"
                outcome = .failed(reason: fileIsOnDisk ? Self.reason(error) : "file_deleted", counted: counted)
            }
        }
        files.removeUnused()
        // A recording finalized (whole, or abandoned with what it took) stands under its final name now: its lines say it.
        var key = path
        if outcome == .finished || outcome == .abandoned, let renamed = files.finalizeNames() {
            for stem in renamed.from {
                line = line.replacingOccurrences(of: stem, with: renamed.to)
                key = key.replacingOccurrences(of: stem, with: renamed.to)
            }
        }
        ended.set((line, outcome, audioSeconds, key))
        return (line, outcome, audioSeconds, key)
    }

    /// `YYYYMMDDTHHMMSSZ` of a time in UTC.
    static func timestamp(_ seconds: Double) -> String {
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// Seconds with three decimals, rounded down.
    static func seconds(_ value: Double) -> String {
        let milliseconds = Int((value * 1_000).rounded(.down))
        let fraction = String(milliseconds % 1_000)
        return "\(milliseconds / 1_000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
