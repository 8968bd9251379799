// Over 400 lines on purpose: the reader of the OpenAI-family messages and the table of type names it switches on
// (MessageType, private to it) read together; the other vocabularies are in OtherVocabularies.swift.
package import DeltaTapeKernels

/// Reads realtime messages one at a time: validates each, recognizes audio, and keeps the session's
/// audio formats current as configuration messages go by.
///
/// Vocabularies are recognized from the messages themselves: OpenAI Realtime GA and beta (also Azure), OpenAI
/// GPT-Live, Gemini Live, Twilio Media Streams and ElevenLabs Agents (the last four in `OtherVocabularies.swift`).
/// Members are looked up in the object a vocabulary puts them in (the scan that validates a message records every
/// value with its place), so a `delta` key inside a nested object is never mistaken for audio. Messages whose
/// formats or audio are not understood still read, with an ``Event/warning`` saying what was skipped or assumed.
///
/// A building block, not part of the task-level API (`@_spi(Blocks)`: the benchmarks and the fuzzer read with it).
@_spi(Blocks) public struct EventReader: Sendable {
    private var scanner = JSONScanner()

    /// The vocabulary recognized so far: the first whose own names appeared; or, while only names OpenAI's GA and
    /// beta APIs share have appeared, ``Vocabulary/openAI``.
    package var vocabulary: Vocabulary? { confirmedVocabulary ?? provisionalVocabulary }
    private var confirmedVocabulary: Vocabulary?
    private var provisionalVocabulary: Vocabulary?
    /// A note on the message just read that the caller should pass on (an audio format not understood, ...).
    var pendingWarning: String?
    /// What the message just read says about turns.
    var pendingTurns = TurnSignals()
    /// The assistant's output format from the latest session configuration.
    package private(set) var outputFormat: AudioFormat = .openAIPCM16
    /// The user's input format from the latest session configuration.
    package private(set) var inputFormat: AudioFormat = .openAIPCM16
    /// Every distinct format configured or used during the session, in order of first appearance.
    package private(set) var formatsSeen: [AudioFormat] = []
    /// Whether a session configuration or a response asked for output without audio (`output_modalities`, beta
    /// `modalities`, lacking `"audio"`): a session that configured text only has no audio to record.
    package private(set) var sawTextOnlyOutput = false
    /// Output formats that individual responses asked for, by response id.
    private var responseOutputFormats: [String: AudioFormat] = [:]
    /// ElevenLabs formats from `conversation_initiation_metadata` (PCM16 16 kHz until it says otherwise).
    var elevenLabsOutputFormat = AudioFormat(encoding: .pcm16, sampleRate: 16_000)
    var elevenLabsInputFormat = AudioFormat(encoding: .pcm16, sampleRate: 16_000)

    /// The envelope the session's messages were wrapped in, as first seen; `nil` when they were not wrapped.
    package private(set) var envelope: Envelope?
    /// The envelope fields that may hold the event, in the order tried.
    private let eventFields: [[UInt8]]
    private var unwrapBuffer = UnwrapBuffer()
    /// Where a message cut off mid-payload is repaired (see ``readCutOff(_:)``).
    var repairBuffer = UnwrapBuffer()

    /// Creates a reader for one session.
    ///
    /// - Parameter eventField: The envelope's field that holds the event, when a logger names it other than
    ///   ``Envelope/defaultEventFields`` (which are then not tried).
    public init(eventField: String? = nil) {
        eventFields = (eventField.map { [$0] } ?? Envelope.defaultEventFields).map { Array($0.utf8) }
    }

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
        // scanObject has just checked that the value is an object, so the view exists.
        guard var object = JSONObjectView(scanner: scanner, text: message) else { throw .json(.notAnObject(.null)) }
        var typeMember = object.member("type")
        var time: Double?
        var envelopeWarning: String?
        // A logging envelope, {"time": ..., "source": "client" | "server", "event": {...}} or a common spelling of it,
        // wraps the message; the event may be a string holding its JSON. (Twilio's own `event` is a word, not JSON.)
        if typeMember == nil, let (field, member) = object.firstMember(among: eventFields),
           member.kind == .object || object.stringHoldsObject(member) {
            time = readEnvelope(object, eventField: String(decoding: field, as: UTF8.self), eventIsString: member.kind == .string)
            if let wrapped = object.object(in: member) {
                object = wrapped
            } else {
                let text = unwrapBuffer.unescape(message, member.value)
                do {
                    try scanner.scanObject(text)
                    guard let wrapped = JSONObjectView(scanner: scanner, text: text) else { throw JSONScanFailure.notAnObject(.null) }
                    object = wrapped
                } catch {
                    // The message itself is valid JSON: its string only looked like a wrapped event. It is read as it
                    // is, and the warning says why the string was not (a fuzzer found this read as invalid JSON).
                    envelopeWarning = "the '\(String(decoding: field, as: UTF8.self))' string looks like a wrapped event but is not "
                        + "valid JSON (\(error)); the message is read as it is"
                    try? scanner.scanObject(message)
                    if let outer = JSONObjectView(scanner: scanner, text: message) { object = outer }
                }
            }
            typeMember = object.member("type")
        } else if typeMember == nil, let member = object.member("event_base64"), member.kind == .string {
            // A recorder's session log keeps a message a JSON string cannot hold as it is in base64 (a binary frame
            // that is no JSON object, text that is not UTF-8): its bytes are read as the message.
            time = readEnvelope(object, eventField: Envelope.base64EventField, eventIsString: true, eventIsBase64: true)
            guard let bytes = unwrapBuffer.decodeBase64(message, member.value) else {
                throw .base64Event("its \(Envelope.base64EventField) string is not valid base64")
            }
            do {
                try scanner.scanObject(bytes)
            } catch {
                throw .base64Event("its \(Envelope.base64EventField) bytes are not a JSON object (\(error))")
            }
            guard let wrapped = JSONObjectView(scanner: scanner, text: bytes) else { throw .json(.notAnObject(.null)) }
            object = wrapped
            typeMember = object.member("type")
        }
        pendingWarning = nil
        var event: Event
        if let typeMember, typeMember.kind == .string {
            event = readTyped(object, type: typeMember)
        } else {
            event = readUntyped(object)
        }
        event.time = time
        event.warning = pendingWarning ?? envelopeWarning
        event.turns = pendingTurns
        pendingTurns = TurnSignals()
        return event
    }

    /// The time of an envelope `object` whose event is in `eventField`; the first envelope seen is kept as the session's.
    private mutating func readEnvelope(_ object: JSONObjectView, eventField: String, eventIsString: Bool,
                                       eventIsBase64: Bool = false) -> Double? {
        let timed = object.firstMember(among: Envelope.timeFields)
        if envelope == nil {
            envelope = Envelope(eventField: eventField, eventIsString: eventIsString, eventIsBase64: eventIsBase64,
                                timeField: timed.map { String(decoding: $0.name, as: UTF8.self) },
                                sourceField: object.firstMember(among: Envelope.sourceFields).map { String(decoding: $0.name, as: UTF8.self) })
        }
        return timed.flatMap { object.envelopeTime($0.member) }
    }

    /// Messages with a string `type`: OpenAI Realtime, GPT-Live, ElevenLabs' server messages.
    private mutating func readTyped(_ object: JSONObjectView, type typeMember: JSONMember) -> Event {
        let message = object.text
        let type = typeMember.value
        // The audio path first: it is nearly every message of a session. A type spelled with escapes
        // ("response.output\u005faudio.delta") is still that type.
        let name = typeMember.valueHasEscapes
            ? JSONString.unescaped(message, type).withUnsafeBytes { MessageType($0, 0..<$0.count) }
            : MessageType(message, type)
        guard let name else { return Event(message: message, typeRange: type, content: .other) }
        if let vocabulary = name.vocabulary {
            noteVocabulary(vocabulary)
        } else if name.isOpenAIShared, provisionalVocabulary == nil {
            provisionalVocabulary = .openAI
        }
        let content: Event.Content
        switch name {
        case .outputAudioDelta, .betaAudioDelta:
            content = assistantDelta(object).map { .audio($0) } ?? .other
        case .inputAudioAppend:
            content = object.member("audio").flatMap { payload in
                payload.kind == .string ? .audio(AudioDelta(track: .user, format: inputFormat, payload: payload.value,
                                                            payloadHasEscapes: payload.valueHasEscapes)) : nil
            } ?? .other
        case .outputAudioDone, .betaAudioDone:
            content = .audioDone(AudioStreamReference(responseID: object.stringRange("response_id"), itemID: object.stringRange("item_id"),
                                                      contentIndex: object.integer("content_index") ?? 0))
        case .itemTruncated, .itemTruncate:
            content = object.integer("audio_end_ms").map { end in
                .truncation(Truncation(isRequest: name == .itemTruncate, itemID: object.stringRange("item_id"),
                                       contentIndex: object.integer("content_index") ?? 0, audioEndMilliseconds: end))
            } ?? .other
        case .itemCreate:
            content = inputAudioParts(object)
            if case .other = content {} else { pendingTurns.endsUserTurn = true }
        case .inputAudioCommit:
            pendingTurns.endsUserTurn = true
            content = .other
        case .speechStarted, .speechStopped:
            let isStart = name == .speechStarted
            pendingTurns.userSpeech = object.integer(isStart ? "audio_start_ms" : "audio_end_ms").map { (isStart, $0) }
            content = .other
        case .elevenLabsUserTranscript:
            noteVocabulary(.elevenLabs)
            pendingTurns.endsAssistantTurn = true
            content = .other
        case .sessionCreated, .sessionUpdated, .sessionUpdate:
            // The client's session.update counts too: a client-side log may hold no session.updated.
            applySessionConfiguration(object)
            content = .other
        case .responseCreated:
            applyResponseConfiguration(object)
            content = .other
        case .gaOnly, .betaOnly:
            content = .other
        case .liveOutputAudioDelta, .liveInputAudioAppend:
            content = gptLiveAudio(object, isOutput: name == .liveOutputAudioDelta)
        case .elevenLabsAudio:
            content = elevenLabsAudio(object)
        case .elevenLabsInterruption:
            content = .interruption(Interruption(eventID: object.object("interruption_event")?.integer("event_id"), vocabulary: .elevenLabs))
        case .elevenLabsMetadata:
            applyElevenLabsMetadata(object)
            content = .other
        }
        return Event(message: message, typeRange: type, content: content)
    }

    // MARK: - OpenAI Realtime

    private func assistantDelta(_ object: JSONObjectView) -> AudioDelta? {
        guard let payload = object.member("delta"), payload.kind == .string else { return nil }
        let responseID = object.stringRange("response_id")
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
            itemID: object.stringRange("item_id"),
            contentIndex: object.integer("content_index") ?? 0
        )
    }

    /// `conversation.item.create` whose `item.content` holds `{"type": "input_audio", "audio": "<base64>"}` parts:
    /// the user's audio sent whole, in the session's input format.
    private func inputAudioParts(_ object: JSONObjectView) -> Event.Content {
        guard let item = object.object("item"), let parts = item.array("content") else { return .other }
        let deltas: [AudioDelta] = parts.compactMap { part in
            guard let part = item.object(in: part), part.stringEquals("type", "input_audio"),
                  let audio = part.member("audio"), audio.kind == .string
            else { return nil }
            return AudioDelta(track: .user, format: inputFormat, payload: audio.value, payloadHasEscapes: audio.valueHasEscapes)
        }
        return Event.Content(parts: deltas)
    }

    mutating func noteVocabulary(_ detected: Vocabulary) {
        if confirmedVocabulary == nil { confirmedVocabulary = detected }
    }

    /// Passes a note on the message being read to the caller (several are joined).
    mutating func warn(_ note: String) {
        pendingWarning = pendingWarning.map { "\($0); \(note)" } ?? note
    }

    /// `session.created` / `session.updated`: GA `session.audio.{input,output}.format`, beta `{input,output}_audio_format`.
    private mutating func applySessionConfiguration(_ object: JSONObjectView) {
        guard let session = object.object("session") else { return }
        noteModalities(session)
        // turn_detection: null means the client takes its own turns; an object, server VAD. Absent says nothing.
        if let detection = session.object("audio")?.object("input")?.member("turn_detection") ?? session.member("turn_detection") {
            pendingTurns.turnDetection = detection.kind != .null
        }
        if let audio = session.object("audio") {
            noteVocabulary(.openAIGA)
            if let format = audio.object("output")?.object("format").flatMap({ gaFormat($0, side: "output") }) { setOutputFormat(format) }
            if let format = audio.object("input")?.object("format").flatMap({ gaFormat($0, side: "input") }) { setInputFormat(format) }
        }
        if let name = session.string("output_audio_format") {
            noteVocabulary(.openAIBeta)
            if let format = betaFormat(name) { setOutputFormat(format) }
        }
        if let name = session.string("input_audio_format") {
            noteVocabulary(.openAIBeta)
            if let format = betaFormat(name) { setInputFormat(format) }
        }
    }

    /// `response.created`: a response may ask for its own output format.
    private mutating func applyResponseConfiguration(_ object: JSONObjectView) {
        guard let response = object.object("response") else { return }
        noteModalities(response)
        guard let id = response.string("id") else { return }
        var format: AudioFormat?
        if let gaFormat = response.object("audio")?.object("output")?.object("format").flatMap({ gaFormat($0, side: "output") }) {
            format = gaFormat
        } else if let name = response.string("output_audio_format") {
            format = betaFormat(name)
        }
        if let format {
            responseOutputFormats[id] = format
            noteFormat(format)
        }
    }

    /// GA `output_modalities` or beta `modalities`: `["text"]` means no audio will come.
    private mutating func noteModalities(_ configuration: JSONObjectView) {
        guard let modalities = configuration.array("output_modalities") ?? configuration.array("modalities") else { return }
        let text = configuration.text
        let isAudio = { (member: JSONMember) in
            member.kind == .string && JSONString.decode(text, member.value, hasEscapes: member.valueHasEscapes) == "audio"
        }
        if !modalities.contains(where: isAudio) {
            sawTextOnlyOutput = true
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

    mutating func noteFormat(_ format: AudioFormat) {
        // Bounded: formats come from the input, and a hostile log can name a new rate in every message.
        if formatsSeen.count < Self.maximumFormatsSeen, !formatsSeen.contains(format) { formatsSeen.append(format) }
    }

    /// The most formats ``formatsSeen`` lists.
    package static let maximumFormatsSeen = 32

    /// GA format object: `{"type": "audio/pcm", "rate": 24000}`, `{"type": "audio/pcmu"}`, `{"type": "audio/pcma"}`;
    /// `nil`, with a warning, for a type or rate this version does not read.
    mutating func gaFormat(_ format: JSONObjectView, side: String) -> AudioFormat? {
        if format.stringEquals("type", "audio/pcm") {
            var rate = 24_000  // the GA default when no rate is given
            if let given = format.member("rate") {
                if given.kind == .number, let value = JSONNumber.integer(format.text, given.value) {
                    rate = value
                } else if let value = format.integerOrIntegerString("rate") {
                    // A logger that wrote the number as a string: the number is clear, the shape is not.
                    rate = value
                    warn("the session's \(side) rate \(describeValue(format.text, given)) is a string, not a number; read as \(value) Hz")
                } else {
                    warn("the session's \(side) rate \(describeValue(format.text, given)) is not a whole number of hertz; "
                        + "the previous format is kept")
                    return nil
                }
            }
            guard AudioFormat.acceptedRates.contains(rate) else {
                warn("the session's \(side) rate \(format.member("rate").map { describeValue(format.text, $0) } ?? "") is not a sample rate "
                    + "(expected \(AudioFormat.acceptedRates.lowerBound)...\(AudioFormat.acceptedRates.upperBound) Hz); the previous format is kept")
                return nil
            }
            return AudioFormat(encoding: .pcm16, sampleRate: rate)
        }
        if format.stringEquals("type", "audio/pcmu") { return .mulaw8k }
        if format.stringEquals("type", "audio/pcma") { return .alaw8k }
        warn("the session's \(side) format \(format.member("type").map { describeValue(format.text, $0) } ?? "(no type)") is not one "
            + "DeltaTape reads (audio/pcm, audio/pcmu, audio/pcma); the previous format is kept")
        return nil
    }

    /// Beta format name: `pcm16`, `g711_ulaw`, `g711_alaw`; `nil`, with a warning, for another.
    mutating func betaFormat(_ name: String) -> AudioFormat? {
        switch name {
        case "pcm16": return .openAIPCM16
        case "g711_ulaw": return .mulaw8k
        case "g711_alaw": return .alaw8k
        default:
            warn("the audio format '\(name)' is not one DeltaTape reads (pcm16, g711_ulaw, g711_alaw); the previous format is kept")
            return nil
        }
    }
}

/// A JSON value in words for a warning: a string's content in quotes, anything else as written (shortened).
func describeValue(_ text: UnsafeRawBufferPointer, _ member: JSONMember) -> String {
    let written = member.kind == .string
        ? "'" + JSONString.decode(text, member.value, hasEscapes: member.valueHasEscapes) + "'"
        : String(decoding: UnsafeRawBufferPointer(rebasing: text[member.value]), as: UTF8.self)
    return written.count > 40 ? String(written.prefix(40)) + "..." : written
}

/// The `type` names the reader acts on or uses to tell vocabularies apart: OpenAI Realtime GA and beta, GPT-Live,
/// ElevenLabs' server messages.
private enum MessageType {
    case outputAudioDelta, betaAudioDelta, inputAudioAppend
    case outputAudioDone, betaAudioDone, itemTruncated, itemTruncate, itemCreate
    case sessionCreated, sessionUpdated, sessionUpdate, responseCreated
    case inputAudioCommit, speechStarted, speechStopped
    case gaOnly, betaOnly
    case liveOutputAudioDelta, liveInputAudioAppend
    case elevenLabsAudio, elevenLabsInterruption, elevenLabsMetadata, elevenLabsUserTranscript

    init?(_ text: UnsafeRawBufferPointer, _ range: Range<Int>) {
        // Ordered by frequency in a session.
        if bytesEqual(text, range, "response.output_audio.delta") { self = .outputAudioDelta; return }
        if bytesEqual(text, range, "response.audio.delta") { self = .betaAudioDelta; return }
        if bytesEqual(text, range, "input_audio_buffer.append") { self = .inputAudioAppend; return }
        if bytesEqual(text, range, "session.output_audio.delta") { self = .liveOutputAudioDelta; return }
        if bytesEqual(text, range, "session.input_audio.append") { self = .liveInputAudioAppend; return }
        if bytesEqual(text, range, "audio") { self = .elevenLabsAudio; return }
        if bytesEqual(text, range, "response.output_audio.done") { self = .outputAudioDone; return }
        if bytesEqual(text, range, "response.audio.done") { self = .betaAudioDone; return }
        if bytesEqual(text, range, "conversation.item.truncated") { self = .itemTruncated; return }
        if bytesEqual(text, range, "conversation.item.truncate") { self = .itemTruncate; return }
        if bytesEqual(text, range, "conversation.item.create") { self = .itemCreate; return }
        if bytesEqual(text, range, "session.created") { self = .sessionCreated; return }
        if bytesEqual(text, range, "session.updated") { self = .sessionUpdated; return }
        if bytesEqual(text, range, "session.update") { self = .sessionUpdate; return }
        if bytesEqual(text, range, "response.created") { self = .responseCreated; return }
        if bytesEqual(text, range, "interruption") { self = .elevenLabsInterruption; return }
        if bytesEqual(text, range, "conversation_initiation_metadata") { self = .elevenLabsMetadata; return }
        if bytesEqual(text, range, "input_audio_buffer.commit") { self = .inputAudioCommit; return }
        if bytesEqual(text, range, "input_audio_buffer.speech_started") { self = .speechStarted; return }
        if bytesEqual(text, range, "input_audio_buffer.speech_stopped") { self = .speechStopped; return }
        if bytesEqual(text, range, "user_transcript") { self = .elevenLabsUserTranscript; return }
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

    /// The vocabulary the name belongs to alone, if it does.
    var vocabulary: Vocabulary? {
        switch self {
        case .outputAudioDelta, .outputAudioDone, .gaOnly: .openAIGA
        case .betaAudioDelta, .betaAudioDone, .betaOnly: .openAIBeta
        case .liveOutputAudioDelta, .liveInputAudioAppend: .openAIGPTLive
        case .elevenLabsAudio, .elevenLabsInterruption, .elevenLabsMetadata, .elevenLabsUserTranscript: .elevenLabs
        case .inputAudioAppend, .itemTruncated, .itemTruncate, .itemCreate, .sessionCreated, .sessionUpdated, .sessionUpdate,
             .responseCreated, .inputAudioCommit, .speechStarted, .speechStopped: nil
        }
    }

    /// Whether the name is one OpenAI's GA and beta APIs share.
    var isOpenAIShared: Bool { vocabulary == nil }

    private static func startsWith(_ text: UnsafeRawBufferPointer, _ range: Range<Int>, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard range.count >= count else { return false }
        return bytesEqual(text, range.lowerBound..<(range.lowerBound + count), prefix)
    }
}
