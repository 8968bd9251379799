import DeltaTapeKernels

// The vocabularies other than OpenAI Realtime's: GPT-Live, Gemini Live, Twilio Media Streams, ElevenLabs Agents.
// Shapes and sources: ../shared/research/realtime-events.md (§3 Gemini, §4 Twilio, §5 ElevenLabs, §9 GPT-Live).
extension EventReader {
    /// Messages without a string `type`: Twilio Media Streams (`event`), Gemini Live (one top-level key naming the
    /// message), ElevenLabs' `user_audio_chunk`.
    mutating func readUntyped(_ object: JSONObjectView) -> Event {
        let message = object.text
        if let event = object.member("event"), event.kind == .string {
            return readTwilio(object, event: event)
        }
        if let chunk = object.member("user_audio_chunk"), chunk.kind == .string {
            noteVocabulary(.elevenLabs)
            let delta = AudioDelta(track: .user, format: elevenLabsInputFormat, payload: chunk.value, payloadHasEscapes: chunk.valueHasEscapes,
                                   vocabulary: .elevenLabs)
            return Event(message: message, typeRange: chunk.key, content: .audio(delta))
        }
        if let server = object.member("serverContent"), server.kind == .object {
            noteVocabulary(.geminiLive)
            return Event(message: message, typeRange: server.key, content: geminiServerContent(object.object(in: server)))
        }
        if let input = object.member("realtimeInput"), input.kind == .object {
            noteVocabulary(.geminiLive)
            return Event(message: message, typeRange: input.key, content: geminiRealtimeInput(object.object(in: input)))
        }
        if let first = object.members.first(where: { member in Self.geminiMessageKeys.contains { object.keyEquals(member, $0) } }) {
            noteVocabulary(.geminiLive)
            return Event(message: message, typeRange: first.key, content: .other)
        }
        return Event(message: message, typeRange: nil, content: .other)
    }

    // MARK: - GPT-Live

    /// `session.output_audio.delta` / `session.input_audio.append`. On a sideband connection the reflected audio is
    /// always mono PCM16 at 24 kHz, and output places itself with `start_ms` (inclusive) and `end_ms` (exclusive); on
    /// the primary connection the audio is in the session's configured format.
    mutating func gptLiveAudio(_ object: JSONObjectView, isOutput: Bool) -> Event.Content {
        guard let payload = object.member(isOutput ? "delta" : "audio"), payload.kind == .string else { return .other }
        let start = object.integer("start_ms"), end = object.integer("end_ms")
        let format = start != nil || end != nil ? .openAIPCM16 : isOutput ? outputFormat : inputFormat
        noteFormat(format)
        return .audio(AudioDelta(track: isOutput ? .assistant : .user, format: format, payload: payload.value,
                                 payloadHasEscapes: payload.valueHasEscapes, startMilliseconds: start, endMilliseconds: end,
                                 vocabulary: .openAIGPTLive))
    }

    // MARK: - Twilio Media Streams

    private mutating func readTwilio(_ object: JSONObjectView, event: JSONMember) -> Event {
        let message = object.text
        noteVocabulary(.twilio)
        let name = JSONString.decode(message, event.value, hasEscapes: event.valueHasEscapes)
        switch name {
        case "media":
            guard let media = object.object("media"), let payload = media.member("payload"), payload.kind == .string else { break }
            // Twilio labels what it forwards: inbound is the caller, outbound what the call played. The bridge's own
            // messages to Twilio (a bidirectional <Connect><Stream>) carry no track: they are the assistant.
            let inbound = media.stringEquals("track", "inbound") || media.stringEquals("track", "inbound_track")
            let delta = AudioDelta(track: inbound ? .user : .assistant, format: .mulaw8k, payload: payload.value,
                                   payloadHasEscapes: payload.valueHasEscapes,
                                   startMilliseconds: media.integerOrIntegerString("timestamp"), vocabulary: .twilio)
            return Event(message: message, typeRange: event.value, content: .audio(delta))
        case "start":
            noteFormat(.mulaw8k)
        case "clear":
            // The bridge told Twilio to drop the audio it had queued: the caller interrupted.
            return Event(message: message, typeRange: event.value, content: .interruption(Interruption(eventID: nil, vocabulary: .twilio)))
        default:
            break
        }
        return Event(message: message, typeRange: event.value, content: .other)
    }

    // MARK: - ElevenLabs

    /// `{"type": "audio", "audio_event": {"audio_base_64": ..., "event_id": ...}}`.
    mutating func elevenLabsAudio(_ object: JSONObjectView) -> Event.Content {
        guard let audio = object.object("audio_event"), let payload = audio.member("audio_base_64"), payload.kind == .string
        else { return .other }
        return .audio(AudioDelta(track: .assistant, format: elevenLabsOutputFormat, payload: payload.value,
                                 payloadHasEscapes: payload.valueHasEscapes, eventID: audio.integer("event_id"), vocabulary: .elevenLabs))
    }

    /// `conversation_initiation_metadata`: the formats of both sides.
    mutating func applyElevenLabsMetadata(_ object: JSONObjectView) {
        guard let metadata = object.object("conversation_initiation_metadata_event") else { return }
        elevenLabsOutputFormat = elevenLabsFormat(metadata.string("agent_output_audio_format"), whose: "agent's",
                                                  otherwise: elevenLabsOutputFormat)
        elevenLabsInputFormat = elevenLabsFormat(metadata.string("user_input_audio_format"), whose: "user's",
                                                 otherwise: elevenLabsInputFormat)
    }

    /// The format a metadata field names, noted; `current` when the field is absent, or (with a warning) not understood.
    private mutating func elevenLabsFormat(_ name: String?, whose side: String, otherwise current: AudioFormat) -> AudioFormat {
        guard let name else { return current }
        guard let format = Self.elevenLabsFormat(name) else {
            warn("the \(side) audio format '\(name)' is not one DeltaTape reads (pcm_RATE, ulaw_8000); \(current) is assumed")
            return current
        }
        noteFormat(format)
        return format
    }

    /// ElevenLabs format names: `pcm_16000`, `pcm_24000`, ..., `ulaw_8000`.
    static func elevenLabsFormat(_ name: String) -> AudioFormat? {
        let parts = name.split(separator: "_")
        guard parts.count == 2, let rate = Int(parts[1]), AudioFormat.acceptedRates.contains(rate) else { return nil }
        switch parts[0] {
        case "pcm": return AudioFormat(encoding: .pcm16, sampleRate: rate)
        case "ulaw": return AudioFormat(encoding: .mulaw, sampleRate: rate)
        case "alaw": return AudioFormat(encoding: .alaw, sampleRate: rate)
        default: return nil
        }
    }

    // MARK: - Gemini Live

    /// Top-level keys of Gemini Live messages other than audio (server `BidiGenerateContentServerMessage` and
    /// client messages), which tell the vocabulary apart.
    private static let geminiMessageKeys: [StaticString] = [
        "setupComplete", "setup", "toolCall", "toolCallCancellation", "goAway", "sessionResumptionUpdate",
        "usageMetadata", "clientContent", "toolResponse",
    ]

    /// `serverContent`: audio in `modelTurn.parts[].inlineData` (several parts may come in one message), or
    /// `interrupted: true`.
    private mutating func geminiServerContent(_ content: JSONObjectView?) -> Event.Content {
        guard let content else { return .other }
        var deltas: [AudioDelta] = []
        if let turn = content.object("modelTurn"), let parts = turn.array("parts") {
            for part in parts {
                guard let inline = turn.object(in: part)?.object("inlineData"),
                      let delta = geminiAudio(inline, track: .assistant, defaultRate: 24_000)
                else { continue }
                deltas.append(delta)
            }
        }
        if content.isTrue("interrupted") {
            if deltas.isEmpty { return .interruption(Interruption(eventID: nil, vocabulary: .geminiLive)) }
            // Audio beside the interruption was generated before it: it joins the turn, and the interruption follows.
            pendingTurns.interruption = Interruption(eventID: nil, vocabulary: .geminiLive)
        }
        if content.isTrue("turnComplete") { pendingTurns.endsAssistantTurn = true }
        return Event.Content(parts: deltas)
    }

    /// `realtimeInput`: `audio {mimeType, data}`, or the older `mediaChunks [{mimeType, data}]` (every audio chunk
    /// is kept: the recording is what the client sent).
    private mutating func geminiRealtimeInput(_ input: JSONObjectView?) -> Event.Content {
        guard let input else { return .other }
        if let audio = input.object("audio") {
            return Event.Content(parts: geminiAudio(audio, track: .user, defaultRate: 16_000).map { [$0] } ?? [])
        }
        guard let chunks = input.array("mediaChunks") else { return .other }
        let deltas = chunks.compactMap { chunk in
            input.object(in: chunk).flatMap { geminiAudio($0, track: .user, defaultRate: 16_000) }
        }
        return Event.Content(parts: deltas)
    }

    /// A Gemini blob `{mimeType, data}` holding PCM audio; `nil` for other media (images, video) or a missing payload.
    private mutating func geminiAudio(_ blob: JSONObjectView, track: AudioTrack, defaultRate: Int) -> AudioDelta? {
        guard let data = blob.member("data"), data.kind == .string else { return nil }
        var rate: Int? = defaultRate
        if let mimeType = blob.member("mimeType"), mimeType.kind == .string {
            rate = mimeType.valueHasEscapes
                ? JSONString.unescaped(blob.text, mimeType.value).withUnsafeBytes { Self.pcmRate(mimeType: $0, defaultRate: defaultRate) }
                : Self.pcmRate(mimeType: UnsafeRawBufferPointer(rebasing: blob.text[mimeType.value]), defaultRate: defaultRate)
            if rate == nil {
                let name = JSONString.decode(blob.text, mimeType.value, hasEscapes: mimeType.valueHasEscapes)
                // Images and video parts are not audio; audio that is not 16-bit PCM is skipped, and said so.
                if name.lowercased().hasPrefix("audio/") {
                    warn("\(track) audio of MIME type '\(name)' is not 16-bit PCM at a sample rate DeltaTape reads; skipped")
                }
            }
        }
        guard let rate else { return nil }
        let format = AudioFormat(encoding: .pcm16, sampleRate: rate)
        noteFormat(format)
        return AudioDelta(track: track, format: format, payload: data.value, payloadHasEscapes: data.valueHasEscapes, vocabulary: .geminiLive)
    }

    /// The rate of a PCM MIME type (`audio/pcm;rate=24000`, `audio/L16;codec=pcm;rate=16000`); `defaultRate` when it
    /// names none; `nil` when the type is not 16-bit PCM. Read from the bytes: it is on every Gemini audio message.
    static func pcmRate(mimeType: UnsafeRawBufferPointer, defaultRate: Int) -> Int? {
        var fields = mimeType.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false).makeIterator()
        guard let type = fields.next().map(trimmed),
              equalsIgnoringCase(type, "audio/pcm") || equalsIgnoringCase(type, "audio/l16")
        else { return nil }
        while let field = fields.next().map(trimmed) {
            guard field.count > 5, equalsIgnoringCase(field.prefix(5), "rate=") else { continue }
            var rate = 0
            for byte in field.dropFirst(5) {
                guard byte &- UInt8(ascii: "0") < 10, rate < 1_000_000 else { return nil }
                rate = rate * 10 + Int(byte &- UInt8(ascii: "0"))
            }
            return AudioFormat.acceptedRates.contains(rate) ? rate : nil
        }
        return defaultRate
    }
}

private func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
    var bytes = bytes
    while let first = bytes.first, first == 0x20 || first == 0x09 { bytes.removeFirst() }
    while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
    return bytes
}

/// Whether ASCII `bytes` equal lowercase `literal`, ignoring case.
private func equalsIgnoringCase(_ bytes: Slice<UnsafeRawBufferPointer>, _ literal: StaticString) -> Bool {
    guard bytes.count == literal.utf8CodeUnitCount else { return false }
    let start = literal.utf8Start
    for (offset, byte) in bytes.enumerated() {
        let lower = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
        if lower != start[offset] { return false }
    }
    return true
}

extension Event.Content {
    /// One delta as ``audio(_:)``, several as ``audioParts(_:)``, none as ``other``.
    init(parts: [AudioDelta]) {
        switch parts.count {
        case 0: self = .other
        case 1: self = .audio(parts[0])
        default: self = .audioParts(parts)
        }
    }
}
