// Sessions written for the timeline's acceptance tests, and the expectations computed beside them from the rules in
// docs/TIMELINE.md (never from DeltaTape's code): JSON lines in arrival order, audio that is distinctive per item.
import DeltaTape
import Foundation
import TestSupport
import Testing

// MARK: - Audio for the sessions

/// `count` samples of full-range pseudo-random noise drawn from `label`: every item, chunk and turn has its own, so
/// that audio placed one sample off, taken from the wrong item, or joined in the wrong order cannot compare equal.
func noise(_ label: String, _ count: Int) -> [Int16] {
    // The label's stable hash seeds SplitMix64: the same label gives the same audio in every run.
    var generator = SplitMix64(seed: label.hashValueStable)
    return generator.samples(count)
}

/// `count` samples at `rate` of three tones below 3 kHz chosen by `label`, each at a quarter of full scale: audio that
/// two good resamplers turn into nearly the same samples (unlike full-band noise, whose top octave their filters cut
/// differently), for tracks this test compares after DeltaTape resampled them.
func tones(_ label: String, _ count: Int, rate: Int) -> [Int16] {
    var generator = SplitMix64(seed: label.hashValueStable)
    let components = (0..<3).map { _ in
        (frequency: Double.random(in: 200...3_000, using: &generator), phase: Double.random(in: 0..<(2 * .pi), using: &generator))
    }
    return (0..<count).map { index in
        let time = Double(index) / Double(rate)
        let value = components.reduce(0.0) { $0 + 8_000 * sin(2 * .pi * $1.frequency * time + $1.phase) }
        return Int16(value.rounded())
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: unlike `hashValue`, the same in every process.
    var hashValueStable: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}

/// Little-endian PCM16 bytes of `samples`.
func pcm16Bytes(_ samples: [Int16]) -> Data {
    var data = Data(capacity: samples.count * 2)
    for sample in samples {
        let bits = UInt16(bitPattern: sample)
        data.append(UInt8(bits & 0xFF))
        data.append(UInt8(bits >> 8))
    }
    return data
}

/// G.711 mu-law to linear, written out from the ITU-T G.711 / Sun `g711.c` formula (independent of DeltaTape's table).
func muLawDecoded(_ bytes: [UInt8]) -> [Int16] {
    bytes.map { byte in
        let value = ~byte
        var magnitude = (Int(value & 0x0F) << 3) + 0x84
        magnitude <<= Int((value & 0x70) >> 4)
        return Int16(value & 0x80 != 0 ? 0x84 - magnitude : magnitude - 0x84)
    }
}

/// `count` pseudo-random mu-law bytes drawn from `label`.
func muLawNoise(_ label: String, _ count: Int) -> [UInt8] {
    var generator = SplitMix64(seed: label.hashValueStable)
    return generator.bytes(count)
}

// MARK: - JSON lines in a chosen key order

/// A JSON text already written, placed as it is.
struct RawJSON {
    var text: String
}

/// A JSON object with its keys in the order given (the order a logger wrote them in; `type` first reads best).
/// Values: `String`, `Int`, `Bool`, `NSNull`, `RawJSON`, `[Any]`.
func json(_ pairs: KeyValuePairs<String, Any>) -> RawJSON {
    RawJSON(text: "{" + pairs.map { "\(jsonText($0.key)):\(jsonText($0.value))" }.joined(separator: ",") + "}")
}

private func jsonText(_ value: Any) -> String {
    switch value {
    case let raw as RawJSON: return raw.text
    case let text as String:
        // Test strings are ASCII ids and base64: only quotes and backslashes need escaping.
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    case let flag as Bool: return flag ? "true" : "false"
    case let number as Int: return String(number)
    case is NSNull: return "null"
    case let array as [Any]: return "[" + array.map(jsonText).joined(separator: ",") + "]"
    default: fatalError("no JSON for \(value)")
    }
}

// MARK: - A session log, written line by line

/// A session log being written in arrival order, with the continuous-input clock kept beside it: the user audio
/// appended so far, in samples at the user's rate (docs/TIMELINE.md, placement rule 1).
struct SessionScript {
    private(set) var lines: [String] = []
    /// When each line was logged, in seconds since the session's first message, for logs written in an envelope.
    private(set) var times: [Double] = []
    /// The time the next lines are logged at (see ``write(envelopeEpoch:milliseconds:)``).
    var now = 0.0
    /// User samples appended so far: the clock position of the next message, at the user's rate.
    private(set) var userClock = 0
    /// Every user sample appended, in order: the user track as appended (rule 1).
    private(set) var userAudio: [Int16] = []
    private var eventNumber = 0

    mutating func line(_ object: RawJSON) {
        lines.append(object.text)
        times.append(now)
    }

    /// Counts `samples` as appended user audio (the caller writes the line that carries them).
    mutating func noteUserAudio(_ samples: [Int16]) {
        userAudio += samples
        userClock += samples.count
    }

    /// A fresh `event_id`.
    mutating func nextEventID() -> String {
        eventNumber += 1
        return "event_\(eventNumber)"
    }

    /// Writes the log to a new folder and returns its path.
    func write(name: String = "session.jsonl") throws -> String {
        let url = try TestEnvironment.temporaryDirectory().appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Writes the log with each line in a logging envelope, `{"time": ..., "source": ..., "event": {...}}`, its time
    /// `envelopeEpoch` plus the line's ``now``: epoch seconds with three decimals, or whole epoch milliseconds.
    func write(envelopeEpoch: Int, milliseconds: Bool) throws -> String {
        let wrapped = zip(lines, times).map { line, time in
            let millisecondsSinceEpoch = envelopeEpoch * 1_000 + Int((time * 1_000).rounded())
            let stamp = milliseconds ? String(millisecondsSinceEpoch)
                : "\(millisecondsSinceEpoch / 1_000).\(String(format: "%03d", millisecondsSinceEpoch % 1_000))"
            let source = line.contains("\"input_audio_buffer.append\"") ? "client" : "server"
            return "{\"time\":\(stamp),\"source\":\"\(source)\",\"event\":\(line)}"
        }
        let url = try TestEnvironment.temporaryDirectory().appendingPathComponent("session.jsonl")
        try (wrapped.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Writes the log as a Chrome HAR export: one WebSocket entry whose frames carry the lines, sent (client events)
    /// or received, each at `epoch` plus the line's ``now`` in seconds.
    func writeHAR(epoch: Int) throws -> String {
        let frames: [[String: Any]] = zip(lines, times).map { line, time in
            let sent = line.contains("\"input_audio_buffer.") || line.contains("\"session.update\"") || line.contains("\"response.create\"")
            return ["type": sent ? "send" : "receive", "time": Double(epoch) + time, "opcode": 1, "data": line]
        }
        let entry: [String: Any] = [
            "startedDateTime": "2026-11-29T00:00:00.000Z", "time": 0, "_resourceType": "websocket",
            "request": ["method": "GET", "url": "wss://api.openai.com/v1/realtime?model=gpt-realtime", "headers": [Any]()],
            "response": ["status": 101, "content": ["size": 0]], "_webSocketMessages": frames,
        ]
        let har: [String: Any] = ["log": ["version": "1.2", "creator": ["name": "WebInspector", "version": "537.36"], "pages": [Any](),
                                          "entries": [entry]]]
        let url = try TestEnvironment.temporaryDirectory().appendingPathComponent("session.har")
        try JSONSerialization.data(withJSONObject: har).write(to: url)
        return url.path
    }
}

// MARK: OpenAI Realtime GA

extension SessionScript {
    /// `session.created` (and, when `turnDetection` differs from the server's default, the client's `session.update`
    /// and the server's `session.updated`) for PCM16 at 24 kHz both ways, or `format` (`audio/pcmu`) when given.
    /// `turnDetection` nil writes `"turn_detection": null` (push-to-talk).
    mutating func openAISession(turnDetection: String? = "server_vad", format: String = "audio/pcm") {
        func session(_ detection: Any) -> RawJSON {
            let formatObject = format == "audio/pcm" ? json(["type": format, "rate": 24_000]) : json(["type": format])
            return json([
                "type": "realtime", "output_modalities": ["audio"],
                "audio": json([
                    "input": json(["format": formatObject, "turn_detection": detection]),
                    "output": json(["format": formatObject, "voice": "marin"]),
                ]),
            ])
        }
        line(json(["type": "session.created", "event_id": nextEventID(), "session": session(json(["type": "server_vad"]))]))
        if turnDetection != "server_vad" {
            let detection: Any = turnDetection.map { json(["type": $0]) } ?? NSNull()
            line(json(["type": "session.update", "session": session(detection)]))
            line(json(["type": "session.updated", "event_id": nextEventID(), "session": session(detection)]))
        }
    }

    /// `input_audio_buffer.append` of `samples` (PCM16).
    mutating func append(_ samples: [Int16]) {
        line(json(["type": "input_audio_buffer.append", "audio": pcm16Bytes(samples).base64EncodedString()]))
        noteUserAudio(samples)
    }

    /// `input_audio_buffer.append` of raw bytes in the session's input format (mu-law in a bridge), `samples` being
    /// what they decode to.
    mutating func append(bytes: [UInt8], decoded samples: [Int16]) {
        line(json(["type": "input_audio_buffer.append", "audio": Data(bytes).base64EncodedString()]))
        noteUserAudio(samples)
    }

    /// User audio in chunks of `chunk` samples: `count` chunks, each its own noise labelled `label` and the chunk's
    /// number (the microphone streaming).
    mutating func appendChunks(_ label: String, count: Int, chunk: Int) {
        for index in 0..<count { append(noise("\(label)-\(index)-\(userClock)", chunk)) }
    }

    /// `input_audio_buffer.commit` and the server's `input_audio_buffer.committed`.
    mutating func commit(item: String) {
        line(json(["type": "input_audio_buffer.commit"]))
        line(json(["type": "input_audio_buffer.committed", "event_id": nextEventID(), "item_id": item]))
    }

    /// `response.created` for `response` (out of band when `outOfBand`).
    mutating func responseCreated(_ response: String, outOfBand: Bool = false) {
        line(json(["type": "response.created", "event_id": nextEventID(), "response": json([
            "id": response, "object": "realtime.response", "status": "in_progress",
            "conversation_id": outOfBand ? NSNull() : "conv_1" as Any, "output": [Any](), "output_modalities": ["audio"],
        ])]))
    }

    /// `response.output_item.added` for assistant item `item` at `outputIndex` of `response`.
    mutating func itemAdded(_ response: String, _ item: String, outputIndex: Int = 0) {
        line(json(["type": "response.output_item.added", "event_id": nextEventID(), "response_id": response, "output_index": outputIndex,
                   "item": json(["id": item, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress", "content": [Any]()])]))
    }

    /// `response.output_audio.delta` carrying `bytes` (any length, odd ones too) of item `item`.
    mutating func delta(_ response: String, _ item: String, bytes: Data, outputIndex: Int = 0, contentIndex: Int = 0) {
        line(json(["type": "response.output_audio.delta", "event_id": nextEventID(), "response_id": response, "item_id": item,
                   "output_index": outputIndex, "content_index": contentIndex, "delta": bytes.base64EncodedString()]))
    }

    /// `response.output_audio.delta` carrying `samples`.
    mutating func delta(_ response: String, _ item: String, _ samples: [Int16], outputIndex: Int = 0) {
        delta(response, item, bytes: pcm16Bytes(samples), outputIndex: outputIndex)
    }

    /// Item `item`'s `samples` as `parts` deltas of equal length (the last takes the rest).
    mutating func deltas(_ response: String, _ item: String, _ samples: [Int16], parts: Int, outputIndex: Int = 0) {
        let size = samples.count / parts
        for part in 0..<parts {
            let end = part == parts - 1 ? samples.count : (part + 1) * size
            delta(response, item, Array(samples[(part * size)..<end]), outputIndex: outputIndex)
        }
    }

    /// `response.output_audio.done` for item `item`.
    mutating func audioDone(_ response: String, _ item: String, outputIndex: Int = 0) {
        line(json(["type": "response.output_audio.done", "event_id": nextEventID(), "response_id": response, "item_id": item,
                   "output_index": outputIndex, "content_index": 0]))
    }

    /// `response.done` for `response`.
    mutating func responseDone(_ response: String, status: String = "completed") {
        line(json(["type": "response.done", "event_id": nextEventID(), "response": json(["id": response, "object": "realtime.response", "status": status])]))
    }

    /// A whole response of one item: created, item added, `samples` in `parts` deltas, audio done, response done.
    mutating func response(_ response: String, item: String, _ samples: [Int16], parts: Int) {
        responseCreated(response)
        itemAdded(response, item)
        deltas(response, item, samples, parts: parts)
        audioDone(response, item)
        responseDone(response)
    }

    /// The client's `conversation.item.truncate` (`isRequest`) or the server's `conversation.item.truncated`.
    mutating func truncation(_ item: String, audioEndMilliseconds: Int, isRequest: Bool) {
        if isRequest {
            line(json(["type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": audioEndMilliseconds]))
        } else {
            line(json(["type": "conversation.item.truncated", "event_id": nextEventID(), "item_id": item, "content_index": 0,
                       "audio_end_ms": audioEndMilliseconds]))
        }
    }

    /// The server's `input_audio_buffer.speech_started` at `startMilliseconds` of the input buffer.
    mutating func speechStarted(_ startMilliseconds: Int, item: String) {
        line(json(["type": "input_audio_buffer.speech_started", "event_id": nextEventID(), "audio_start_ms": startMilliseconds, "item_id": item]))
    }

    /// The client's `conversation.item.create` holding user audio whole (`input_audio`).
    mutating func createUserItem(_ item: String, _ samples: [Int16]) {
        line(json(["type": "conversation.item.create", "item": json([
            "id": item, "type": "message", "role": "user",
            "content": [json(["type": "input_audio", "audio": pcm16Bytes(samples).base64EncodedString()])],
        ])]))
        noteUserAudio(samples)
    }
}

// MARK: Gemini Live

extension SessionScript {
    /// `realtimeInput.audio` at 16 kHz.
    mutating func geminiInput(_ samples: [Int16]) {
        line(json(["realtimeInput": json(["audio": json(["mimeType": "audio/pcm;rate=16000", "data": pcm16Bytes(samples).base64EncodedString()])])]))
        noteUserAudio(samples)
    }

    /// `count` chunks of 100 ms (1600 samples) of user tones at 16 kHz.
    mutating func geminiInputChunks(_ label: String, count: Int) {
        for index in 0..<count { geminiInput(tones("\(label)-\(index)-\(userClock)", 1_600, rate: 16_000)) }
    }

    /// `serverContent.modelTurn` with one audio part per element of `parts` (24 kHz), plus `interrupted: true` when asked.
    mutating func geminiModelTurn(_ parts: [[Int16]], interrupted: Bool = false) {
        let partObjects: [Any] = parts.map { samples in
            json(["inlineData": json(["mimeType": "audio/pcm;rate=24000", "data": pcm16Bytes(samples).base64EncodedString()])])
        }
        let content = interrupted
            ? json(["modelTurn": json(["parts": partObjects]), "interrupted": true])
            : json(["modelTurn": json(["parts": partObjects])])
        line(json(["serverContent": content]))
    }

    /// `serverContent` with one flag (`turnComplete`, `generationComplete`, `interrupted`) set.
    mutating func geminiFlag(_ name: String) {
        line(RawJSON(text: "{\"serverContent\":{\"\(name)\":true}}"))
    }
}

// MARK: ElevenLabs Agents

extension SessionScript {
    /// `conversation_initiation_metadata` with both formats PCM16 at 16 kHz.
    mutating func elevenLabsMetadata() {
        line(json(["type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": json([
            "conversation_id": "conv_el", "agent_output_audio_format": "pcm_16000", "user_input_audio_format": "pcm_16000",
        ])]))
    }

    /// `count` `user_audio_chunk`s of 100 ms (1600 samples at 16 kHz).
    mutating func elevenLabsUserChunks(_ label: String, count: Int) {
        for index in 0..<count {
            let samples = noise("\(label)-\(index)-\(userClock)", 1_600)
            line(json(["user_audio_chunk": pcm16Bytes(samples).base64EncodedString()]))
            noteUserAudio(samples)
        }
    }

    /// An agent `audio` event with `event_id` `id`.
    mutating func elevenLabsAudio(_ samples: [Int16], id: Int) {
        line(json(["type": "audio", "audio_event": json(["audio_base_64": pcm16Bytes(samples).base64EncodedString(), "event_id": id])]))
    }

    /// An `interruption` with `event_id` `id`.
    mutating func elevenLabsInterruption(id: Int) {
        line(json(["type": "interruption", "interruption_event": json(["event_id": id])]))
    }
}

// MARK: Twilio Media Streams and GPT-Live

extension SessionScript {
    /// Twilio's `connected` and `start` for `tracks`.
    mutating func twilioStart(tracks: [String]) {
        line(json(["event": "connected", "protocol": "Call", "version": "1.0.0"]))
        line(json(["event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": json([
            "accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1", "tracks": tracks,
            "mediaFormat": json(["encoding": "audio/x-mulaw", "sampleRate": 8_000, "channels": 1]),
        ])]))
    }

    /// A Twilio `media` message on `track` at `timestamp` ms (a string, as Twilio writes it); without a track and
    /// timestamp when both are nil (what a bridge sends to Twilio).
    mutating func twilioMedia(_ bytes: [UInt8], track: String?, timestamp: Int?) {
        let payload = Data(bytes).base64EncodedString()
        let media: RawJSON
        if let track, let timestamp {
            media = json(["track": track, "chunk": "1", "timestamp": String(timestamp), "payload": payload])
        } else {
            media = json(["payload": payload])
        }
        line(json(["event": "media", "streamSid": "MZ1", "media": media]))
    }

    /// GPT-Live sideband: reflected input (`session.input_audio.append` arriving as a server event).
    mutating func liveInput(_ samples: [Int16]) {
        line(json(["type": "session.input_audio.append", "audio": pcm16Bytes(samples).base64EncodedString()]))
        noteUserAudio(samples)
    }

    /// GPT-Live sideband: reflected output placed at `startMilliseconds` (inclusive) to `endMilliseconds` (exclusive).
    mutating func liveOutput(_ samples: [Int16], startMilliseconds: Int, endMilliseconds: Int) {
        line(json(["type": "session.output_audio.delta", "delta": pcm16Bytes(samples).base64EncodedString(),
                   "start_ms": startMilliseconds, "end_ms": endMilliseconds]))
    }
}

// MARK: - Expected tracks, computed from the rules

/// One track of the expected output: samples at the output's rate, silence wherever nothing was placed.
struct ExpectedTrack {
    private(set) var samples: [Int16] = []

    /// Places `audio` starting at sample `start`: silence fills any gap before it; it never overlaps what is there
    /// (the expectations of these tests never ask for overlapping audio on one track).
    mutating func place(_ audio: some Collection<Int16>, at start: Int) {
        precondition(start >= samples.count, "expected audio overlaps at \(start) (track holds \(samples.count))")
        samples += repeatElement(0, count: start - samples.count)
        samples += audio
    }

    /// Places `audio` right after what is there.
    mutating func append(_ audio: some Collection<Int16>) {
        samples += audio
    }

    var count: Int { samples.count }
}

/// Both tracks padded to the longer one ("the tracks end together"), interleaved user left, assistant right.
func stereo(user: [Int16], assistant: [Int16]) -> [Int16] {
    let frames = max(user.count, assistant.count)
    var result = [Int16](repeating: 0, count: frames * 2)
    for (index, sample) in user.enumerated() { result[2 * index] = sample }
    for (index, sample) in assistant.enumerated() { result[2 * index + 1] = sample }
    return result
}

/// The mono layout: both tracks padded to the longer one, summed and saturated to 16 bits.
func monoMix(user: [Int16], assistant: [Int16]) -> [Int16] {
    (0..<max(user.count, assistant.count)).map { index in
        let sum = Int(index < user.count ? user[index] : 0) + Int(index < assistant.count ? assistant[index] : 0)
        return Int16(clamping: sum)
    }
}

/// `samples` padded with silence to `count`.
func padded(_ samples: [Int16], to count: Int) -> [Int16] {
    samples + repeatElement(0, count: max(0, count - samples.count))
}

/// One channel of interleaved `samples`.
func channel(_ samples: [Int16], _ index: Int, of channelCount: Int) -> [Int16] {
    stride(from: index, to: samples.count, by: channelCount).map { samples[$0] }
}

// MARK: - Reading the output independently

/// A WAV file as Python's `struct` reads its chunks (independent of DeltaTape's writer): the fmt chunk's fields and
/// the data chunk's samples.
struct DecodedWAV {
    var sampleRate: Int
    var channelCount: Int
    var samples: [Int16]

    var frameCount: Int { samples.count / max(channelCount, 1) }
}

func readWAV(_ path: String) throws -> DecodedWAV {
    let script = """
        import struct, sys
        data = open(sys.argv[1], 'rb').read()
        assert data[:4] == b'RIFF' and data[8:12] == b'WAVE', 'not RIFF/WAVE'
        pos, fmt, pcm = 12, None, None
        while pos + 8 <= len(data):
            cid = data[pos:pos + 4]
            size = struct.unpack('<I', data[pos + 4:pos + 8])[0]
            body = data[pos + 8:pos + 8 + size]
            if cid == b'fmt ':
                fmt = struct.unpack('<HHIIHH', body[:16])
            elif cid == b'data':
                pcm = body
                assert len(pcm) == size, 'data chunk shorter than its size'
            pos += 8 + size + (size & 1)
        tag, channels, rate, byte_rate, block_align, bits = fmt
        assert tag in (1, 0xFFFE) and bits == 16, f'format {tag} bits {bits}'
        assert block_align == channels * 2 and byte_rate == rate * block_align, 'inconsistent fmt chunk'
        sys.stdout.write(f'{rate} {channels}\\n')
        sys.stdout.flush()
        sys.stdout.buffer.write(pcm)
        """
    let (header, pcm) = try pythonNumbersAndBytes(script, [path], count: 2)
    return DecodedWAV(sampleRate: header[0], channelCount: header[1], samples: pcm16Samples(pcm))
}

// MARK: - Converting

/// Converts `log` to `output` in this process, through the library (the timeline's layer: no binary runs), with the
/// few command-line flags these tests use read as the options the command line would set.
func convertSession(_ log: String, to output: String, _ arguments: [String]) throws {
    var options = ConversionOptions(format: OutputFormat(pathExtensionOf: output) ?? .wav)
    var remaining = arguments[...]
    while let flag = remaining.popFirst() {
        switch flag {
        case "--keep-truncated":
            options.keepsTruncated = true
        case "--track", "--layout", "--rate", "--bitrate":
            let next = remaining.popFirst()
            let value = try #require(next, "\(flag) needs a value")
            switch flag {
            case "--track": options.track = try #require(TrackSelection(rawValue: value), "--track \(value)")
            case "--layout": options.layout = try #require(ChannelLayout(rawValue: value), "--layout \(value)")
            // Unwrapped as Int first: required straight into an optional property, the check could never fail.
            case "--rate":
                let rate: Int = try #require(Int(value), "--rate \(value)")
                options.sampleRate = rate
            default:
                let bitrate: Int = try #require(Int(value.replacingOccurrences(of: "k", with: "000")), "--bitrate \(value)")
                options.opus.bitrate = bitrate
            }
        default:
            Issue.record("convertSession does not read \(flag); add it here")
        }
    }
    _ = try SessionConverter.convert(input: log, to: .file(output), options: options)
}

/// Where interleaved `actual` first differs from `expected`, in frames and channels, with both lengths; nil if equal.
func stereoDifference(_ actual: [Int16], _ expected: [Int16], channelCount: Int = 2) -> String? {
    let names = channelCount == 2 ? ["user (left)", "assistant (right)"] : ["mono"]
    let lengths = "\(actual.count / channelCount) frames, \(expected.count / channelCount) expected"
    for index in 0..<min(actual.count, expected.count) where actual[index] != expected[index] {
        return "frame \(index / channelCount), \(names[index % channelCount]): \(actual[index]), \(expected[index]) expected (\(lengths))"
    }
    return actual.count == expected.count ? nil : "lengths differ: \(lengths)"
}

/// Checks `actual` (interleaved) against the expectation exactly, and that the same expectation moved by one sample
/// (`nudged`) would not have passed: each comparison can fail on a one-sample error.
func expectExact(_ actual: [Int16], _ expected: [Int16], nudged: [Int16], channelCount: Int = 2, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let difference = stereoDifference(actual, expected, channelCount: channelCount)
    #expect(difference == nil, "\(what): \(difference ?? "")", sourceLocation: sourceLocation)
    #expect(stereoDifference(actual, nudged, channelCount: channelCount) != nil,
            "\(what): a one-sample error in the expectation goes unnoticed", sourceLocation: sourceLocation)
}
