@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeKernels
import Foundation
import Testing

/// What the event reader extracts from each vocabulary's messages, written from the published shapes
/// (../shared/research/realtime-events.md): the payloads' bytes, formats, ids and timing fields.
@Suite struct EventReaderTests {
    /// Reads `messages` in order with one reader and hands each event and its message's text to `body`.
    private func read(_ messages: [String], _ body: (Int, Event, UnsafeRawBufferPointer) throws -> Void) throws {
        var reader = EventReader()
        for (index, message) in messages.enumerated() {
            let bytes = Array(message.utf8)
            try bytes.withUnsafeBytes { text in
                let event = try reader.read(text)
                try body(index, event, text)
            }
        }
    }

    private func string(_ text: UnsafeRawBufferPointer, _ range: Range<Int>?) -> String? {
        range.map { String(decoding: UnsafeRawBufferPointer(rebasing: text[$0]), as: UTF8.self) }
    }

    private func deltas(_ event: Event) -> [AudioDelta] {
        var deltas: [AudioDelta] = []
        event.forEachAudioDelta { deltas.append($0) }
        return deltas
    }

    @Test func geminiPartsAreEachAudioWithTheirRate() throws {
        let message = #"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAEC"}},"#
            + #"{"text":"hm"},{"inlineData":{"mimeType":"audio/pcm","data":"AwQF"}},"#
            + #"{"inlineData":{"mimeType":"audio/L16;codec=pcm;rate=16000","data":"BgcI"}},"#
            + #"{"inlineData":{"mimeType":"image/png","data":"iVBO"}}]},"outputTranscription":{"text":"x"}}}"#
        try read([message]) { _, event, text in
            let parts = deltas(event)
            #expect(parts.map { string(text, $0.payload) } == ["AAEC", "AwQF", "BgcI"])
            #expect(parts.map(\.format.sampleRate) == [24_000, 24_000, 16_000])
            #expect(parts.allSatisfy { $0.track == .assistant && $0.format.encoding == .pcm16 })
            #expect(string(text, event.typeRange) == "serverContent")
        }
    }

    @Test func geminiClientAudioInBothForms() throws {
        let messages = [
            #"{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"AAAA"}}}"#,
            #"{"realtimeInput":{"audio":{"data":"BBBB"}}}"#,
            #"{"realtimeInput":{"mediaChunks":[{"mimeType":"audio/pcm;rate=8000","data":"CCCC"},{"mimeType":"audio/pcm;rate=8000","data":"DDDD"}]}}"#,
            #"{"serverContent":{"interrupted":true}}"#,
            #"{"serverContent":{"turnComplete":true}}"#,
        ]
        var seen: [[String?]] = []
        var rates: [[Int]] = []
        try read(messages) { index, event, text in
            seen.append(deltas(event).map { string(text, $0.payload) })
            rates.append(deltas(event).map(\.format.sampleRate))
            #expect(deltas(event).allSatisfy { $0.track == .user })
            if index == 3 {
                guard case .interruption(let interruption) = event.content else { Issue.record("no interruption"); return }
                #expect(interruption.eventID == nil)
            }
            if index == 4, case .other = event.content {} else if index == 4 { Issue.record("turnComplete is not audio") }
        }
        #expect(seen == [["AAAA"], ["BBBB"], ["CCCC", "DDDD"], [], []])
        #expect(rates == [[16_000], [16_000], [8_000, 8_000], [], []])
    }

    @Test func openAIStreamEventsCarryTheirKeys() throws {
        let messages = [
            #"{"type":"response.output_audio.done","response_id":"r1","item_id":"i1","output_index":0,"content_index":2}"#,
            #"{"type":"conversation.item.truncated","event_id":"e","item_id":"i1","content_index":0,"audio_end_ms":1500}"#,
            #"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_audio","audio":"QUJD"},{"type":"input_audio","audio":"REVG"}]}}"#,
            #"{"type":"response.audio.delta","response_id":"r2","item_id":"i2","content_index":0,"delta":"R0hJ","metadata":{"delta":"no"}}"#,
        ]
        try read(messages) { index, event, text in
            switch (index, event.content) {
            case (0, .audioDone(let key)):
                #expect(string(text, key.responseID) == "r1" && string(text, key.itemID) == "i1" && key.contentIndex == 2)
            case (1, .truncation(let truncation)):
                #expect(string(text, truncation.itemID) == "i1" && truncation.audioEndMilliseconds == 1500)
            case (2, .audioParts(let parts)):
                #expect(parts.map { string(text, $0.payload) } == ["QUJD", "REVG"])
                #expect(parts.allSatisfy { $0.track == .user })
            case (3, .audio(let delta)):
                #expect(string(text, delta.payload) == "R0hJ" && string(text, delta.responseID) == "r2")
            default:
                Issue.record("message \(index) read as \(event.content)")
            }
        }
    }

    @Test func timingFieldsAreRead() throws {
        let messages = [
            #"{"type":"session.output_audio.delta","delta":"AAAA","start_ms":1200,"end_ms":1400}"#,
            #"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"3","timestamp":"160","payload":"/w=="}}"#,
            #"{"type":"audio","audio_event":{"audio_base_64":"AAAA","event_id":7}}"#,
            #"{"type":"interruption","interruption_event":{"event_id":8}}"#,
            #"{"time":1795000000.25,"source":"server","event":{"type":"response.output_audio.delta","delta":"AAAA"}}"#,
        ]
        try read(messages) { index, event, _ in
            let delta = deltas(event).first
            switch index {
            case 0: #expect(delta?.startMilliseconds == 1200 && delta?.endMilliseconds == 1400)
            case 1: #expect(delta?.startMilliseconds == 160 && delta?.track == .user && delta?.format == .mulaw8k)
            case 2: #expect(delta?.eventID == 7)
            case 3:
                guard case .interruption(let interruption) = event.content else { Issue.record("no interruption"); return }
                #expect(interruption.eventID == 8)
            default: #expect(event.time == 1795000000.25 && delta != nil)
            }
        }
    }

    /// A recorder's session log keeps a message a JSON string cannot hold in base64 (`event_base64`): its bytes,
    /// decoded, are the message, with the envelope's time; bytes that are no JSON object, or base64 that is not valid,
    /// are refused in words.
    @Test func anEventInBase64IsReadFromItsBytes() throws {
        let delta = #"{"type":"response.output_audio.delta","response_id":"r7","delta":"AAECAw=="}"#
        let wrapped = #"{"time":1795000000.5,"source":"server","frame":"binary","event_base64":"\#(Data(delta.utf8).base64EncodedString())"}"#
        try read([wrapped]) { _, event, _ in
            #expect(event.time == 1795000000.5)
            let found = deltas(event).first
            #expect(found.map { string(event.message, $0.payload) } == "AAECAw==")
            #expect(found.map { string(event.message, $0.responseID) } == "r7")
        }
        var reader = EventReader()
        for (bytes, reason) in [(Data([0x00, 0xFF, 0x80]).base64EncodedString(), "bytes are not a JSON object"),
                                ("not*base64", "string is not valid base64")] {
            let message = Array(#"{"source":"client","event_base64":"\#(bytes)"}"#.utf8)
            let error = #expect(throws: EventReadError.self) { try message.withUnsafeBytes { _ = try reader.read($0) } }
            #expect(error?.description.contains("event_base64 " + reason) == true, "\(String(describing: error))")
        }
    }

    @Test func envelopeTimesAreReadAsFoundationReadsThem() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let stamps = ["2026-11-27T04:00:00.125Z", "2024-02-29T23:59:59.5+01:00", "1969-07-20T20:17:40Z", "2000-03-01T00:00:00-05:30",
                      "2100-12-31T12:00:00.001Z"]
        for stamp in stamps {
            let message = #"{"time":"\#(stamp)","source":"server","event":{"type":"response.done"}}"#
            let expected = (formatter.date(from: stamp) ?? plain.date(from: stamp))?.timeIntervalSince1970
            #expect(expected != nil, "Foundation cannot read \(stamp)")
            try read([message]) { _, event, _ in
                #expect(abs((event.time ?? .nan) - (expected ?? .nan)) < 1e-6, "\(stamp): \(String(describing: event.time))")
            }
        }
        for notATime in ["yesterday", "2026-11-27", "2026-13-01T00:00:00Z", "2026-11-27T04:00:00Zjunk"] {
            try read([#"{"time":"\#(notATime)","event":{"type":"x"}}"#]) { _, event, _ in
                #expect(event.time == nil, "\(notATime)")
            }
        }
    }

    @Test func theClientsTruncateAndTheServersTruncatedAreBothTruncations() throws {
        let messages = [
            #"{"type":"conversation.item.truncate","item_id":"i9","content_index":0,"audio_end_ms":800}"#,
            #"{"type":"conversation.item.truncated","item_id":"i9","content_index":0,"audio_end_ms":800}"#,
        ]
        try read(messages) { index, event, text in
            guard case .truncation(let truncation) = event.content else { Issue.record("message \(index) is not a truncation"); return }
            #expect(truncation.isRequest == (index == 0))
            #expect(string(text, truncation.itemID) == "i9" && truncation.audioEndMilliseconds == 800)
        }
    }

    @Test func escapedNamesAreTheirNamesInEveryVocabulary() throws {
        let messages = [
            #"{"type":"session.output\u005faudio.delta","delta":"AAAA","start_ms":0,"end_ms":1}"#,
            #"{"type":"\u0061udio","audio_event":{"audio_base_64":"BBBB","event_id":1}}"#,
            #"{"event":"medi\u0061","media":{"track":"inbound","payload":"CCCC"}}"#,
            #"{"server\u0043ontent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"DDDD"}}]}}}"#,
        ]
        var payloads: [String?] = []
        try read(messages) { _, event, text in payloads.append(deltas(event).first.flatMap { string(text, $0.payload) }) }
        #expect(payloads == ["AAAA", "BBBB", "CCCC", "DDDD"])
    }

    @Test func twilioMediaWithoutATrackIsTheBridgesAudio() throws {
        let messages = [
            #"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","payload":"AAAA"}}"#,
            #"{"event":"media","streamSid":"MZ1","media":{"payload":"BBBB"}}"#,
            #"{"event":"clear","streamSid":"MZ1"}"#,
        ]
        try read(messages) { index, event, _ in
            switch index {
            case 0: #expect(deltas(event).first?.track == .user)
            case 1: #expect(deltas(event).first?.track == .assistant)
            default:
                guard case .interruption = event.content else { Issue.record("clear is not an interruption"); return }
            }
        }
    }

    @Test func gptLiveUsesTheSessionFormatOffTheSideband() throws {
        let messages = [
            #"{"type":"session.updated","session":{"audio":{"output":{"format":{"type":"audio/pcmu"}}}}}"#,
            #"{"type":"session.output_audio.delta","delta":"AAAA"}"#,
            #"{"type":"session.output_audio.delta","delta":"AAAA","start_ms":0,"end_ms":1}"#,
        ]
        var formats: [AudioFormat?] = []
        try read(messages) { _, event, _ in formats.append(deltas(event).first?.format) }
        #expect(formats == [nil, .mulaw8k, .openAIPCM16])
    }

    /// Formats come from the input: a log naming a new rate in every message keeps a bounded list (issue 14, item 2).
    @Test func formatsSeenStayBounded() throws {
        var reader = EventReader()
        for rate in 8_000..<8_200 {
            let message = #"{"type":"session.updated","session":{"type":"realtime","audio":{"output":{"format":{"type":"audio/pcm","rate":\#(rate)}}}}}"#
            _ = try Array(message.utf8).withUnsafeBytes { try reader.read($0) }
        }
        #expect(reader.formatsSeen.count == EventReader.maximumFormatsSeen)
        #expect(reader.formatsSeen.first?.sampleRate == 8_000)
    }

    @Test func aClientSideLogConfiguresItselfAndIsNamedAsSuch() throws {
        var reader = EventReader()
        let messages = [#"{"type":"session.update","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcma"}}}}}"#,
                        #"{"type":"input_audio_buffer.append","audio":"AAAA"}"#]
        var last: AudioFormat?
        for message in messages {
            try Array(message.utf8).withUnsafeBytes { last = deltas(try reader.read($0)).first?.format }
        }
        #expect(last == .alaw8k)
        // session.update's GA shape says GA; a log of appends alone says only "OpenAI".
        #expect(reader.vocabulary == .openAIGA)
        var appendsOnly = EventReader()
        _ = try Array(#"{"type":"input_audio_buffer.append","audio":"AAAA"}"#.utf8).withUnsafeBytes { try appendsOnly.read($0) }
        #expect(appendsOnly.vocabulary == .openAI)
    }

    @Test func formatsNotUnderstoodAreWarningsAndChangeNothing() throws {
        let messages = [
            #"{"type":"session.updated","session":{"audio":{"output":{"format":{"type":"audio/pcm","rate":5000000000}}}}}"#,
            #"{"type":"response.output_audio.delta","delta":"AAAA"}"#,
            #"{"type":"session.updated","session":{"audio":{"output":{"format":{"type":"audio/opus"}}}}}"#,
            #"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/wav","data":"AAAA"}},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}}"#,
            #"{"type":"conversation_initiation_metadata","conversation_initiation_metadata_event":{"agent_output_audio_format":"mp3_44100"}}"#,
        ]
        var warnings: [String?] = []
        try read(messages) { index, event, _ in
            warnings.append(event.warning)
            if index == 1 { #expect(deltas(event).first?.format == .openAIPCM16) }
            if index == 3 { #expect(deltas(event).isEmpty) }
        }
        #expect(warnings[0]?.contains("5000000000") == true)
        #expect(warnings[1] == nil)
        #expect(warnings[2]?.contains("'audio/opus'") == true)
        #expect(warnings[3]?.contains("'audio/wav'") == true && warnings[3]?.contains("image") == false)
        #expect(warnings[4]?.contains("mp3_44100") == true)
    }

    @Test func textOnlyModalitiesAreNoticed() throws {
        var reader = EventReader()
        for message in [#"{"type":"session.created","session":{"output_modalities":["audio"]}}"#,
                        #"{"type":"session.updated","session":{"modalities":["text","audio"]}}"#] {
            _ = try Array(message.utf8).withUnsafeBytes { try reader.read($0) }
        }
        #expect(!reader.sawTextOnlyOutput)
        _ = try Array(#"{"type":"response.created","response":{"id":"r","output_modalities":["text"]}}"#.utf8).withUnsafeBytes { try reader.read($0) }
        #expect(reader.sawTextOnlyOutput)
    }
}

/// The HAR reader hands out each WebSocket frame's message, whatever the read sizes; the expectation is Foundation's
/// JSONSerialization of the same HAR (text frames as they are, binary frames base64-decoded by Foundation).
@Suite struct HARReaderTests {
    static let har = """
        {
          "log": {
            "version": "1.2",
            "entries": [
              {"request": {"url": "https://x.test"}, "response": {"content": {"text": "{\\"_webSocketMessages\\": [1]}"}}},
              {"_resourceType": "websocket", "_webSocketMessages": [
                {"type": "send", "time": 1.25, "opcode": 1, "data": "{\\"type\\":\\"input_audio_buffer.append\\",\\"audio\\":\\"QUJD\\"}"},
                {"type": "receive", "time": 1.5, "opcode": 2, "data": "eyJzZXJ2ZXJDb250ZW50Ijp7InR1cm5Db21wbGV0ZSI6dHJ1ZX19"},
                {"type": "receive", "time": 1.75, "opcode": 9, "data": ""},
                {"type": "receive", "time": 2.0, "opcode": 1, "data": "{\\"a\\":\\"\\\\u00e9 ] } [\\"}"}
              ]},
              {"_webSocketMessages": []},
              {"_webSocketMessages": [{"type": "response", "time": 3.0, "opcode": 1, "data": "{\\"b\\":1}"}]}
            ]
          }
        }
        """

    /// The messages Foundation finds in the HAR: opcode 1 data as is, opcode 2 data decoded; other opcodes skipped.
    private func expectedMessages() throws -> [Data] {
        let root = try JSONSerialization.jsonObject(with: Data(Self.har.utf8)) as! [String: Any]
        let entries = (root["log"] as! [String: Any])["entries"] as! [[String: Any]]
        return entries.flatMap { entry in
            (entry["_webSocketMessages"] as? [[String: Any]] ?? []).compactMap { frame -> Data? in
                let data = frame["data"] as! String
                switch frame["opcode"] as! Int {
                case 1: return Data(data.utf8)
                case 2: return Data(base64Encoded: data)
                default: return nil
                }
            }
        }
    }

    @Test func framesSurviveAnyReadSize() throws {
        let expected = try expectedMessages()
        #expect(expected.count == 4)
        for readSize in [1, 2, 5, 13, 64, 100_000] {
            let reader = HARReader(source: MemoryByteSource(Array(Self.har.utf8), maximumReadSize: readSize), chunkSize: 32)
            var messages: [Data] = []
            var lines: [Int] = []
            var times: [Double?] = []
            var sent: [Bool?] = []
            while let (line, bytes) = try reader.nextMessage() {
                messages.append(Data(bytes))
                lines.append(line)
                times.append(reader.messageTime)
                sent.append(reader.messageWasSent)
            }
            #expect(messages == expected, "read size \(readSize)")
            #expect(lines == [7, 8, 10, 13], "read size \(readSize)")
            #expect(times == [1.25, 1.5, 2.0, 3.0], "read size \(readSize)")
            #expect(sent == [true, false, false, false], "read size \(readSize)")
        }
    }

    @Test(arguments: [#"{"log":{"entries":[{"_webSocketMessages":[}]}}"#, #"{"log":{"entries":[{"_webSocketMessages":[1,}"#,
                      #"{"_webSocketMessages":["#, #"{"_webSocketMessages":[{"opcode":1,"data":"{}"}"#])
    func damagedFrameListsEndTheReading(_ text: String) throws {
        let reader = HARReader(source: MemoryByteSource(Array(text.utf8)), chunkSize: 16)
        var count = 0
        while try reader.nextMessage() != nil {
            count += 1
            if count > text.utf8.count { break }
        }
        #expect(count <= text.utf8.count, "\(text) did not end")
    }

    @Test func harIsDetectedFromItsContent() {
        let kind = Array(Self.har.utf8).withUnsafeBytes { InputKind.detect($0) }
        #expect(kind == .har)
    }
}
