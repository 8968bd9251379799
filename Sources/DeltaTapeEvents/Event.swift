public import DeltaTapeKernels

/// The dialect of realtime events a session speaks.
public enum Vocabulary: String, Sendable, Hashable, CaseIterable {
    /// OpenAI Realtime, GA or beta: only names both share were seen (`input_audio_buffer.append`, `session.update`;
    /// a client-side log, typically).
    case openAI = "openai"
    /// OpenAI Realtime GA names (`response.output_audio.delta`); also Azure OpenAI's `/openai/v1` endpoint.
    case openAIGA = "openai-ga"
    /// OpenAI Realtime beta names (`response.audio.delta`); also Azure's preview API and Azure Voice Live.
    case openAIBeta = "openai-beta"
    /// OpenAI GPT-Live (`session.output_audio.delta`, `session.input_audio.append`).
    case openAIGPTLive = "openai-gpt-live"
    /// Twilio Media Streams (`{"event": "media", "media": {"track", "payload"}}`, mu-law 8 kHz).
    case twilio
    /// ElevenLabs Agents (`audio_event`, `user_audio_chunk`).
    case elevenLabs = "elevenlabs"
    /// Google Gemini Live (`serverContent`, `realtimeInput`).
    case geminiLive = "gemini-live"

    /// The vocabulary's name in words.
    public var displayName: String {
        switch self {
        case .openAI: "OpenAI Realtime (GA or beta)"
        case .openAIGA: "OpenAI Realtime GA"
        case .openAIBeta: "OpenAI Realtime beta"
        case .openAIGPTLive: "OpenAI GPT-Live"
        case .twilio: "Twilio Media Streams"
        case .elevenLabs: "ElevenLabs Agents"
        case .geminiLive: "Gemini Live"
        }
    }
}

/// What a message says about the turns of the conversation: where they end, how the session takes them, and an
/// interruption that comes after the message's own audio.
package struct TurnSignals: Sendable, Equatable {
    /// The user's turn ended: the client committed it (`input_audio_buffer.commit`) or sent it whole
    /// (`conversation.item.create` with audio). A client that does this takes its own turns (push-to-talk).
    package var endsUserTurn = false
    /// The assistant's turn ended; its next audio is a new item: Gemini `turnComplete`, ElevenLabs `user_transcript`.
    package var endsAssistantTurn = false
    /// The session's turn detection, when the message configures it: `true` for server VAD (continuous input),
    /// `false` for `turn_detection: null` (the client takes its turns).
    package var turnDetection: Bool?
    /// An interruption carried beside audio in the same message (Gemini `interrupted: true` beside `modelTurn` parts):
    /// it applies after that audio.
    package var interruption: Interruption?
    /// The server's voice activity detection: the user started (`true`) or stopped speaking at this many milliseconds
    /// of the input audio (`input_audio_buffer.speech_started` / `.speech_stopped`).
    package var userSpeech: (started: Bool, milliseconds: Int)?

    /// No signal.
    package init() {}

    package static func == (lhs: TurnSignals, rhs: TurnSignals) -> Bool {
        lhs.endsUserTurn == rhs.endsUserTurn && lhs.endsAssistantTurn == rhs.endsAssistantTurn
            && lhs.turnDetection == rhs.turnDetection && lhs.interruption == rhs.interruption
            && lhs.userSpeech?.started == rhs.userSpeech?.started && lhs.userSpeech?.milliseconds == rhs.userSpeech?.milliseconds
    }
}

/// Which side of the conversation audio belongs to.
public enum AudioTrack: String, Sendable, Hashable, CaseIterable {
    /// The model's output.
    case assistant
    /// The input audio the client sent.
    case user
}

/// One message read from a session: its type and, for audio messages, where the audio is.
///
/// An event points into the message's bytes and is valid only while they are.
///
/// A building block, as ``EventReader`` is (`@_spi(Blocks)`).
@_spi(Blocks) public struct Event {
    /// The message's bytes.
    package let message: UnsafeRawBufferPointer
    /// Byte range of the message's `type` string, when it has one.
    @_spi(Blocks) public let typeRange: Range<Int>?
    /// What the message means for the recording.
    package let content: Content

    /// When the message was logged, in seconds since the Unix epoch: the envelope's `time` (`{"time": ..., "source": ...,
    /// "event": {...}}`, a number of seconds or an ISO 8601 string), or the HAR frame's `time`; `nil` when unknown.
    package var time: Double?

    /// A note on the message for the reader's caller to pass on: an audio format it names that is not understood,
    /// audio skipped for that reason. The message was still read.
    package var warning: String?

    /// What the message says about turns, for the timeline (applied after the message's audio).
    package var turns = TurnSignals()

    /// What a message means for the recording.
    package enum Content {
        /// A chunk of audio.
        case audio(AudioDelta)
        /// Several chunks of audio in one message, in order: Gemini's `parts`, a conversation item's
        /// `input_audio` parts.
        case audioParts([AudioDelta])
        /// An audio stream is complete (`response.output_audio.done`, beta `response.audio.done`); deltas
        /// may still arrive after it.
        case audioDone(AudioStreamReference)
        /// The listener stopped hearing an item at a known point (`conversation.item.truncated`, `.truncate`).
        case truncation(Truncation)
        /// The assistant was interrupted without a position: Gemini's `interrupted`, ElevenLabs' `interruption`.
        case interruption(Interruption)
        /// Any other message (lifecycle, transcripts, configuration already applied by the reader).
        case other
    }

    /// Creates an event.
    package init(message: UnsafeRawBufferPointer, typeRange: Range<Int>?, content: Content, time: Double? = nil) {
        self.message = message
        self.typeRange = typeRange
        self.content = content
        self.time = time
    }

    /// Calls `body` with each chunk of audio the message carries, in order: none, one, or several parts.
    @_spi(Blocks) public func forEachAudioDelta<Failure: Error>(_ body: (AudioDelta) throws(Failure) -> Void) throws(Failure) {
        switch content {
        case .audio(let delta):
            try body(delta)
        case .audioParts(let deltas):
            for delta in deltas { try body(delta) }
        case .audioDone, .truncation, .interruption, .other:
            break
        }
    }

    /// The message's `type`, decoded and made printable (control characters escaped, at most 100 characters; it
    /// comes from the input and reaches terminals). Allocates: for reports, not for the audio path.
    @_spi(Blocks) public var typeName: String? {
        typeRange.map { JSONString.decode(message, $0, hasEscapes: message[$0].contains(UInt8(ascii: "\\"))).escapingControlCharacters(limit: 100) }
    }
}

/// A chunk of audio inside a message: where its base64 payload is, which stream it belongs to, its format.
@_spi(Blocks) public struct AudioDelta {
    /// The side of the conversation.
    public var track: AudioTrack
    /// The format of the decoded payload.
    public var format: AudioFormat
    /// Byte range of the base64 payload (string content, without quotes).
    public var payload: Range<Int>
    /// Whether the payload contains JSON escapes (for example `\/`) that must be resolved before decoding.
    public var payloadHasEscapes: Bool
    /// Byte range of the `response_id` string, when present.
    public var responseID: Range<Int>?
    /// Byte range of the `item_id` string, when present.
    public var itemID: Range<Int>?
    /// The `content_index`, 0 when absent.
    public var contentIndex: Int
    /// Where the chunk starts on the session's clock, in milliseconds, when the message says: GPT-Live
    /// sideband `start_ms`, Twilio `media.timestamp`.
    public var startMilliseconds: Int?
    /// Where the chunk ends (exclusive), in milliseconds, when the message says: GPT-Live sideband `end_ms`.
    public var endMilliseconds: Int?
    /// The message's own sequence number, when it has one: ElevenLabs `audio_event.event_id` (an interruption
    /// discards the audio up to its `event_id`).
    public var eventID: Int?
    /// The vocabulary whose message carried the chunk (``Vocabulary/openAI`` for OpenAI Realtime GA and beta alike):
    /// a bridge's log can hold the same audio in two vocabularies.
    public var vocabulary: Vocabulary

    /// Creates a delta.
    public init(
        track: AudioTrack, format: AudioFormat, payload: Range<Int>, payloadHasEscapes: Bool,
        responseID: Range<Int>? = nil, itemID: Range<Int>? = nil, contentIndex: Int = 0,
        startMilliseconds: Int? = nil, endMilliseconds: Int? = nil, eventID: Int? = nil, vocabulary: Vocabulary = .openAI
    ) {
        self.track = track
        self.format = format
        self.payload = payload
        self.payloadHasEscapes = payloadHasEscapes
        self.responseID = responseID
        self.itemID = itemID
        self.contentIndex = contentIndex
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.eventID = eventID
        self.vocabulary = vocabulary
    }
}

/// Where a message names an assistant audio stream, `(response_id, item_id, content_index)`: byte ranges into the
/// message, valid only while its bytes are. The timeline's `AudioStreamKey` is the same key as owned strings.
package struct AudioStreamReference {
    /// Byte range of the `response_id` string, when present.
    package var responseID: Range<Int>?
    /// Byte range of the `item_id` string, when present.
    package var itemID: Range<Int>?
    /// The `content_index`, 0 when absent.
    package var contentIndex: Int

    /// Creates a reference.
    package init(responseID: Range<Int>?, itemID: Range<Int>?, contentIndex: Int) {
        self.responseID = responseID
        self.itemID = itemID
        self.contentIndex = contentIndex
    }
}

/// `conversation.item.truncated` (or the client's `conversation.item.truncate`): the item's audio was heard up to
/// `audioEndMilliseconds`.
package struct Truncation {
    /// Whether this is the client's request (`conversation.item.truncate`) rather than the server's confirmation.
    package var isRequest: Bool
    /// Byte range of the `item_id` string.
    package var itemID: Range<Int>?
    /// The `content_index`, 0 when absent.
    package var contentIndex: Int
    /// How much of the item's audio the listener heard, in milliseconds from the item's start.
    package var audioEndMilliseconds: Int

    /// Creates a truncation.
    package init(isRequest: Bool, itemID: Range<Int>?, contentIndex: Int, audioEndMilliseconds: Int) {
        self.isRequest = isRequest
        self.itemID = itemID
        self.contentIndex = contentIndex
        self.audioEndMilliseconds = audioEndMilliseconds
    }
}

/// An interruption that gives no position in the audio.
package struct Interruption: Sendable, Equatable {
    /// ElevenLabs' `interruption_event.event_id`: audio events up to this id are discarded. `nil` for Gemini.
    package var eventID: Int?
    /// The vocabulary that sent it (Gemini, ElevenLabs, a Twilio bridge's `clear`).
    package var vocabulary: Vocabulary?

    /// Creates an interruption.
    package init(eventID: Int? = nil, vocabulary: Vocabulary? = nil) {
        self.eventID = eventID
        self.vocabulary = vocabulary
    }
}

/// Why a message could not be read (public for the same reason as ``EventReader``).
@_spi(Blocks) public enum EventReadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message is not valid JSON or not a JSON object.
    case json(JSONScanFailure)
    /// The envelope holds the message in base64 (`event_base64`), and that is not valid base64 or its bytes are not
    /// a JSON object: why.
    case base64Event(String)

    /// The failure in words.
    public var description: String {
        switch self {
        case .json(let failure): failure.description
        case .base64Event(let reason): reason
        }
    }
}
