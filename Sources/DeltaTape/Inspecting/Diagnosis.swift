@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeKernels

/// A plain-language note on a session: what it is, or a trap it falls into. The code is stable, for scripts; the
/// message is for people and may be reworded.
public struct Diagnosis: Sendable, Codable, Equatable, CustomStringConvertible {
    /// A stable identifier, for example `webrtc-data-channel` (the README lists them all).
    public var code: String
    /// The note in words.
    public var message: String

    /// Creates a diagnosis.
    package init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The note in words (its ``message``).
    public var description: String { message }
}

/// Why a session holds no audio of a track, in the cases that can be told apart: shared by `inspect`'s report and
/// `convert`'s failure, so that both say the same.
enum NoAudioDiagnosis {
    /// - Parameters:
    ///   - track: The track without audio.
    ///   - harWithoutFrames: For a HAR in which no WebSocket frame was found, why (`nil` otherwise).
    ///   - eventCounts: Messages by type (`(no type)` for messages without one).
    ///   - reader: The reader, after the whole session.
    ///   - otherTrackDeltaCount: Audio messages of the other track.
    static func diagnose(track: AudioTrack, harWithoutFrames: String?, eventCounts counts: [String: Int], reader: EventReader,
                         otherTrackDeltaCount: Int) -> [Diagnosis] {
        let has = { (names: [String]) in names.contains { counts[$0, default: 0] > 0 } }
        // output_audio_buffer.* exist only on WebRTC and SIP connections; transcripts exist everywhere.
        let webRTCSigns = ["output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared"]
        let transcripts = ["response.output_audio_transcript.delta", "response.output_audio_transcript.done",
                           "response.audio_transcript.delta", "response.audio_transcript.done"]
        let messageCount = counts.values.reduce(0, +)
        var notes: [Diagnosis] = []
        if let explanation = harWithoutFrames {
            notes.append(Diagnosis(code: "har-without-frames", message: explanation.prefix(1).uppercased() + explanation.dropFirst() + "."))
        } else if track == .assistant, has(webRTCSigns) {
            notes.append(Diagnosis(code: "webrtc-data-channel", message:
                "This is a WebRTC (or SIP) data-channel log: it has output_audio_buffer events and transcripts but no audio "
                + "deltas, because on WebRTC the audio travels on the media track, not on the data channel. Record the remote media "
                + "track, or attach a server-side sideband connection (GPT-Live's /attach reflects both sides' audio) and log that."))
        } else if track == .assistant, reader.sawTextOnlyOutput {
            notes.append(Diagnosis(code: "text-only-output", message:
                "The session (or its responses) asked for text output only (output_modalities / modalities without \"audio\"), "
                + "so the model sent no audio."))
        } else if track == .assistant, has(transcripts) {
            notes.append(Diagnosis(code: "transcripts-without-audio", message:
                "The session has audio transcripts but no audio deltas: either the log comes from a WebRTC data channel "
                + "(the audio travelled on the media track), or the logger left the audio deltas out."))
        } else if reader.vocabulary == nil, reader.envelope == nil, messageCount > 0, counts["(no type)", default: 0] * 2 >= messageCount {
            notes.append(Diagnosis(code: "wrapper-not-recognized", message:
                "Most messages have no type and none of a known vocabulary's fields: a logger may have wrapped each event in an "
                + "envelope whose event field is not event, message, data or payload; name it with --event-field NAME."))
        } else {
            notes.append(Diagnosis(code: "no-\(track.rawValue)-audio", message: "The session holds no \(track.rawValue) audio messages."))
        }
        if otherTrackDeltaCount > 0 {
            let other: AudioTrack = track == .assistant ? .user : .assistant
            let messages = otherTrackDeltaCount == 1 ? "1 audio message" : "\(otherTrackDeltaCount) audio messages"
            notes.append(Diagnosis(code: "other-track-has-audio", message:
                "It does hold the \(other.rawValue)'s audio (\(messages)): 'deltatape convert --track \(other.rawValue)' writes it."))
        }
        return notes
    }
}
