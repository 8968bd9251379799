@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeTimeline
import DeltaTapeKernels

extension Vocabulary {
    /// Whether the vocabulary groups assistant audio in responses and items (OpenAI Realtime's do).
    var hasResponses: Bool {
        switch self {
        case .openAI, .openAIGA, .openAIBeta, .openAIGPTLive: true
        case .twilio, .elevenLabs, .geminiLive: false
        }
    }
}

/// Reads a session log through and reports what it holds.
public enum SessionInspector {
    /// Inspects the session at `input`.
    ///
    /// - Parameters:
    ///   - input: A path, or `-` for standard input.
    ///   - kind: The input's kind, when it should not be detected from the content.
    ///   - eventField: The envelope field holding each event, when not a common spelling (`--event-field`).
    /// - Returns: The report; malformed lines are in its ``SessionReport/problems``.
    /// - Throws: ``ConversionError`` when the input cannot be read or is no known kind, or `kind` yields no message.
    ///   - maximumMessageByteCount: The longest message read: a line, an array element, a HAR frame (`--max-message-bytes`).
    public static func inspect(
        input: String, kind: InputKind? = nil, eventField: String? = nil,
        maximumMessageByteCount: Int = ConversionOptions().maximumMessageByteCount
    ) throws(ConversionError) -> SessionReport {
        let log = try ConversionError.carrying { () throws(SessionLogError) in
            try SessionLog.openSession(path: input, kind: kind, eventField: eventField, maximumMessageByteCount: maximumMessageByteCount)
        }
        return try inspect(log)
    }

    /// Inspects the session log an input the caller opened holds (an object in storage), on a thread of its own: the
    /// source's reads block while its bytes come, and no thread of Swift's cooperative pool may wait on them.
    ///
    /// - Throws: As ``inspect(input:kind:eventField:maximumMessageByteCount:)``, and ``ConversionError/badInput(_:)``
    ///   for an audio file.
    package static func inspect<Source: SessionLogSource & Sendable>(
        _ source: Source, kind: InputKind? = nil, eventField: String? = nil,
        maximumMessageByteCount: Int = ConversionOptions().maximumMessageByteCount
    ) async throws(ConversionError) -> SessionReport {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<SessionReport, ConversionError>, Never>) in
            let run = { @Sendable in
                continuation.resume(returning: Result { () throws(ConversionError) -> SessionReport in
                    let opened = try ConversionError.carrying { () throws(SessionLogError) in
                        try SessionLog.open(source, path: source.name, kind: kind, eventField: eventField, maximumMessageByteCount: maximumMessageByteCount)
                    }
                    guard case .session(let log) = opened else {
                        throw .badInput("\(source.name): looks like an audio file; it holds no session events to read")
                    }
                    return try inspect(log)
                })
            }
            if !startDedicatedThread(named: "deltatape-insp", run) {
                continuation.resume(returning: .failure(.unreadableInput(InputError(name: source.name, reason:
                    "the system would not start a thread to read it"))))
            }
        }
        return try result.get()
    }

    /// Reads `log` through and reports what it holds.
    private static func inspect(_ log: SessionLog) throws(ConversionError) -> SessionReport {
        var problems: [Problem] = []
        var problemCount = 0
        var sampler = ProblemSampler()
        func note(_ problem: Problem) {
            problemCount += 1
            if sampler.admit(problem) { problems.append(problem) }
        }
        var counts: [String: Int] = [:]
        var assistant = SessionReport.TrackReport()
        var user = SessionReport.TrackReport()
        var responses = Set<String>()
        var items = Set<String>()
        var payloads = PayloadDecoder()
        var interruptions = 0, deltasAfterDone = 0
        var truncatedItems = Set<AudioStreamKey>()
        var finishedStreams = Set<AudioStreamKey>()
        // Both tracks placed as a conversion would, counted only: no audio is held or written.
        let timeline = ConversationTimeline(selection: .both, sink: CountingSink())
        while let (line, event) = try log.nextEvent(problem: { (problem: Problem) throws(ConversionError) in note(problem) }) {
            timeline.noteTime(event.time)
            // Bounded: type names come from the input, and a hostile log can hold millions of them.
            let type = event.typeName ?? "(no type)"
            counts.tally(type, limit: 1_000, overflow: "(other types)")
            let message = event.message
            switch event.content {
            case .audioDone(let key):
                finishedStreams.insert(AudioStreamKey(key, in: message), limit: maximumDistinctNames)
            case .truncation(let truncation):
                // The client's request and the server's confirmation are one truncation.
                truncatedItems.insert(AudioStreamKey(responseID: nil, itemID: truncation.itemID, contentIndex: truncation.contentIndex, in: message),
                                      limit: maximumDistinctNames)
            case .interruption:
                interruptions += 1
            case .audio, .audioParts, .other:
                break
            }
            // Gemini's interrupted beside audio parts in one message.
            if event.turns.interruption != nil { interruptions += 1 }
            event.forEachAudioDelta { delta in
                payloads.decode(delta, in: message) { result in
                    let duration = delta.format.durationSeconds(byteCount: result.bytes.count)
                    switch delta.track {
                    case .assistant: assistant.add(byteCount: result.bytes.count, seconds: duration, format: delta.format)
                    case .user: user.add(byteCount: result.bytes.count, seconds: duration, format: delta.format)
                    }
                    if let error = result.error {
                        note(Problem(input: log.name, line: line, message: "\(error) in the audio payload"))
                    }
                    timeline.advance(byteCount: result.bytes.count, of: delta, in: message, line: line)
                }
                guard delta.track == .assistant else { return }
                if let range = delta.responseID { responses.insert(JSONString.decode(message, range, hasEscapes: false), limit: maximumDistinctNames) }
                if let range = delta.itemID { items.insert(JSONString.decode(message, range, hasEscapes: false), limit: maximumDistinctNames) }
                if !finishedStreams.isEmpty, finishedStreams.contains(AudioStreamKey(delta, in: message)) {
                    deltasAfterDone += 1
                }
            }
            timeline.takeSignals(of: event, line: line)
        }
        try ConversionError.carrying { () throws(SessionLogError) in try log.refuseForcedKindWithoutMessages() }
        timeline.finish()
        var report = SessionReport(
            input: log.name,
            kind: log.kind.rawValue,
            vocabulary: log.reader.vocabulary?.rawValue,
            vocabularyName: log.reader.vocabulary?.displayName,
            lineCount: log.lineCount,
            messageCount: log.messageCount,
            eventCounts: counts,
            formats: log.reader.formatsSeen.map(\.description),
            assistant: assistant,
            user: user,
            responseCount: log.reader.vocabulary?.hasResponses == true ? responses.count : nil,
            itemCount: log.reader.vocabulary?.hasResponses == true ? items.count : nil,
            truncationCount: truncatedItems.count,
            interruptionCount: interruptions,
            deltasAfterDone: deltasAfterDone,
            webSocketConnectionCount: log.webSocketCounts?.connections,
            nonMessageFrameCount: log.webSocketCounts?.nonMessageFrames,
            wrapper: log.reader.envelope?.description,
            problems: problems + sampler.omissions(input: log.name),
            problemCount: problemCount,
            diagnoses: [],
            timeline: SessionReport.TimelineReport(timeline.statistics)
        )
        report.nonFrameElementCount = log.webSocketCounts?.nonFrameElements
        report.misplacedFrameArrayCount = log.webSocketCounts?.misplacedFrameArrays
        report.diagnoses = diagnose(report, reader: log.reader)
        return report
    }

    /// Plain-language notes for the common traps, each with its stable code.
    static func diagnose(_ report: SessionReport, reader: EventReader) -> [Diagnosis] {
        var notes: [Diagnosis] = []
        // Names are quoted as examples only when the session holds them.
        let occurring = { (names: [String]) in names.filter { report.eventCounts[$0, default: 0] > 0 } }
        let example = { (names: [String], otherwise: String) in
            let found = occurring(names)
            return found.isEmpty ? otherwise : "(" + found.prefix(2).joined(separator: ", ") + ")"
        }
        switch reader.vocabulary {
        case .openAIBeta:
            let names = example(["response.audio.delta", "response.audio.done", "response.audio_transcript.delta", "response.text.delta"],
                                "(its session configuration names beta audio formats: input_audio_format / output_audio_format)")
            notes.append(Diagnosis(code: "openai-beta-names", message: "The session uses the OpenAI Realtime beta event names \(names). "
                + "DeltaTape reads them; code written for the GA API listens for response.output_audio.delta and would hear nothing."))
        case .openAIGA:
            let names = example(["response.output_audio.delta", "response.output_audio.done", "response.output_audio_transcript.delta",
                                 "response.output_text.delta", "conversation.item.added", "conversation.item.done"],
                                "(its session configuration has the GA shape, session.audio)")
            notes.append(Diagnosis(code: "openai-ga-names", message: "The session uses the OpenAI Realtime GA event names \(names)."))
        case .openAI:
            let names = occurring(["input_audio_buffer.append", "session.update", "session.created", "conversation.item.create"]).prefix(2)
            notes.append(Diagnosis(code: "openai-shared-names", message: "The session holds only event names OpenAI's GA and beta APIs share"
                + (names.isEmpty ? "" : " (" + names.joined(separator: ", ") + ", ...)") + ": a client-side log, it seems, without the server's events."))
        case .openAIGPTLive, .twilio, .elevenLabs, .geminiLive:
            notes.append(Diagnosis(code: "vocabulary", message: "The session speaks the \(reader.vocabulary?.displayName ?? "") protocol."))
        case nil:
            notes.append(Diagnosis(code: "no-vocabulary", message: "No known realtime vocabulary was recognized."))
        }
        if report.assistant.deltaCount == 0 {
            let harWithoutFrames = report.kind == InputKind.har.rawValue && report.messageCount == 0
                ? SessionLog.harWithoutFramesExplanation(nonFrameElements: report.nonFrameElementCount ?? 0,
                                                         misplacedFrameArrays: report.misplacedFrameArrayCount ?? 0)
                : nil
            notes += NoAudioDiagnosis.diagnose(track: .assistant, harWithoutFrames: harWithoutFrames,
                                               eventCounts: report.eventCounts, reader: reader, otherTrackDeltaCount: report.user.deltaCount)
        }
        if reader.formatsSeen.contains(where: { $0.encoding != .pcm16 }) {
            notes.append(Diagnosis(code: "g711", message: "The session uses G.711 (8 kHz telephony audio)."))
        }
        if let connections = report.webSocketConnectionCount, connections > 1 {
            notes.append(Diagnosis(code: "har-several-connections", message: "The HAR holds \(connections) WebSocket connections; their messages "
                + "are read in file order as one session (a reconnect continues the conversation)."))
        }
        if let skipped = report.nonMessageFrameCount, skipped > 0 {
            notes.append(Diagnosis(code: "har-frames-skipped", message: "\(counted(skipped, "WebSocket frame")) held no JSON message (another "
                + "protocol's socket in the same export, such as a development server's); \(skipped == 1 ? "it was" : "they were") skipped."))
        }
        if let misplaced = report.misplacedFrameArrayCount, misplaced > 0 {
            notes.append(Diagnosis(code: "har-misplaced-frames", message: "\(counted(misplaced, "_webSocketMessages array")) outside "
                + "log.entries[] (in a request or at log level) \(misplaced == 1 ? "was" : "were") passed over: frames are read only from "
                + "the WebSocket entries, where browsers write them, so that stray or planted arrays never become audio."))
        }
        if let elements = report.nonFrameElementCount, elements > 0 {
            notes.append(Diagnosis(code: "har-not-frames", message: "\(counted(elements, "element")) of _webSocketMessages \(elements == 1 ? "is" : "are") "
                + "not a frame object ([[frames]] nested a level too deep, or a scalar) and \(elements == 1 ? "was" : "were") skipped; "
                + "jq '.log.entries[]._webSocketMessages |= flatten' in.har > out.har flattens nested arrays."))
        }
        if report.deltasAfterDone > 0 {
            notes.append(Diagnosis(code: "deltas-after-done", message: "\(counted(report.deltasAfterDone, "assistant audio delta")) arrived after "
                + "their stream's .done event; DeltaTape keeps them in their stream (a recorder that stops listening at .done loses them)."))
        }
        if report.truncationCount > 0 || report.interruptionCount > 0 {
            let what = [report.truncationCount > 0 ? counted(report.truncationCount, "truncation") : nil,
                        report.interruptionCount > 0 ? counted(report.interruptionCount, "interruption") : nil]
                .compactMap { $0 }.joined(separator: " and ")
            let timeline = report.timeline
            let cut = timeline.cutSeconds + timeline.droppedSeconds
            let effect = cut > 0 ? "a conversion leaves out the \(cut) s the listener did not hear (--keep-truncated keeps it)"
                : "none of them cut audio on the session clock"
            notes.append(Diagnosis(code: "cut-off", message: "The assistant was cut off: \(what); \(effect)."))
        }
        if report.timeline.otherSourceMessages > 0, let assistant = report.timeline.assistantSource, let user = report.timeline.userSource {
            notes.append(Diagnosis(code: "two-vocabularies", message: "The log holds the conversation in more than one vocabulary (a bridge "
                + "logging both of its sides): the assistant track is taken from \(assistant), the user track from \(user); "
                + "\(counted(report.timeline.otherSourceMessages, "audio message")) of the other side \(report.timeline.otherSourceMessages == 1 ? "was" : "were") left out, "
                + "so no audio is recorded twice."))
        }
        if report.problemCount > 0 {
            notes.append(Diagnosis(code: "problems", message: "\(counted(report.problemCount, "problem")) found; a conversion skips malformed "
                + "lines and turns undecodable audio into silence of the same length."))
        }
        return notes
    }
}

/// The most responses, items, finished streams and truncated items ``SessionInspector`` tells apart: their identifiers come
/// from the input, and a hostile log can make every message a new one. Past it, counts stop growing.
let maximumDistinctNames = 1 << 16

extension Set {
    /// Inserts `member` unless the set already holds `limit` members.
    mutating func insert(_ member: Element, limit: Int) {
        if count < limit { insert(member) }
    }
}

/// `1 delta`, `2 deltas`: a count with its noun, singular or plural.
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// A timeline sink that writes nothing: the inspector only counts.
final class CountingSink: TimelineSink {
    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int, track: AudioTrack) {}
    func writeSilence(frameCount: Int, rate: Int, track: AudioTrack) {}
}
