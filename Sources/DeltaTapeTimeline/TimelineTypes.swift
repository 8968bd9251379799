@_spi(Blocks) public import DeltaTapeEvents

/// Which tracks a recording holds.
public enum TrackSelection: String, Sendable, Hashable, CaseIterable {
    /// The assistant's items joined without gaps, cut where interrupted.
    case assistant
    /// The user's audio joined without gaps.
    case user
    /// Both tracks on one session clock.
    case both

    /// The selection of one track.
    package init(_ track: AudioTrack) {
        self = track == .assistant ? .assistant : .user
    }

    /// Whether the selection holds `track`.
    package func includes(_ track: AudioTrack) -> Bool {
        self == .both || track.rawValue == rawValue
    }

    /// The one track selected, when one is.
    package var single: AudioTrack? {
        switch self {
        case .assistant: .assistant
        case .user: .user
        case .both: nil
        }
    }
}

/// How the two tracks of a recording are laid out.
public enum ChannelLayout: String, Sendable, Hashable, CaseIterable {
    /// Two channels: the user left, the assistant right.
    case stereo
    /// One channel: the two tracks summed, saturated to 16 bits.
    case mono
    /// One file per track, both on the same clock and of the same length.
    case separate
}

/// The rule that placed the assistant's audio against the user's (docs/TIMELINE.md).
public enum PlacementRule: String, Sendable, Hashable, CaseIterable {
    /// Server VAD: the user's audio stream is the clock; an assistant item starts where its first delta arrives on it.
    case continuousInput = "continuous-input"
    /// Push-to-talk: user turns and assistant items follow each other.
    case turnBased = "turn-based"
    /// No user audio: assistant items follow each other.
    case assistantOnly = "assistant-only"
    /// The audio carries its own positions (GPT-Live sideband `start_ms`, Twilio `timestamp`).
    case positioned

    /// The rule in words, for reports.
    package var explanation: String {
        switch self {
        case .continuousInput:
            "continuous input: the user's audio is the clock; each assistant item starts where its first delta arrived on it, "
                + "or when the previous item finished"
        case .turnBased: "turn-based input: user turns and assistant items follow each other"
        case .assistantOnly: "no user audio: the assistant's items follow each other"
        case .positioned: "positioned audio: each chunk is placed at the position it carries; gaps are silence"
        }
    }
}

/// Receives the timeline's tracks in clock order: each track's audio and the silences between it.
package protocol TimelineSink: AnyObject {
    /// The error writing fails with.
    associatedtype Failure: Error

    /// Writes samples of `track` at `rate`, after what was written before on that track.
    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int, track: AudioTrack) throws(Failure)
    /// Writes `frameCount` frames of silence on `track` at `rate`.
    func writeSilence(frameCount: Int, rate: Int, track: AudioTrack) throws(Failure)
}

/// Something the timeline noticed that a person should hear about: audio it could not place as the log asked.
package struct TimelineNote: Sendable, Equatable {
    /// The input line it concerns.
    package var line: Int
    /// What happened, in words.
    package var message: String
}

/// What the timeline did with a session: for `inspect` and summaries.
public struct TimelineStatistics: Sendable, Equatable {
    /// The placement rule used.
    public var rule: PlacementRule = .assistantOnly
    /// Whether message times (envelope or HAR) refined the placement.
    public var usedMessageTimes = false
    /// Assistant items placed (a stream resumed after a pause counts again).
    public var assistantItemCount = 0
    /// User turns (turn-based sessions) or 1 for a continuous user stream, 0 without user audio.
    public var userTurnCount = 0
    /// Items cut by a truncation or an interruption.
    public var cutItemCount = 0
    /// Seconds of generated assistant audio the cuts removed.
    public var cutSeconds = 0.0
    /// Items dropped whole: queued behind an interruption, never heard.
    public var droppedItemCount = 0
    /// Seconds of audio in dropped items and dropped ElevenLabs events.
    public var droppedSeconds = 0.0
    /// Interruptions that cut nothing (nothing was playing, or the truncation came after the audio was placed).
    public var interruptionsWithoutEffect = 0
    /// Seconds of assistant audio placed while the server's voice detection heard the user speaking.
    public var overlapSeconds = 0.0
    /// Where each track ends on the session clock, in seconds.
    public var assistantEndSeconds = 0.0
    /// Where the user track ends on the session clock, in seconds.
    public var userEndSeconds = 0.0
    /// The vocabulary each track's audio was taken from.
    public var assistantSource: Vocabulary?
    /// The vocabulary the user track's audio was taken from.
    public var userSource: Vocabulary?
    /// Audio messages left out because their track takes its audio from another vocabulary (a bridge's log).
    public var otherSourceChunkCount = 0
}
