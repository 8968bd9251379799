import DeltaTape
import Foundation
import TestSupport
import Testing

/// Session logs made by TestAudio/make-sessions.py (Python, independent of this code) converted to WAV and read
/// back by sox and ffmpeg: the samples must equal the PCM the script encoded, bit for bit.
@Suite struct ConvertTests {
    static let cleanSessions = ["ga-basic", "beta-basic", "odd-splits", "reordered-keys", "escaped-slashes", "crlf-bom",
                                "envelope", "json-array", "har-openai", "item-create", "cutoffs"]

    private func convert(_ name: String, options: ConversionOptions = ConversionOptions()) throws -> (URL, ConversionSummary, [Problem]) {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(name).wav")
        var problems: [Problem] = []
        let summary = try SessionConverter.convert(input: GeneratedSessions.log(name), to: .file(output.path), options: options) {
            problems.append($0)
        }
        return (output, summary, problems)
    }

    @Test(arguments: cleanSessions) func cleanSessionsAreBitExact(_ name: String) throws {
        let (output, summary, problems) = try convert(name)
        let expected = try GeneratedSessions.expectedAssistant(name)
        #expect(problems.isEmpty, "\(problems)")
        #expect(try soxDecodeToPCM16(output.path) == expected)
        #expect(try ffmpegDecodeToPCM16(output.path) == expected)
        #expect(summary.frameCount == expected.count / 2)
        #expect(summary.sampleRate == 24_000)
        #expect(summary.vocabulary?.rawValue == (try GeneratedSessions.manifest(name).vocabulary))
    }

    @Test func headerIsExactForEveryReader() throws {
        let (output, _, _) = try convert("ga-basic")
        let expectedFrames = try GeneratedSessions.expectedAssistant("ga-basic").count / 2
        // sox reads the sample count from the header.
        let soxi = try run("soxi", ["-s", output.path])
        #expect(soxi.status == 0, "soxi: \(soxi.standardError)")
        #expect(String(decoding: soxi.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(expectedFrames)")
        // ffprobe: the stream's sample rate, channels and duration.
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=sample_rate,channels,codec_name,duration_ts", "-of", "default=nw=1", output.path])
        let fields = String(decoding: probe.standardOutput, as: UTF8.self)
        #expect(probe.status == 0 && probe.standardError.isEmpty, "ffprobe: \(probe.standardError)")
        #expect(fields.contains("codec_name=pcm_s16le") && fields.contains("sample_rate=24000") && fields.contains("channels=1"))
        #expect(fields.contains("duration_ts=\(expectedFrames)"))
        // libsndfile's own diagnostics say "should be" whenever a size disagrees with the file.
        let info = try run("sndfile-info", [output.path])
        let infoText = String(decoding: info.standardOutput, as: UTF8.self)
        #expect(info.status == 0, "sndfile-info: \(info.standardError)")
        #expect(infoText.contains("Frames      : \(expectedFrames)\n"), "\(infoText)")
        #expect(!infoText.contains("should be"))
    }

    @Test func malformedLinesAreWarningsAndTheRestConverts() throws {
        let (output, summary, problems) = try convert("malformed")
        let manifest = try GeneratedSessions.manifest("malformed")
        #expect(problems.map(\.line) == manifest.problemLines)
        #expect(summary.problemCount == manifest.problemLines.count)
        // Undecodable payloads are silence of their payload's length; the truncated line's audio is gone.
        #expect(try soxDecodeToPCM16(output.path) == GeneratedSessions.expectedAssistant("malformed"))
        #expect(problems.allSatisfy { $0.input.hasSuffix("malformed.jsonl") && !$0.message.isEmpty })
    }

    @Test func strictStopsAtTheFirstBadLineAndKeepsWhatWasWritten() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("strict.wav")
        let firstBad = try GeneratedSessions.manifest("malformed").problemLines[0]
        #expect {
            _ = try SessionConverter.convert(input: GeneratedSessions.log("malformed"), to: .file(output.path),
                                             options: ConversionOptions(strict: true))
        } throws: { error in
            guard let error = error as? ConversionError, case .badInput(let message) = error else { return false }
            return message.contains("malformed.jsonl:\(firstBad):")
        }
    }

    @Test func sessionWithoutAudioSaysWhatWasLookedForAndFound() throws {
        #expect {
            _ = try convert("no-audio")
        } throws: { error in
            guard let error = error as? ConversionError, case .badInput(let message) = error else { return false }
            return message.contains("response.output_audio.delta") && message.contains("response.audio.delta")
                && message.contains("3 output_audio_buffer.started")
        }
    }

    @Test func unknownInputSaysWhatWasExpected() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let input = folder.appendingPathComponent("notes.txt")
        try Data("just some notes\nnot a session\n".utf8).write(to: input)
        #expect {
            _ = try SessionConverter.convert(input: input.path, to: .file(folder.appendingPathComponent("x.wav").path))
        } throws: { error in
            guard let error = error as? ConversionError, case .badInput(let message) = error else { return false }
            return message.contains("notes.txt") && message.contains("JSON Lines")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.wav").path))
    }

    @Test func unwritableOutputIsAnIOErrorNamingThePath() throws {
        let path = "/nonexistent-folder/out.wav"
        #expect {
            _ = try SessionConverter.convert(input: GeneratedSessions.log("ga-basic"), to: .file(path))
        } throws: { error in
            guard let error = error as? ConversionError, case .output(let failure) = error else { return false }
            return failure.path == path && error.description.contains(path)
        }
    }

    @Test func missingInputIsAnIOErrorNamingThePath() throws {
        #expect {
            _ = try SessionConverter.convert(input: "/nonexistent/session.jsonl", to: .file("/tmp/unused.wav"))
        } throws: { error in
            guard let error = error as? ConversionError, case .unreadableInput(let failure) = error else { return false }
            return failure.name == "/nonexistent/session.jsonl" && failure.code == ENOENT && error.description.contains(failure.name)
        }
    }

    @Test func floatOutputHoldsTheSameSignal() throws {
        let (output, _, _) = try convert("ga-basic", options: ConversionOptions(sampleFormat: .f32))
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name", "-of", "default=nw=1:nk=1", output.path])
        #expect(String(decoding: probe.standardOutput, as: UTF8.self).contains("pcm_f32le"))
        // Scaling by 1/32768 and back is exact for every 16-bit value (ffmpeg converts without dither; sox dithers).
        #expect(try ffmpegDecodeToPCM16(output.path) == GeneratedSessions.expectedAssistant("ga-basic"))
    }
}

/// `--rate`: the pipeline resamples the track as a stream of odd-sized deltas; the result must agree with sox's
/// very-high-quality resampler run on the whole expected PCM (an independent implementation), and have the length
/// sox gives it.
@Suite struct ResampledConvertTests {
    /// - Parameter minimumSNR: measured 58, 74, 38 and 75 dB; libsamplerate's filter going down to 8 kHz leaves more
    ///   of the band edge than sox's. A stage scaling the signal by ½ scores about 6 dB.
    @Test(arguments: [(ResamplerEngine.soxr, 16_000, 50.0), (.soxr, 44_100, 60), (.libsamplerate, 8_000, 30), (.libsamplerate, 48_000, 60)])
    func resampledOutputAgreesWithSox(_ engine: ResamplerEngine, _ rate: Int, _ minimumSNR: Double) throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("resampled.wav")
        let summary = try SessionConverter.convert(input: GeneratedSessions.log("odd-splits"), to: .file(output.path),
                                                   options: ConversionOptions(sampleRate: rate, resampler: engine, quality: .high))
        #expect(summary.sampleRate == rate)
        let reference = try soxResampled(GeneratedSessions.expectedAssistant("odd-splits"), from: 24_000, to: rate)
        let written = pcm16Samples(try soxDecodeToPCM16(output.path))
        #expect(written.count == reference.count)
        let snr = signalToNoiseRatio(written, reference)
        #expect(snr >= minimumSNR, "SNR against sox's rate -v: \(snr) dB")
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=sample_rate", "-of", "default=nw=1:nk=1", output.path])
        #expect(probe.status == 0)
        #expect(String(decoding: probe.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(rate)")
    }
}

/// Sessions in G.711, and a session that changes format between responses.
@Suite struct FormatConvertTests {
    @Test func g711SessionIsBitExactToPythonsExpansionAt8kHz() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("g711.wav")
        let summary = try SessionConverter.convert(input: GeneratedSessions.log("g711-ulaw"), to: .file(output.path))
        #expect(summary.sampleRate == 8_000)
        #expect(try soxDecodeToPCM16(output.path) == GeneratedSessions.expectedAssistant("g711-ulaw"))
    }

    @Test func aFormatChangeIsResampledNotDropped() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("mixed.wav")
        var problems: [Problem] = []
        let summary = try SessionConverter.convert(input: GeneratedSessions.log("mixed-formats"), to: .file(output.path)) { problems.append($0) }
        #expect(problems.isEmpty)
        #expect(summary.sampleRate == 24_000)
        let written = try soxDecodeToPCM16(output.path)
        let first = try GeneratedSessions.expectedAssistant("mixed-formats")
        // The PCM16 response is untouched; the A-law one follows, resampled from 8 kHz.
        #expect(written.prefix(first.count) == first)
        let resampled = try GeneratedSessions.manifestNumber("mixed-formats", "resampled_input_frames")
        #expect(abs(written.count / 2 - first.count / 2 - resampled * 3) <= 1)
        // The resampled part agrees with sox's resampling of Python's A-law expansion of the same codes.
        // (measured 49 dB; a stage halving the signal scores 6)
        let source = try Data(contentsOf: GeneratedSessions.directory().appendingPathComponent("mixed-formats.resampled-source.raw"))
        let reference = try soxResampled(source, from: 8_000, to: 24_000)
        let snr = signalToNoiseRatio(pcm16Samples(written.dropFirst(first.count)), reference)
        #expect(snr >= 40, "SNR of the resampled A-law response against sox's rate -v: \(snr) dB")
    }
}

/// Audio files and headerless PCM, for plain format and rate conversion; sox makes and decodes the references.
@Suite struct AudioInputTests {
    private func sox(_ arguments: [String]) throws {
        let result = try run("sox", arguments)
        guard result.status == 0 else { throw TestSupportError("sox \(arguments): \(result.standardError)") }
    }

    @Test func flacToWAVIsBitExactAndKeepsChannels() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let flac = folder.appendingPathComponent("tone.flac").path, wav = folder.appendingPathComponent("tone.wav").path
        try sox(["-D", "-n", "-r", "44100", "-c", "2", "-b", "16", flac, "synth", "1.3", "sine", "440", "sine", "1234", "gain", "-6"])
        let summary = try SessionConverter.convert(input: flac, to: .file(wav))
        #expect(summary.sampleRate == 44_100 && summary.channelCount == 2 && !summary.isSession)
        #expect(try soxDecodeToPCM16(wav) == soxDecodeToPCM16(flac))
    }

    @Test(arguments: ResamplerEngine.allCases) func audioFileResampledAgreesWithSox(_ engine: ResamplerEngine) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let source = folder.appendingPathComponent("tone.wav").path
        let ours = folder.appendingPathComponent("ours.wav").path, theirs = folder.appendingPathComponent("sox.wav").path
        try sox(["-D", "-n", "-r", "44100", "-c", "1", "-b", "16", source, "synth", "2", "sine", "440", "sine", "3100", "gain", "-8"])
        try sox(["-D", source, "-r", "16000", theirs, "rate", "-v"])
        _ = try SessionConverter.convert(input: source, to: .file(ours), options: ConversionOptions(sampleRate: 16_000, resampler: engine))
        let a = try soxDecodeToPCM16(ours).withUnsafeBytes { $0.bindMemory(to: Int16.self).map(Double.init) }
        let b = try soxDecodeToPCM16(theirs).withUnsafeBytes { $0.bindMemory(to: Int16.self).map(Double.init) }
        #expect(abs(a.count - b.count) <= 1)
        var signal = 0.0, noise = 0.0
        for index in 800..<(min(a.count, b.count) - 800) {
            signal += b[index] * b[index]
            noise += (a[index] - b[index]) * (a[index] - b[index])
        }
        let snr = 10 * log10(signal / max(noise, 1e-9))
        #expect(snr >= 50, "SNR against sox's own resampler: \(snr) dB")
    }

    @Test func rawMulawFromStandardInputMatchesSoxsDecoding() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let source = folder.appendingPathComponent("speech.wav").path, ulaw = folder.appendingPathComponent("speech.ulaw").path
        let out = folder.appendingPathComponent("speech-out.wav").path
        try sox([TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav").path, "-r", "8000", source])
        try sox([source, "-t", "raw", "-e", "mu-law", "-b", "8", "-c", "1", ulaw])
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["convert", "-", "-o", out, "--input-format", "mulaw", "--input-rate", "8000"],
                             input: try Data(contentsOf: URL(fileURLWithPath: ulaw)))
        #expect(result.status == 0, "\(result.standardError)")
        let reference = try run("sox", ["-t", "raw", "-e", "mu-law", "-b", "8", "-c", "1", "-r", "8000", ulaw, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"])
        #expect(try soxDecodeToPCM16(out) == reference.standardOutput)
    }

    @Test func rawStereoPCMKeepsItsFrames() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let raw = folder.appendingPathComponent("stereo.raw"), out = folder.appendingPathComponent("stereo.wav").path
        var frames: [Int16] = []
        for index in 0..<10_001 {
            frames.append(Int16(truncatingIfNeeded: index &* 37))
            frames.append(Int16(truncatingIfNeeded: -index &* 11))
        }
        try frames.withUnsafeBytes { Data($0) }.write(to: raw)
        let summary = try SessionConverter.convert(input: raw.path, to: .file(out),
                                                   options: ConversionOptions(rawInput: AudioFormat(encoding: .pcm16, sampleRate: 22_050, channelCount: 2)))
        #expect(summary.channelCount == 2 && summary.sampleRate == 22_050 && summary.frameCount == 10_001)
        #expect(try soxDecodeToPCM16(out) == frames.withUnsafeBytes { Data($0) })
    }
}

/// The other vocabularies' assistant audio (part of issue 4): Twilio outbound mu-law, ElevenLabs agent audio in the
/// format the metadata names, GPT-Live sideband output deltas; bit-exact to what the script encoded.
@Suite struct VocabularyTests {
    @Test(arguments: ["twilio", "twilio-bridge", "elevenlabs", "gpt-live", "gemini", "har-gemini"])
    func assistantAudioIsBitExact(_ name: String) throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(name).wav")
        var problems: [Problem] = []
        let summary = try SessionConverter.convert(input: GeneratedSessions.log(name), to: .file(output.path)) { problems.append($0) }
        #expect(problems.isEmpty, "\(problems)")
        #expect(summary.vocabulary?.rawValue == (try GeneratedSessions.manifest(name).vocabulary))
        #expect(summary.sampleRate == (try GeneratedSessions.manifestNumber(name, "rate")))
        #expect(try soxDecodeToPCM16(output.path) == GeneratedSessions.expectedAssistant(name))
    }

    @Test func inspectNamesTheVocabulary() throws {
        let report = try SessionInspector.inspect(input: GeneratedSessions.log("twilio"))
        #expect(report.vocabularyName == "Twilio Media Streams")
        #expect(report.eventCounts["media"] != nil && report.eventCounts["start"] == 1)
    }
}

/// `--track user`: the input the client sent, joined in order, bit-exact to what the script encoded.
@Suite struct UserTrackTests {
    @Test(arguments: ["ga-basic", "beta-basic", "crlf-bom", "envelope", "reordered-keys", "twilio", "twilio-bridge", "elevenlabs",
                      "gpt-live", "gemini", "har-gemini", "har-openai", "item-create"])
    func userTrackIsBitExact(_ name: String) throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(name)-user.wav")
        _ = try SessionConverter.convert(input: GeneratedSessions.log(name), to: .file(output.path), options: ConversionOptions(track: .user))
        #expect(try soxDecodeToPCM16(output.path) == GeneratedSessions.expectedUser(name))
    }

    @Test func inspectReportsTheUserTrack() throws {
        let report = try SessionInspector.inspect(input: GeneratedSessions.log("ga-basic"))
        let frames = try GeneratedSessions.expectedUser("ga-basic").count / 2
        #expect(abs(report.user.durationSeconds - Double(frames) / 24_000) < 1e-9)
    }
}

/// `inspect`'s counts and plain-language diagnoses, against what the fixture script says it wrote.
@Suite struct DiagnosisTests {
    private func inspect(_ name: String) throws -> SessionReport {
        try SessionInspector.inspect(input: GeneratedSessions.log(name))
    }

    @Test func aDataChannelLogIsRecognizedAsWebRTC() throws {
        let report = try inspect("no-audio")
        #expect(report.assistant.deltaCount == 0)
        #expect(report.diagnoses.contains { $0.message.contains("WebRTC") && $0.message.contains("media track") })
    }

    @Test func aTextOnlySessionSaysSo() throws {
        let report = try inspect("text-only")
        #expect(report.diagnoses.contains { $0.message.contains("text output only") })
        #expect(!report.diagnoses.contains { $0.message.contains("WebRTC") })
    }

    @Test func lateDeltasAndTruncationsAreCounted() throws {
        let report = try inspect("cutoffs")
        #expect(report.deltasAfterDone == (try GeneratedSessions.manifestNumber("cutoffs", "deltas_after_done")))
        #expect(report.truncationCount == (try GeneratedSessions.manifestNumber("cutoffs", "truncations")))
        #expect(report.diagnoses.contains { $0.message.contains("after their stream's .done") })
        // A session without late deltas reports none.
        #expect(try inspect("ga-basic").deltasAfterDone == 0)
    }

    @Test(arguments: ["gemini", "elevenlabs", "twilio-bridge"]) func interruptionsAreCounted(_ name: String) throws {
        let report = try inspect(name)
        #expect(report.interruptionCount == (try GeneratedSessions.manifestNumber(name, "interruptions")))
        #expect(report.truncationCount == 0)
    }

    @Test func transcriptsWithoutDeltasAreNotClaimedToBeWebRTC() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let log = folder.appendingPathComponent("filtered.jsonl")
        let lines = [
            #"{"type":"session.created","session":{"type":"realtime","audio":{"output":{"format":{"type":"audio/pcm","rate":24000}}}}}"#,
            #"{"type":"input_audio_buffer.append","audio":"AAAAAA=="}"#,
            #"{"type":"response.output_audio_transcript.delta","response_id":"r","item_id":"i","delta":"Hi"}"#,
        ]
        try Data(lines.joined(separator: "\n").utf8).write(to: log)
        let report = try SessionInspector.inspect(input: log.path)
        #expect(!report.diagnoses.contains { $0.message.hasPrefix("This is a WebRTC") })
        #expect(report.diagnoses.contains { $0.message.contains("left the audio deltas out") })
        #expect(report.diagnoses.contains { $0.message.contains("--track user") })
    }

    @Test func aHARWithoutFramesIsExplained() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let har = folder.appendingPathComponent("empty.har")
        try Data(#"{"log": {"version": "1.2", "entries": [{"request": {"url": "https://x.test"}}]}}"#.utf8).write(to: har)
        let report = try SessionInspector.inspect(input: har.path)
        #expect(report.webSocketConnectionCount == 0)
        #expect(report.diagnoses.contains { $0.message.contains("no WebSocket frames") })
    }

    @Test func betaNamesAndG711AreExplained() throws {
        #expect(try inspect("beta-basic").diagnoses.contains { $0.message.contains("beta") && $0.message.contains("response.output_audio.delta") })
        #expect(try inspect("g711-ulaw").diagnoses.contains { $0.message.contains("G.711") })
        #expect(!(try inspect("ga-basic").diagnoses.contains { $0.message.contains("G.711") }))
    }

    @Test func geminiReportsBothRates() throws {
        let report = try inspect("gemini")
        #expect(report.vocabularyName == "Gemini Live")
        #expect(report.formats.contains { $0.contains("16000") } && report.formats.contains { $0.contains("24000") })
        let userFrames = try GeneratedSessions.expectedUser("gemini").count / 2
        let userRate = try GeneratedSessions.manifestNumber("gemini", "user_rate")
        #expect(abs(report.user.durationSeconds - Double(userFrames) / Double(userRate)) < 1e-9)
    }
}

/// HAR exports: problems name the frame and its line; a HAR cut short still gives the audio before the cut.
@Suite struct HARTests {
    @Test func badFramesAreWarningsNamingFrameAndLine() throws {
        let delta = #"{\"type\":\"response.output_audio.delta\",\"delta\":\"AAAAAA==\"}"#
        let text = """
            {"log": {"entries": [{"_webSocketMessages": [
            {"type": "receive", "time": 1.5, "opcode": 1, "data": "\(delta)"},
            {"type": "receive", "time": 1.6, "opcode": 2, "data": "!!not base64"},
            {"type": "receive", "time": 1.7, "opcode": 1, "data": "{not json"},
            {"type": "receive", "time": 1.8, "opcode": 1, "data": "\(delta)"}
            ]}]}}
            """
        let folder = try TestEnvironment.temporaryDirectory()
        let input = folder.appendingPathComponent("bad.har")
        try Data(text.utf8).write(to: input)
        var problems: [Problem] = []
        let summary = try SessionConverter.convert(input: input.path, to: .file(folder.appendingPathComponent("bad.wav").path)) {
            problems.append($0)
        }
        #expect(summary.frameCount == 4)  // two frames of two silent samples each
        #expect(problems.map(\.line) == [3, 4])
        #expect(problems.first?.message.hasPrefix("WebSocket frame 2 (received): ") == true)
        #expect(problems.first?.message.contains("base64") == true)
        #expect(problems.last?.message.hasPrefix("WebSocket frame 3 (received): invalid JSON") == true)
    }

    @Test func anotherProtocolsSocketIsSkippedAndConnectionsAreCounted() throws {
        let delta = #"{\"type\":\"response.output_audio.delta\",\"delta\":\"AAAAAA==\"}"#
        let text = """
            {"log": {"entries": [
            {"request": {"url": "ws://localhost:5173/socket.io/"}, "_webSocketMessages": [
              {"type": "receive", "time": 1.0, "opcode": 1, "data": "0{\\"sid\\":\\"x\\"}"},
              {"type": "send", "time": 1.1, "opcode": 1, "data": "2"},
              {"type": "receive", "time": 1.2, "opcode": 1, "data": "42[\\"update\\",{}]"}]},
            {"request": {"url": "wss://api.openai.com/v1/realtime"}, "_webSocketMessages": [
              {"type": "receive", "time": 2.0, "opcode": 1, "data": "\(delta)"}]},
            {"request": {"url": "wss://api.openai.com/v1/realtime"}, "_webSocketMessages": [
              {"type": "receive", "time": 3.0, "opcode": 1, "data": "\(delta)"},
              {"type": "receive", "time": 3.1, "opcode": 1, "data": "{broken"}]}
            ]}}
            """
        let folder = try TestEnvironment.temporaryDirectory()
        let input = folder.appendingPathComponent("mixed.har")
        try Data(text.utf8).write(to: input)
        var problems: [Problem] = []
        let summary = try SessionConverter.convert(input: input.path, to: .file(folder.appendingPathComponent("mixed.wav").path)) {
            problems.append($0)
        }
        #expect(summary.frameCount == 4)
        #expect(problems.count == 1)
        #expect(problems.first?.line == 10)
        #expect(problems.first?.message.hasPrefix("WebSocket frame 6 (connection 3, received): invalid JSON") == true)
        let report = try SessionInspector.inspect(input: input.path)
        #expect(report.webSocketConnectionCount == 3 && report.nonMessageFrameCount == 3)
        #expect(report.diagnoses.contains { $0.message.contains("3 WebSocket connections") })
    }

    @Test func arraysAfterTheFirstAreReadAndOtherTrailingTextIsAWarning() throws {
        let delta = #"{"type":"response.output_audio.delta","delta":"AAAAAA=="}"#
        let folder = try TestEnvironment.temporaryDirectory()
        let input = folder.appendingPathComponent("appended.json")
        try Data("[\(delta),\n\(delta)]\n[\(delta)]\n{\"garbage\": 1}\n".utf8).write(to: input)
        var problems: [Problem] = []
        let summary = try SessionConverter.convert(input: input.path, to: .file(folder.appendingPathComponent("appended.wav").path)) {
            problems.append($0)
        }
        #expect(summary.frameCount == 6)
        #expect(problems.map(\.line) == [4])
        #expect(problems.first?.message.contains("after the end of the JSON array") == true)
    }

    @Test func aHARCutShortKeepsTheAudioBeforeTheCut() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("har-openai")))
        let folder = try TestEnvironment.temporaryDirectory()
        let input = folder.appendingPathComponent("cut.har")
        try whole.prefix(whole.count * 3 / 5).write(to: input)
        let output = folder.appendingPathComponent("cut.wav")
        var problems: [Problem] = []
        _ = try SessionConverter.convert(input: input.path, to: .file(output.path)) { problems.append($0) }
        let decoded = try soxDecodeToPCM16(output.path)
        let expected = try GeneratedSessions.expectedAssistant("har-openai")
        #expect(decoded.count > expected.count / 4)
        #expect(decoded == expected.prefix(decoded.count))
        #expect(problems.count == 2)  // the frame the cut went through, and that the HAR ends early
        #expect(problems.first?.message.contains("WebSocket frame") == true)
        #expect(problems.last?.message.contains("the HAR ends before its closing brackets") == true, "\(problems)")
    }
}

/// Rates and channel counts a WAV header cannot hold are errors naming the output, not traps.
@Suite struct WAVWriterLimitTests {
    @Test(arguments: [5_000_000_000, 0, -8000]) func impossibleRatesAreErrors(_ rate: Int) throws {
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("limits.wav").path
        #expect(throws: OutputError.self) { _ = try WAVWriter(sink: FileDescriptorSink(path: path), sampleRate: rate) }
        #expect(throws: OutputError.self) { _ = try WAVWriter(sink: FileDescriptorSink(path: path), sampleRate: 24_000, channelCount: 0) }
    }
}
