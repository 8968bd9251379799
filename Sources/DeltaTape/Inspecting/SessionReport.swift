@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeKernels
import DeltaTapeTimeline

/// What a session log holds: the answer to `deltatape inspect`.
public struct SessionReport: Sendable, Codable, Equatable {
    /// The input's name.
    public var input: String
    /// The input's kind (`jsonl`, ...).
    public var kind: String
    /// The vocabulary recognized (`openai-ga`, `openai-beta`, `openai-gpt-live`, `twilio`, `elevenlabs`), if any.
    public var vocabulary: String?
    /// The vocabulary's name in words, if one was recognized.
    public var vocabularyName: String?
    /// Lines in the input, blank ones included.
    public var lineCount: Int
    /// Messages (non-blank lines).
    public var messageCount: Int
    /// How many messages of each `type` the session holds.
    public var eventCounts: [String: Int]
    /// The audio formats configured or used, in words.
    public var formats: [String]
    /// The assistant's audio.
    public var assistant: TrackReport
    /// The user's audio (the input the client sent).
    public var user: TrackReport
    /// Distinct responses that carried assistant audio (counted up to 65 536); `nil` for vocabularies without responses (all
    /// but OpenAI's).
    public var responseCount: Int?
    /// Distinct items that carried assistant audio (counted up to 65 536); `nil` for vocabularies without items (all but
    /// OpenAI's).
    public var itemCount: Int?
    /// Items truncated where the listener stopped hearing them (`conversation.item.truncate` / `.truncated`).
    public var truncationCount: Int
    /// Interruptions without a position (Gemini `interrupted`, ElevenLabs `interruption`).
    public var interruptionCount: Int
    /// Assistant audio deltas that arrived after their stream's `.done` event.
    public var deltasAfterDone: Int
    /// For a HAR: the WebSocket connections found (their messages are read in order as one session).
    public var webSocketConnectionCount: Int?
    /// For a HAR: text or binary frames skipped because they hold no JSON message (another protocol's socket).
    public var nonMessageFrameCount: Int?
    /// The envelope the messages were wrapped in (`{"ts", "direction", "message": {event}}`), `nil` when unwrapped.
    public var wrapper: String?
    /// Malformed lines and undecodable audio, with line numbers: the first few of each kind, then a line saying how
    /// many more there were (so that a log of millions of bad lines gives a readable report in bounded memory).
    public var problems: [Problem]
    /// All problems found, including those not listed one by one in ``problems``.
    public var problemCount: Int
    /// Plain-language notes on what the session is and the traps it falls into, each with a stable code.
    public var diagnoses: [Diagnosis]
    /// For a HAR: elements of `_webSocketMessages` that are not frame objects (`[[frames]]`), skipped.
    public var nonFrameElementCount: Int?
    /// For a HAR: `_webSocketMessages` arrays outside `log.entries[]` (in a request, at `log` level), passed over.
    public var misplacedFrameArrayCount: Int?
    /// Both tracks on the session clock, as `convert --track both` places them.
    public var timeline: TimelineReport

    /// Both tracks on the session clock (docs/TIMELINE.md). Seconds are rounded to the millisecond in JSON.
    public struct TimelineReport: Sendable, Codable, Equatable {
        /// The placement rule: `continuous-input`, `turn-based`, `assistant-only` or `positioned`.
        public var placementRule: String
        /// The rule in words.
        public var placement: String
        /// Whether message times (envelope or HAR) refined the placement.
        public var usedMessageTimes: Bool
        /// Where the assistant track ends on the session clock.
        public var assistantEndSeconds: Double
        /// Where the user track ends on the session clock.
        public var userEndSeconds: Double
        /// Assistant items placed.
        public var assistantItems: Int
        /// User turns (turn-based sessions), 1 for a continuous stream, 0 without user audio.
        public var userTurns: Int
        /// Items cut where the listener stopped hearing them.
        public var cutItems: Int
        /// Seconds of generated audio the cuts removed.
        public var cutSeconds: Double
        /// Items dropped whole (queued behind an interruption, never heard).
        public var droppedItems: Int
        /// Seconds of audio dropped whole (items, and ElevenLabs events after an interruption).
        public var droppedSeconds: Double
        /// Truncations and interruptions that cut nothing (nothing was playing, or the audio was already placed).
        public var interruptionsWithoutEffect: Int
        /// Seconds of assistant audio placed while the server's voice detection heard the user (talking over each other).
        public var overlapSeconds: Double
        /// The vocabulary the assistant track was taken from.
        public var assistantSource: String?
        /// The vocabulary the user track was taken from.
        public var userSource: String?
        /// Audio messages left out because their track takes its audio from another vocabulary (a bridge's log).
        public var otherSourceMessages: Int

        init(_ statistics: TimelineStatistics) {
            let milliseconds = { (seconds: Double) in (seconds * 1000).rounded() / 1000 }
            placementRule = statistics.rule.rawValue
            placement = statistics.rule.explanation
            usedMessageTimes = statistics.usedMessageTimes
            assistantEndSeconds = milliseconds(statistics.assistantEndSeconds)
            userEndSeconds = milliseconds(statistics.userEndSeconds)
            assistantItems = statistics.assistantItemCount
            userTurns = statistics.userTurnCount
            cutItems = statistics.cutItemCount
            cutSeconds = milliseconds(statistics.cutSeconds)
            droppedItems = statistics.droppedItemCount
            droppedSeconds = milliseconds(statistics.droppedSeconds)
            interruptionsWithoutEffect = statistics.interruptionsWithoutEffect
            overlapSeconds = milliseconds(statistics.overlapSeconds)
            assistantSource = statistics.assistantSource?.rawValue
            userSource = statistics.userSource?.rawValue
            otherSourceMessages = statistics.otherSourceChunkCount
        }
    }

    /// One track's audio. In JSON, ``durationSeconds`` is rounded to the millisecond.
    public struct TrackReport: Sendable, Codable, Equatable {
        /// Audio messages.
        public var deltaCount: Int
        /// Decoded payload bytes.
        public var byteCount: Int
        /// Seconds of audio (exact here; rounded to the millisecond in JSON).
        public var durationSeconds: Double
        /// The encoding of the track's first audio (`pcm16`, `mulaw`, `alaw`); `nil` without audio.
        public var encoding: String?
        /// The sample rate of the track's first audio, in Hz; `nil` without audio.
        public var sampleRate: Int?
        /// The channel count of the track's first audio; `nil` without audio.
        public var channelCount: Int?
        /// Every distinct format of the track's audio, in order of first appearance (a session may change formats).
        public var formats: [FormatReport] = []

        /// A track without audio.
        init() {
            deltaCount = 0
            byteCount = 0
            durationSeconds = 0
        }

        /// Counts one audio message.
        mutating func add(byteCount: Int, seconds: Double, format: AudioFormat) {
            deltaCount += 1
            self.byteCount += byteCount
            durationSeconds += seconds
            let described = FormatReport(format)
            // Bounded like the reader's list: a hostile log can change the rate in every message.
            if formats.count < EventReader.maximumFormatsSeen, !formats.contains(described) {
                if formats.isEmpty {
                    encoding = described.encoding
                    sampleRate = described.sampleRate
                    channelCount = described.channelCount
                }
                formats.append(described)
            }
        }

        /// Encodes the report, leaving out what is unknown.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(deltaCount, forKey: .deltaCount)
            try container.encode(byteCount, forKey: .byteCount)
            try container.encode((durationSeconds * 1000).rounded() / 1000, forKey: .durationSeconds)
            try container.encodeIfPresent(encoding, forKey: .encoding)
            try container.encodeIfPresent(sampleRate, forKey: .sampleRate)
            try container.encodeIfPresent(channelCount, forKey: .channelCount)
            try container.encode(formats, forKey: .formats)
        }
    }

    /// An audio format in numbers, for scripts.
    public struct FormatReport: Sendable, Codable, Hashable, CustomStringConvertible {
        /// `pcm16`, `mulaw` or `alaw`.
        public var encoding: String
        /// Frames per second.
        public var sampleRate: Int
        /// Interleaved channels.
        public var channelCount: Int
        /// The format in words, for example `PCM16 24000 Hz mono`.
        public var description: String

        init(_ format: AudioFormat) {
            encoding = format.encoding.rawValue
            sampleRate = format.sampleRate
            channelCount = format.channelCount
            description = format.description
        }
    }
}
