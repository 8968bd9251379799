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
    }

    private let state = Mutex(State())

    /// Creates a progress record with nothing read and nothing written.
    public init() {}

    /// Bytes read from the input so far; `nil` until known, and for an audio file read through libsndfile, whose
    /// reading position is not known.
    public var inputByteCount: Int? { state.withLock { $0.inputByteCount } }

    /// Seconds of audio written so far (of the first output, for separate files).
    public var writtenSeconds: Double {
        state.withLock { $0.sampleRate > 0 ? Double($0.frameCount) / Double($0.sampleRate) : 0 }
    }

    /// Records what the conversion has read and written.
    func update(inputByteCount: Int?, frameCount: Int, sampleRate: Int) {
        state.withLock { $0 = State(inputByteCount: inputByteCount, frameCount: frameCount, sampleRate: sampleRate) }
    }

    /// How many input bytes pass between two updates.
    static let updateByteInterval = 256 << 10
}
