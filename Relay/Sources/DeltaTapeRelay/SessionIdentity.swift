import Foundation

/// The session's own id, as its vocabulary gives one in its first messages, for the recording's name (issue 29): a
/// fleet's recordings are found by the id the application logged. Read from the first ``messageLimit`` text messages
/// of either side, with Foundation's parser (a few messages a session: nothing on the forwarding path to speak of).
///
/// - OpenAI Realtime GA, beta, Azure: `session.created` → `session.id` (any `session.*` event with a `session`
///   object holding an `id`, which covers GPT-Live's session events too);
/// - Twilio Media Streams: the `start` event's `streamSid` (top-level, or in `start`);
/// - ElevenLabs: `conversation_initiation_metadata` → `conversation_initiation_metadata_event.conversation_id`;
/// - Gemini Live gives none.
///
/// An id comes from the wire, so it is made safe before it reaches a path or a key (``sanitized(_:)``).
enum SessionIdentity {
    /// How many text messages are looked at before giving up.
    static let messageLimit = 16
    /// The largest message looked at (the messages that carry ids are small).
    static let messageByteLimit = 64 << 10
    /// The longest id put into a name.
    static let idLengthLimit = 48

    /// The id in one message, made safe; nil when it holds none.
    static func id(in message: [UInt8]) -> String? {
        guard message.count <= messageByteLimit, message.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] else { return nil }
        let raw: String?
        if let type = object["type"] as? String, type.hasPrefix("session."), let session = object["session"] as? [String: Any] {
            raw = session["id"] as? String
        } else if object["event"] as? String == "start" {
            raw = object["streamSid"] as? String ?? (object["start"] as? [String: Any])?["streamSid"] as? String
        } else if object["type"] as? String == "conversation_initiation_metadata" {
            raw = (object["conversation_initiation_metadata_event"] as? [String: Any])?["conversation_id"] as? String
        } else {
            raw = nil
        }
        return raw.flatMap(sanitized)
    }

    /// `raw` as a part of a file name or object key: ASCII letters, digits, `_` and `-` kept, every other character
    /// (`/`, `.`, NUL, spaces, anything non-ASCII) made `_`, `_` and `-` trimmed from both ends, at most
    /// ``idLengthLimit`` characters; nil when nothing is left. Never a path separator, never a dot segment.
    static func sanitized(_ raw: String) -> String? {
        let safe = String(raw.unicodeScalars.prefix(idLengthLimit * 4).map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-": Character(scalar)
            default: "_"
            }
        })
        let trimmed = safe.drop { $0 == "_" || $0 == "-" }.prefix(idLengthLimit)
        let result = String(trimmed.reversed().drop { $0 == "_" || $0 == "-" }.reversed())
        return result.isEmpty ? nil : result
    }
}
