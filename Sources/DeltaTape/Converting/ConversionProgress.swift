import Synchronization

/// Where a running conversion stands: bytes read and audio written so far, for a progress display.
///
/// Give one to ``ConversionOptions/progress`` and read it from any thread while the conversion runs (a timer redrawing a
/// progress bar, say). The conversion updates it every 256 KiB of input or so, never per message, so watching costs the
/// conversion nothing measurable; the figures are a recent state, not the exact current one.
public final class ConversionProgress: Sendable {
    private struct State {
        var inputByteCount: Int?
        var frameCount = 0
        var sampleRate = 0
        /// Audio read but not yet written (answers queued to play after the audio before them), as of when the output
        /// had written `queuedAtWrittenSeconds`.
        var queuedSeconds = 0.0
        var queuedAtWrittenSeconds = 0.0

        var writtenSeconds: Double { sampleRate > 0 ? Double(frameCount) / Double(sampleRate) : 0 }
    }

    private let state = Mutex(State())

    /// Creates a progress record with nothing read and nothing written.
    public init() {}

    /// Bytes read from the input so far; `nil` until known, and for an audio file read through libsndfile, whose
    /// reading position is not known.
    public var inputByteCount: Int? { state.withLock { $0.inputByteCount } }

    /// Seconds of audio written so far (of the first output, for separate files).
    public var writtenSeconds: Double {
        state.withLock { $0.writtenSeconds }
    }

    /// Seconds of audio already read but not yet written: the output side's work left beyond the input's (a session's
    /// last answers, queued to play after the audio before them, are written after the input's last byte is read).
    public var pendingSeconds: Double {
        state.withLock { max(0, $0.queuedSeconds - ($0.writtenSeconds - $0.queuedAtWrittenSeconds)) }
    }

    /// Records what the conversion has read and written, and the audio read but not yet written.
    func update(inputByteCount: Int?, frameCount: Int, sampleRate: Int, queuedSeconds: Double = 0) {
        state.withLock {
            $0 = State(inputByteCount: inputByteCount, frameCount: frameCount, sampleRate: sampleRate, queuedSeconds: queuedSeconds)
            $0.queuedAtWrittenSeconds = $0.writtenSeconds
        }
    }

    /// Records what the output has written, the input's figures left as they were (while queued audio is written).
    func updateWritten(frameCount: Int, sampleRate: Int) {
        state.withLock {
            $0.frameCount = max($0.frameCount, frameCount)
            $0.sampleRate = sampleRate
        }
    }

    /// How many input bytes pass between two updates.
    static let updateByteInterval = 256 << 10
}
