public import DeltaTapeKernels

/// Reads realtime messages one at a time: validates each, recognizes audio, and keeps the session's
/// audio formats current as configuration messages go by.
///
/// Vocabularies are recognized from the messages themselves: OpenAI Realtime GA and beta (also Azure), OpenAI
/// GPT-Live, Twilio Media Streams and ElevenLabs Agents today; the reader is where further vocabularies plug in.
public struct EventReader: Sendable {
    private var scanner = JSONScanner()

    /// The vocabulary recognized so far (from the first message whose name belongs to one only).
    public private(set) var vocabulary: Vocabulary?
    /// The assistant's output format from the latest session configuration.
    public private(set) var outputFormat: AudioFormat = .openAIPCM16
    /// The user's input format from the latest session configuration.
    public private(set) var inputFormat: AudioFormat = .openAIPCM16
    /// Every distinct format configured or used during the session, in order of first appearance.
    public private(set) var formatsSeen: [AudioFormat] = []
    /// Output formats that individual responses asked for, by response id.
    private var responseOutputFormats: [String: AudioFormat] = [:]
    /// ElevenLabs formats from `conversation_initiation_metadata` (PCM16 16 kHz until it says otherwise).
    private var elevenLabsOutputFormat = AudioFormat(encoding: .pcm16, sampleRate: 16_000)
    private var elevenLabsInputFormat = AudioFormat(encoding: .pcm16, sampleRate: 16_000)

    /// Creates a reader for one session.
    public init() {}

    /// Reads one message.
    ///
    /// - Parameter message: The message's bytes (one JSON object; surrounding whitespace allowed).
    /// - Returns: The event, pointing into `message`.
    /// - Throws: ``EventReadError`` when the message is not a valid JSON object.
    public mutating func read(_ message: UnsafeRawBufferPointer) throws(EventReadError) -> Event {
        do {
            try scanner.scanObject(message)
        } catch {
            throw .json(error)
        }
        var object = JSONObjectView(text: message, members: scanner.members)
        var typeMember = object.member("type")
        // The logging envelope {"time": ..., "source": "client" | "server", "event": {...}} wraps the message.
        if typeMember == nil, let wrapped = object.object("event") {
            object = wrapped
            typeMember = object.member("type")
        }
        guard let typeMember, typeMember.kind == .string else {
            return readUntyped(object)
        }
        let type = typeMember.value
        // The audio path first: it is nearly every message of a session. A type spelled with escapes
        // ("response.output\u005faudio.delta") is still that type.
        let name = typeMember.valueHasEscapes
            ? JSONString.unescaped(message, type).withUnsafeBytes { OpenAIName($0, 0..<$0.count) }
            : OpenAIName(message, type)
        if let name {
            noteVocabulary(name.vocabulary)
            switch name {
            case .outputAudioDelta, .betaAudioDelta:
                if let delta = assistantDelta(object) {
                    return Event(message: message, typeRange: type, content: .audio(delta))
                }
            case .inputAudioAppend:
                if let payload = object.member("audio"), payload.kind == .string {
                    let delta = AudioDelta(track: .user, format: inputFormat, payload: payload.value,
                                           payloadHasEscapes: payload.valueHasEscapes, responseID: nil, itemID: nil, contentIndex: 0)
                    return Event(message: message, typeRange: type, content: .audio(delta))
                }
            case .sessionCreated, .sessionUpdated:
                applySessionConfiguration(object)
            case .responseCreated:
                applyResponseConfiguration(object)
            case .gaOnly, .betaOnly:
                break
            }
        } else if let event = readOtherTyped(object, type: type) {
            return event
        }
        return Event(message: message, typeRange: type, content: .other)
    }

    // MARK: - Twilio, ElevenLabs, GPT-Live

    /// Messages without a string `type`: Twilio Media Streams (`event`), ElevenLabs' `user_audio_chunk`.
    private mutating func readUntyped(_ object: JSONObjectView) -> Event {
        let message = object.text
        if let event = object.member("event"), event.kind == .string {
            noteVocabulary(.twilio)
            if bytesEqual(message, event.value, "media"), let media = object.object("media"),
               let payload = media.member("payload"), payload.kind == .string
            {
                // Outbound is what the bridge sent to the caller: the assistant. Inbound is the caller.
                let outbound = media.stringEquals("track", "outbound")
                let delta = AudioDelta(track: outbound ? .assistant : .user, format: .mulaw8k, payload: payload.value,
                                       payloadHasEscapes: payload.valueHasEscapes, responseID: nil,
                                       itemID: media.member("track").map(\.value), contentIndex: 0)
                return Event(message: message, typeRange: event.value, content: .audio(delta))
            }
            if bytesEqual(message, event.value, "start") { noteFormat(.mulaw8k) }
            return Event(message: message, typeRange: event.value, content: .other)
        }
        if let chunk = object.member("user_audio_chunk"), chunk.kind == .string {
            noteVocabulary(.elevenLabs)
            let delta = AudioDelta(track: .user, format: elevenLabsInputFormat, payload: chunk.value,
                                   payloadHasEscapes: chunk.valueHasEscapes, responseID: nil, itemID: nil, contentIndex: 0)
            return Event(message: message, typeRange: chunk.key, content: .audio(delta))
        }
        return Event(message: message, typeRange: nil, content: .other)
    }

    /// Typed messages of GPT-Live and ElevenLabs.
    private mutating func readOtherTyped(_ object: JSONObjectView, type: Range<Int>) -> Event? {
        let message = object.text
        if bytesEqual(message, type, "session.output_audio.delta") || bytesEqual(message, type, "session.input_audio.append") {
            noteVocabulary(.openAIGPTLive)
            let isOutput = bytesEqual(message, type, "session.output_audio.delta")
            guard let payload = object.member(isOutput ? "delta" : "audio"), payload.kind == .string else { return nil }
            // Reflected sideband audio is always mono PCM16 at 24 kHz.
            noteFormat(.openAIPCM16)
            let delta = AudioDelta(track: isOutput ? .assistant : .user, format: .openAIPCM16, payload: payload.value,
                                   payloadHasEscapes: payload.valueHasEscapes, responseID: nil, itemID: nil, contentIndex: 0)
            return Event(message: message, typeRange: type, content: .audio(delta))
        }
        if bytesEqual(message, type, "audio"), let audio = object.object("audio_event"),
           let payload = audio.member("audio_base_64"), payload.kind == .string
        {
            noteVocabulary(.elevenLabs)
            let delta = AudioDelta(track: .assistant, format: elevenLabsOutputFormat, payload: payload.value,
                                   payloadHasEscapes: payload.valueHasEscapes, responseID: nil, itemID: nil, contentIndex: 0)
            return Event(message: message, typeRange: type, content: .audio(delta))
        }
        if bytesEqual(message, type, "conversation_initiation_metadata"),
           let metadata = object.object("conversation_initiation_metadata_event")
        {
            noteVocabulary(.elevenLabs)
            if let name = metadata.string("agent_output_audio_format"), let format = Self.elevenLabsFormat(name) {
                elevenLabsOutputFormat = format
                noteFormat(format)
            }
            if let name = metadata.string("user_input_audio_format"), let format = Self.elevenLabsFormat(name) {
                elevenLabsInputFormat = format
                noteFormat(format)
            }
        }
        return nil
    }

    /// ElevenLabs format names: `pcm_16000`, `pcm_24000`, ..., `ulaw_8000`.
    static func elevenLabsFormat(_ name: String) -> AudioFormat? {
        let parts = name.split(separator: "_")
        guard parts.count == 2, let rate = Int(parts[1]), (1_000...384_000).contains(rate) else { return nil }
        switch parts[0] {
        case "pcm": return AudioFormat(encoding: .pcm16, sampleRate: rate)
        case "ulaw": return AudioFormat(encoding: .mulaw, sampleRate: rate)
        case "alaw": return AudioFormat(encoding: .alaw, sampleRate: rate)
        default: return nil
        }
    }

    // MARK: - OpenAI Realtime

    private func assistantDelta(_ object: JSONObjectView) -> AudioDelta? {
        guard let payload = object.member("delta"), payload.kind == .string else { return nil }
        let responseID = object.member("response_id").flatMap { $0.kind == .string ? $0.value : nil }
        var format = outputFormat
        if let responseID, !responseOutputFormats.isEmpty {
            let id = JSONString.decode(object.text, responseID, hasEscapes: false)
            format = responseOutputFormats[id] ?? format
        }
        return AudioDelta(
            track: .assistant,
            format: format,
            payload: payload.value,
            payloadHasEscapes: payload.valueHasEscapes,
            responseID: responseID,
            itemID: object.member("item_id").flatMap { $0.kind == .string ? $0.value : nil },
            contentIndex: object.integer("content_index") ?? 0
        )
    }

    private mutating func noteVocabulary(_ detected: Vocabulary?) {
        if vocabulary == nil, let detected { vocabulary = detected }
    }

    /// `session.created` / `session.updated`: GA `session.audio.{input,output}.format`, beta `{input,output}_audio_format`.
    private mutating func applySessionConfiguration(_ object: JSONObjectView) {
        guard let session = object.object("session") else { return }
        if let audio = session.object("audio") {
            noteVocabulary(.openAIGA)
            if let format = audio.object("output")?.object("format").flatMap(Self.gaFormat) { setOutputFormat(format) }
            if let format = audio.object("input")?.object("format").flatMap(Self.gaFormat) { setInputFormat(format) }
        }
        if let name = session.string("output_audio_format"), let format = Self.betaFormat(name) {
            noteVocabulary(.openAIBeta)
            setOutputFormat(format)
        }
        if let name = session.string("input_audio_format"), let format = Self.betaFormat(name) {
            noteVocabulary(.openAIBeta)
            setInputFormat(format)
        }
    }

    /// `response.created`: a response may ask for its own output format.
    private mutating func applyResponseConfiguration(_ object: JSONObjectView) {
        guard let response = object.object("response"), let id = response.string("id") else { return }
        var format: AudioFormat?
        if let gaFormat = response.object("audio")?.object("output")?.object("format").flatMap(Self.gaFormat) {
            format = gaFormat
        } else if let name = response.string("output_audio_format") {
            format = Self.betaFormat(name)
        }
        if let format {
            responseOutputFormats[id] = format
            noteFormat(format)
        }
    }

    private mutating func setOutputFormat(_ format: AudioFormat) {
        outputFormat = format
        noteFormat(format)
    }

    private mutating func setInputFormat(_ format: AudioFormat) {
        inputFormat = format
        noteFormat(format)
    }

    private mutating func noteFormat(_ format: AudioFormat) {
        if !formatsSeen.contains(format) { formatsSeen.append(format) }
    }

    /// GA format object: `{"type": "audio/pcm", "rate": 24000}`, `{"type": "audio/pcmu"}`, `{"type": "audio/pcma"}`.
    static func gaFormat(_ format: JSONObjectView) -> AudioFormat? {
        if format.stringEquals("type", "audio/pcm") {
            return AudioFormat(encoding: .pcm16, sampleRate: format.integer("rate") ?? 24_000)
        }
        if format.stringEquals("type", "audio/pcmu") { return .mulaw8k }
        if format.stringEquals("type", "audio/pcma") { return .alaw8k }
        return nil
    }

    /// Beta format name: `pcm16`, `g711_ulaw`, `g711_alaw`.
    static func betaFormat(_ name: String) -> AudioFormat? {
        switch name {
        case "pcm16": .openAIPCM16
        case "g711_ulaw": .mulaw8k
        case "g711_alaw": .alaw8k
        default: nil
        }
    }
}

/// The OpenAI Realtime event names the reader acts on or uses to tell GA from beta.
private enum OpenAIName {
    case outputAudioDelta, betaAudioDelta, inputAudioAppend
    case sessionCreated, sessionUpdated, responseCreated
    case gaOnly, betaOnly

    init?(_ text: UnsafeRawBufferPointer, _ range: Range<Int>) {
        // Ordered by frequency in a session.
        if bytesEqual(text, range, "response.output_audio.delta") { self = .outputAudioDelta; return }
        if bytesEqual(text, range, "response.audio.delta") { self = .betaAudioDelta; return }
        if bytesEqual(text, range, "input_audio_buffer.append") { self = .inputAudioAppend; return }
        if bytesEqual(text, range, "session.created") { self = .sessionCreated; return }
        if bytesEqual(text, range, "session.updated") { self = .sessionUpdated; return }
        if bytesEqual(text, range, "response.created") { self = .responseCreated; return }
        if Self.startsWith(text, range, "response.output_audio") || Self.startsWith(text, range, "response.output_text")
            || bytesEqual(text, range, "conversation.item.added") || bytesEqual(text, range, "conversation.item.done")
        {
            self = .gaOnly
            return
        }
        if Self.startsWith(text, range, "response.audio") || Self.startsWith(text, range, "response.text.") {
            self = .betaOnly
            return
        }
        return nil
    }

    var vocabulary: Vocabulary? {
        switch self {
        case .outputAudioDelta, .gaOnly: .openAIGA
        case .betaAudioDelta, .betaOnly: .openAIBeta
        case .inputAudioAppend, .sessionCreated, .sessionUpdated, .responseCreated: nil
        }
    }

    private static func startsWith(_ text: UnsafeRawBufferPointer, _ range: Range<Int>, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard range.count >= count else { return false }
        return bytesEqual(text, range.lowerBound..<(range.lowerBound + count), prefix)
    }
}
