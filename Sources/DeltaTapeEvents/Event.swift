public import DeltaTapeKernels

/// The dialect of realtime events a session speaks.
public enum Vocabulary: String, Sendable, Hashable, CaseIterable {
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

    /// The vocabulary's name in words.
    public var displayName: String {
        switch self {
        case .openAIGA: "OpenAI Realtime GA"
        case .openAIBeta: "OpenAI Realtime beta"
        case .openAIGPTLive: "OpenAI GPT-Live"
        case .twilio: "Twilio Media Streams"
        case .elevenLabs: "ElevenLabs Agents"
        }
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
public struct Event {
    /// The message's bytes.
    public let message: UnsafeRawBufferPointer
    /// Byte range of the message's `type` string, when it has one.
    public let typeRange: Range<Int>?
    /// What the message means for the recording.
    public let content: Content

    /// What a message means for the recording.
    public enum Content {
        /// A chunk of audio.
        case audio(AudioDelta)
        /// Any other message (lifecycle, transcripts, configuration already applied by the reader).
        case other
    }

    /// The message's `type`, decoded (allocates; for reports, not for the audio path).
    public var typeName: String? {
        typeRange.map { JSONString.decode(message, $0, hasEscapes: message[$0].contains(UInt8(ascii: "\\"))) }
    }
}

/// A chunk of audio inside a message: where its base64 payload is, which stream it belongs to, its format.
public struct AudioDelta {
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
}

/// Why a message could not be read.
public enum EventReadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message is not valid JSON or not a JSON object.
    case json(JSONScanFailure)

    public var description: String {
        switch self {
        case .json(let failure): failure.description
        }
    }
}
