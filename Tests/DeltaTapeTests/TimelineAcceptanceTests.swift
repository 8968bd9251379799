// Acceptance tests of the conversation timeline (issue 11): sessions written for the purpose, converted in process by
// the library (the timeline's layer; the command line has tests of its own), read back by an independent reader, and compared to the sample with what docs/TIMELINE.md says.
// Each expectation is computed here from the rules, step by step, with the rule named beside the arithmetic.
//
// Readings chosen where docs/TIMELINE.md leaves a detail open are marked "Reading:" and listed in the report.
import Foundation
import TestSupport
import Testing

/// Audio for a session: `track` ("user" or "assistant"), an offset into that side's material in samples, a count.
typealias Signal = @Sendable (_ track: String, _ offset: Int, _ count: Int) -> [Int16]

/// Distinctive noise: every offset of every track is different audio.
let noiseSignal: Signal = { track, offset, count in noise("\(track)-\(offset)", count) }

/// 100 ms at 24 kHz.
private let chunk24k = 2_400

// MARK: - Case 1: continuous input with a barge-in

/// OpenAI GA, server VAD: the microphone streams in 100 ms chunks throughout; item A streams faster than real time
/// (a user chunk arrives between its deltas), the user barges in and A is truncated at 700 ms; responses B and C follow,
/// C's first delta arriving while B is still playing.
struct BargeInSession {
    var log: String
    /// The user audio as appended.
    var user: [Int16]
    var a: [Int16], b: [Int16], c: [Int16]
    /// The clock (user samples appended, 24 kHz) when each item's first delta arrived.
    var aArrival: Int, bArrival: Int, cArrival: Int

    /// A's truncation: round(700 ms × 24000 / 1000) samples.
    static let aKept = 16_800

    init(signal: Signal) throws {
        var script = SessionScript()
        var userOffset = 0
        func userChunks(_ count: Int) {
            for _ in 0..<count {
                script.append(signal("user", userOffset, chunk24k))
                userOffset += chunk24k
            }
        }
        script.openAISession()
        userChunks(10)  // clock 1000 ms
        let a = signal("assistant", 0, 36_000)  // 1500 ms
        let aArrival = script.userClock
        script.responseCreated("resp_1")
        script.itemAdded("resp_1", "item_A")
        for part in 0..<5 {
            script.delta("resp_1", "item_A", Array(a[(part * 7_200)..<((part + 1) * 7_200)]))
            if part == 1 { userChunks(1) }  // the microphone keeps streaming between deltas: clock 1100 ms
        }
        script.audioDone("resp_1", "item_A")
        script.responseDone("resp_1")
        userChunks(4)  // clock 1500 ms
        script.speechStarted(1_450, item: "item_U2")
        script.truncation("item_A", audioEndMilliseconds: 700, isRequest: true)
        script.truncation("item_A", audioEndMilliseconds: 700, isRequest: false)
        userChunks(5)  // clock 2000 ms
        let b = signal("assistant", 36_000, 28_800)  // 1200 ms
        let bArrival = script.userClock
        script.response("resp_2", item: "item_B", b, parts: 4)
        userChunks(1)  // clock 2100 ms
        let c = signal("assistant", 64_800, 14_400)  // 600 ms
        let cArrival = script.userClock
        script.response("resp_3", item: "item_C", c, parts: 2)
        userChunks(4)  // clock 2500 ms

        log = try script.write()
        user = script.userAudio
        self.a = a
        self.b = b
        self.c = c
        self.aArrival = aArrival
        self.bArrival = bArrival
        self.cArrival = cArrival
    }

    /// The items as cut (or whole with `--keep-truncated`), in play order.
    func items(keepTruncated: Bool) -> [(audio: [Int16], arrival: Int)] {
        [(keepTruncated ? a : Array(a.prefix(Self.aKept)), aArrival), (b, bArrival), (c, cArrival)]
    }

    /// Rule 1: each item starts at max(clock at its first delta, end of the previous item); the user track is the
    /// user audio as appended.
    func assistantTrack(keepTruncated: Bool) -> [Int16] {
        var track = ExpectedTrack()
        for item in items(keepTruncated: keepTruncated) {
            track.place(item.audio, at: max(item.arrival, track.count))
        }
        return track.samples
    }
}

// MARK: - Case 2: push-to-talk

/// Turn-based input: user turns committed (or sent whole, or ended by the first delta of an assistant item) and
/// assistant items, each starting when the previous one ends.
struct PushToTalkSession {
    var log: String
    /// User turns and assistant items in the order they started arriving.
    var turns: [(isUser: Bool, audio: [Int16])] = []

    init(configuresTurnDetection: Bool) throws {
        var script = SessionScript()
        var turns: [(isUser: Bool, audio: [Int16])] = []
        func userTurn(_ label: String, chunks: Int) -> [Int16] {
            var audio: [Int16] = []
            for index in 0..<chunks {
                let samples = noise("\(label)-\(index)", chunk24k)
                script.append(samples)
                audio += samples
            }
            return audio
        }
        // With `configuresTurnDetection` the session sets `turn_detection: null`; without, the log holds no
        // `turn_detection` at all and the client commits its own turns (rule 2's second form).
        if configuresTurnDetection { script.openAISession(turnDetection: nil) }

        turns.append((true, userTurn("U1", chunks: 8)))  // 800 ms
        script.commit(item: "item_U1")
        script.line(json(["type": "response.create"]))
        let a1 = noise("A1", 24_000)  // 1000 ms
        script.response("resp_1", item: "item_A1", a1, parts: 3)
        turns.append((false, a1))

        turns.append((true, userTurn("U2", chunks: 5)))  // 500 ms
        script.commit(item: "item_U2")
        script.line(json(["type": "response.create"]))
        let a2 = noise("A2", 14_400)  // 600 ms
        script.response("resp_2", item: "item_A2", a2, parts: 2)
        turns.append((false, a2))

        let u3 = noise("U3", 9_600)  // 400 ms, sent whole
        script.createUserItem("item_U3", u3)
        turns.append((true, u3))
        script.line(json(["type": "response.create"]))
        let a3 = noise("A3", 7_200)  // 300 ms
        script.response("resp_3", item: "item_A3", a3, parts: 1)
        turns.append((false, a3))

        // A turn without a commit: it ends at the first delta of the next assistant item.
        turns.append((true, userTurn("U4", chunks: 3)))  // 300 ms
        let a4 = noise("A4", 4_800)  // 200 ms
        script.response("resp_4", item: "item_A4", a4, parts: 2)
        turns.append((false, a4))

        log = try script.write()
        self.turns = turns
    }

    /// Rule 2: each turn starts when the previous one ends; the other track is silent meanwhile.
    var expectedTracks: (user: [Int16], assistant: [Int16]) {
        var user = ExpectedTrack(), assistant = ExpectedTrack()
        var clock = 0
        for turn in turns {
            if turn.isUser { user.place(turn.audio, at: clock) } else { assistant.place(turn.audio, at: clock) }
            clock += turn.audio.count
        }
        return (user.samples, assistant.samples)
    }
}

// MARK: - The tests

@Suite struct TimelineAcceptanceTests {
    private func folder() throws -> URL { try TestEnvironment.temporaryDirectory() }

    /// Converts `log` to a WAV with `arguments` and reads it back.
    private func convertToWAV(_ log: String, _ arguments: [String]) throws -> DecodedWAV {
        let output = try folder().appendingPathComponent("out.wav").path
        try convertSession(log, to: output, arguments)
        return try readWAV(output)
    }

    /// Converts with `--track both` (stereo unless `arguments` say otherwise) and compares exactly with the tracks.
    private func expectStereo(_ log: String, user: [Int16], assistant: [Int16], rate: Int, options arguments: [String] = [],
                              _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let wav = try convertToWAV(log, ["--track", "both"] + arguments)
        #expect(wav.sampleRate == rate && wav.channelCount == 2, "\(what): \(wav.sampleRate) Hz, \(wav.channelCount) channels",
                sourceLocation: sourceLocation)
        expectExact(wav.samples, stereo(user: user, assistant: assistant), nudged: stereo(user: user, assistant: [0] + assistant),
                    what, sourceLocation: sourceLocation)
    }

    /// Converts one track alone and compares exactly.
    private func expectAlone(_ log: String, track: String, _ expected: [Int16], rate: Int, options arguments: [String] = [],
                             _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let wav = try convertToWAV(log, ["--track", track] + arguments)
        #expect(wav.sampleRate == rate && wav.channelCount == 1, "\(what): \(wav.sampleRate) Hz, \(wav.channelCount) channels",
                sourceLocation: sourceLocation)
        expectExact(wav.samples, expected, nudged: [0] + expected, channelCount: 1, what, sourceLocation: sourceLocation)
    }

    // MARK: Case 1

    @Test func continuousSessionWithBargeIn() throws {
        let session = try BargeInSession(signal: noiseSignal)
        // Spelled out: A arrives at 1000 ms (24000) and keeps 700 ms (16800) → ends 40800; B arrives at 2000 ms
        // (48000) after A ended → starts there, ends 76800; C arrives at 2100 ms (50400) while B plays → starts at
        // 76800, ends 91200. The user track is 2500 ms (60000): the assistant's is longer, the user's is padded.
        let assistant = session.assistantTrack(keepTruncated: false)
        #expect(session.aArrival == 24_000 && session.bArrival == 48_000 && session.cArrival == 50_400)
        #expect(assistant.count == 91_200 && session.user.count == 60_000)
        // Stereo is the default layout.
        try expectStereo(session.log, user: session.user, assistant: assistant, rate: 24_000, "barge-in, stereo")
        try expectStereo(session.log, user: session.user, assistant: assistant, rate: 24_000, options: ["--layout", "stereo"],
                         "barge-in, --layout stereo")
    }

    @Test func keepTruncatedKeepsEverythingAndPlacesItWhole() throws {
        let session = try BargeInSession(signal: noiseSignal)
        // A whole (1500 ms) ends at 60000, so B (arrived at 48000) starts at 60000 and C at 88800, ends 103200.
        let assistant = session.assistantTrack(keepTruncated: true)
        #expect(assistant.count == 103_200)
        try expectStereo(session.log, user: session.user, assistant: assistant, rate: 24_000, options: ["--keep-truncated"],
                         "barge-in, --keep-truncated")
        try expectAlone(session.log, track: "assistant", session.a + session.b + session.c, rate: 24_000, options: ["--keep-truncated"],
                        "barge-in, --track assistant --keep-truncated")
    }

    @Test func oneTrackAloneIsItsItemsJoinedAsCut() throws {
        let session = try BargeInSession(signal: noiseSignal)
        let joined = session.items(keepTruncated: false).flatMap(\.audio)
        try expectAlone(session.log, track: "assistant", joined, rate: 24_000, "barge-in, --track assistant")
        try expectAlone(session.log, track: "user", session.user, rate: 24_000, "barge-in, --track user")
    }

    @Test func monoLayoutIsTheSaturatedSum() throws {
        let session = try BargeInSession(signal: noiseSignal)
        let assistant = session.assistantTrack(keepTruncated: false)
        let expected = monoMix(user: session.user, assistant: assistant)
        // Full-range noise on both sides overlaps for 28800 samples (A cut, and B until the user's end): about a quarter
        // of those sums leave 16 bits, so clamping shows.
        let clamped = zip(padded(session.user, to: expected.count), padded(assistant, to: expected.count))
            .filter { !(-32_768...32_767).contains(Int($0) + Int($1)) }.count
        #expect(clamped > 5_000, "only \(clamped) sums saturate")
        let wav = try convertToWAV(session.log, ["--track", "both", "--layout", "mono"])
        #expect(wav.sampleRate == 24_000 && wav.channelCount == 1)
        expectExact(wav.samples, expected, nudged: monoMix(user: session.user, assistant: [0] + assistant), channelCount: 1,
                    "barge-in, --layout mono")
    }

    @Test func separateLayoutWritesBothTracksOnOneClock() throws {
        let session = try BargeInSession(signal: noiseSignal)
        let assistant = session.assistantTrack(keepTruncated: false)
        let frames = max(assistant.count, session.user.count)
        let output = try folder().appendingPathComponent("x.wav").path
        try convertSession(session.log, to: output, ["--track", "both", "--layout", "separate"])
        let base = String(output.dropLast(".wav".count))
        let user = try readWAV(base + ".user.wav"), assistantFile = try readWAV(base + ".assistant.wav")
        #expect(user.channelCount == 1 && assistantFile.channelCount == 1 && user.sampleRate == 24_000 && assistantFile.sampleRate == 24_000)
        #expect(user.frameCount == frames && assistantFile.frameCount == frames, "\(user.frameCount), \(assistantFile.frameCount), \(frames) expected")
        let expectedUser = padded(session.user, to: frames), expectedAssistant = padded(assistant, to: frames)
        expectExact(user.samples, expectedUser, nudged: [0] + expectedUser.dropLast(), channelCount: 1, "separate: user")
        expectExact(assistantFile.samples, expectedAssistant, nudged: [0] + expectedAssistant.dropLast(), channelCount: 1,
                    "separate: assistant")
        // And they are the stereo file's channels.
        let stereoFile = try convertToWAV(session.log, ["--track", "both"])
        #expect(channel(stereoFile.samples, 0, of: 2) == user.samples && channel(stereoFile.samples, 1, of: 2) == assistantFile.samples)
    }

    /// A truncation that arrives after the next item began arriving still cuts its item, and the next item moves up
    /// to the cut end: A (1500 ms) arrives at 1000 ms; B arrives at 1200 ms, queued behind A; A is truncated at 700 ms
    /// only at 1500 ms. A plays 1000–1700, B 1700–2200. (A truncation cuts its item only: B is not dropped.)
    @Test func truncationAfterTheNextItemBeganArriving() throws {
        var script = SessionScript()
        script.openAISession()
        script.appendChunks("u", count: 10, chunk: chunk24k)  // 1000 ms
        let a = noise("A", 36_000), b = noise("B", 12_000)
        let aArrival = script.userClock
        script.response("resp_1", item: "item_A", a, parts: 3)
        script.appendChunks("v", count: 2, chunk: chunk24k)  // 1200 ms
        let bArrival = script.userClock
        script.responseCreated("resp_2", outOfBand: true)
        script.itemAdded("resp_2", "item_B")
        script.deltas("resp_2", "item_B", b, parts: 2)
        script.audioDone("resp_2", "item_B")
        script.responseDone("resp_2")
        script.appendChunks("w", count: 3, chunk: chunk24k)  // 1500 ms
        script.truncation("item_A", audioEndMilliseconds: 700, isRequest: false)
        script.appendChunks("x", count: 5, chunk: chunk24k)  // 2000 ms
        let log = try script.write()

        var assistant = ExpectedTrack()
        assistant.place(a.prefix(16_800), at: aArrival)  // 24000–40800
        assistant.place(b, at: max(bArrival, assistant.count))  // 40800–52800
        #expect(assistant.count == 52_800)
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 24_000, "truncation after the next item")
    }

    /// The common shape of the case above: a two-item response (gpt-realtime-2 on long replies) arrives whole, faster
    /// than real time; the user interrupts 300 ms into P, and the client truncates P at 300 ms and Q, never heard, at
    /// 0 ms. P keeps 7200 samples, Q none.
    @Test func truncatingAMultiItemResponseMidway() throws {
        var script = SessionScript()
        script.openAISession()
        script.appendChunks("u", count: 10, chunk: chunk24k)  // 1000 ms
        let p = noise("P", 24_000), q = noise("Q", 19_200)
        script.responseCreated("resp_1")
        script.itemAdded("resp_1", "item_P", outputIndex: 0)
        script.deltas("resp_1", "item_P", p, parts: 2, outputIndex: 0)
        script.audioDone("resp_1", "item_P", outputIndex: 0)
        script.itemAdded("resp_1", "item_Q", outputIndex: 1)
        script.deltas("resp_1", "item_Q", q, parts: 2, outputIndex: 1)
        script.audioDone("resp_1", "item_Q", outputIndex: 1)
        script.responseDone("resp_1")
        script.appendChunks("v", count: 3, chunk: chunk24k)  // 1300 ms
        script.speechStarted(1_250, item: "item_U2")
        script.truncation("item_P", audioEndMilliseconds: 300, isRequest: true)
        script.truncation("item_Q", audioEndMilliseconds: 0, isRequest: true)
        script.truncation("item_P", audioEndMilliseconds: 300, isRequest: false)
        script.truncation("item_Q", audioEndMilliseconds: 0, isRequest: false)
        script.appendChunks("w", count: 3, chunk: chunk24k)  // 1600 ms
        let log = try script.write()

        var assistant = ExpectedTrack()
        assistant.place(p.prefix(7_200), at: 24_000)
        try expectAlone(log, track: "assistant", Array(p.prefix(7_200)), rate: 24_000, "multi-item response truncated, --track assistant")
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 24_000, "multi-item response truncated")
    }

    // MARK: Case 2

    /// Push-to-talk configured (`turn_detection: null`), and a log with no `turn_detection` whose client commits.
    @Test(arguments: [true, false]) func pushToTalkTurnsFollowEachOther(_ configuresTurnDetection: Bool) throws {
        let session = try PushToTalkSession(configuresTurnDetection: configuresTurnDetection)
        let (user, assistant) = session.expectedTracks
        // U1 0–800, A1 800–1800, U2 1800–2300, A2 2300–2900, U3 2900–3300, A3 3300–3600, U4 3600–3900, A4 3900–4100 ms.
        #expect(user.count == 93_600 && assistant.count == 98_400)
        try expectStereo(session.log, user: user, assistant: assistant, rate: 24_000,
                         "push-to-talk\(configuresTurnDetection ? "" : " (no turn_detection, commits)")")
    }

    // MARK: Case 3

    /// Two out-of-band responses whose deltas alternate on the wire, Y's first; the deltas have odd byte counts, so a
    /// leftover byte of one stream must wait for that stream's next delta, not join the other's.
    @Test func interleavedOutOfBandResponsesDoNotInterleaveTheirAudio() throws {
        var script = SessionScript()
        script.openAISession()
        script.appendChunks("u", count: 5, chunk: chunk24k)  // clock 500 ms = 12000
        let x = noise("X", 21_600), y = noise("Y", 14_400)
        let xBytes = pcm16Bytes(x), yBytes = pcm16Bytes(y)
        func split(_ data: Data, _ sizes: [Int]) -> [Data] {
            var start = data.startIndex
            return sizes.map { size in
                defer { start += size }
                return data[start..<(start + size)]
            }
        }
        let xParts = split(xBytes, [10_001, 9_999, 12_001, 11_199]), yParts = split(yBytes, [9_601, 9_599, 9_600])
        script.line(json(["type": "response.create", "response": json(["conversation": "none", "metadata": json(["topic": "x"])])]))
        script.line(json(["type": "response.create", "response": json(["conversation": "none", "metadata": json(["topic": "y"])])]))
        // X's response was created first; Y's first delta arrives first, so Y plays first.
        script.responseCreated("resp_X", outOfBand: true)
        script.responseCreated("resp_Y", outOfBand: true)
        script.itemAdded("resp_X", "item_X")
        script.itemAdded("resp_Y", "item_Y")
        let arrival = script.userClock
        script.delta("resp_Y", "item_Y", bytes: yParts[0])
        script.delta("resp_X", "item_X", bytes: xParts[0])
        script.appendChunks("v", count: 1, chunk: chunk24k)
        script.delta("resp_Y", "item_Y", bytes: yParts[1])
        script.delta("resp_X", "item_X", bytes: xParts[1])
        script.delta("resp_Y", "item_Y", bytes: yParts[2])
        script.audioDone("resp_Y", "item_Y")
        script.delta("resp_X", "item_X", bytes: xParts[2])
        script.delta("resp_X", "item_X", bytes: xParts[3])
        script.audioDone("resp_X", "item_X")
        script.responseDone("resp_Y")
        script.responseDone("resp_X")
        script.appendChunks("w", count: 5, chunk: chunk24k)  // clock 1100 ms
        let log = try script.write()

        // Both first deltas arrive at 12000: Y plays 12000–26400, X after it, 26400–48000.
        var assistant = ExpectedTrack()
        assistant.place(y, at: arrival)
        assistant.place(x, at: max(arrival, assistant.count))
        #expect(arrival == 12_000 && assistant.count == 48_000)
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 24_000, "interleaved out-of-band responses")
        try expectAlone(log, track: "assistant", y + x, rate: 24_000, "interleaved out-of-band responses, --track assistant")
    }

    // MARK: Case 4

    /// One response with three items: P; Q after more user audio (its own position, a gap after P); R right behind Q.
    @Test func multiItemResponse() throws {
        var script = SessionScript()
        script.openAISession()
        script.appendChunks("u", count: 10, chunk: chunk24k)  // 1000 ms
        let p = noise("P", 9_600), q = noise("Q", 12_000), r = noise("R", 7_200)
        script.responseCreated("resp_1")
        script.itemAdded("resp_1", "item_P", outputIndex: 0)
        let pArrival = script.userClock
        script.deltas("resp_1", "item_P", p, parts: 2, outputIndex: 0)
        script.audioDone("resp_1", "item_P", outputIndex: 0)
        script.appendChunks("v", count: 6, chunk: chunk24k)  // 1600 ms
        script.itemAdded("resp_1", "item_Q", outputIndex: 1)
        let qArrival = script.userClock
        script.deltas("resp_1", "item_Q", q, parts: 2, outputIndex: 1)
        script.audioDone("resp_1", "item_Q", outputIndex: 1)
        script.itemAdded("resp_1", "item_R", outputIndex: 2)
        let rArrival = script.userClock
        script.deltas("resp_1", "item_R", r, parts: 2, outputIndex: 2)
        script.audioDone("resp_1", "item_R", outputIndex: 2)
        script.responseDone("resp_1")
        script.appendChunks("w", count: 4, chunk: chunk24k)  // 2000 ms
        let log = try script.write()

        // P 24000–33600; Q arrives at 38400 (after P ended: silence between) → 38400–50400; R arrives at 38400 too,
        // while Q plays → 50400–57600.
        var assistant = ExpectedTrack()
        for (audio, arrival) in [(p, pArrival), (q, qArrival), (r, rArrival)] { assistant.place(audio, at: max(arrival, assistant.count)) }
        #expect(assistant.count == 57_600 && script.userAudio.count == 48_000)
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 24_000, "multi-item response")
    }

    // MARK: Case 5

    /// Deltas after their item's `response.output_audio.done` (one after the next item began, one after
    /// `response.done`) still belong to their item. No user audio: rule 3, items back to back.
    @Test func lateDeltasBelongToTheirItem() throws {
        var script = SessionScript()
        script.openAISession()
        let l1 = noise("L1", 19_200), l2 = noise("L2", 16_800)  // 800 ms, 700 ms
        script.responseCreated("resp_1")
        script.itemAdded("resp_1", "item_L1")
        script.delta("resp_1", "item_L1", Array(l1[0..<7_200]))
        script.delta("resp_1", "item_L1", Array(l1[7_200..<14_400]))
        script.audioDone("resp_1", "item_L1")
        script.responseCreated("resp_2")
        script.itemAdded("resp_2", "item_L2")
        script.delta("resp_2", "item_L2", Array(l2[0..<9_600]))
        script.delta("resp_1", "item_L1", Array(l1[14_400...]))  // late
        script.delta("resp_2", "item_L2", Array(l2[9_600..<14_400]))
        script.audioDone("resp_2", "item_L2")
        script.responseDone("resp_1")
        script.delta("resp_2", "item_L2", Array(l2[14_400...]))  // late, after its done
        script.responseDone("resp_2")
        let log = try script.write()

        // Reading: with no user audio, --track both is the assistant's items back to back beside a silent user
        // channel of the same length (the tracks end together).
        try expectStereo(log, user: [], assistant: l1 + l2, rate: 24_000, "late deltas")
        try expectAlone(log, track: "assistant", l1 + l2, rate: 24_000, "late deltas, --track assistant")
    }

    /// Two truncations of one item keep the shorter, whichever comes first; a truncation past the item's end cuts
    /// nothing. No user audio: items back to back.
    @Test func truncationsKeepTheShorterAndNeverLengthen() throws {
        var script = SessionScript()
        script.openAISession()
        let x = noise("X", 24_000), y = noise("Y", 12_000)  // 1000 ms, 500 ms
        script.response("resp_1", item: "item_X", x, parts: 3)
        // The shorter first, so that "the last one wins" fails; the request and the confirmation count alike.
        script.truncation("item_X", audioEndMilliseconds: 400, isRequest: true)
        script.truncation("item_X", audioEndMilliseconds: 900, isRequest: false)
        script.response("resp_2", item: "item_Y", y, parts: 2)
        script.truncation("item_Y", audioEndMilliseconds: 5_000, isRequest: false)
        let log = try script.write()

        let expected = Array(x.prefix(9_600)) + y  // round(400 × 24) = 9600; Y whole
        try expectAlone(log, track: "assistant", expected, rate: 24_000, "two truncations, --track assistant")
        try expectStereo(log, user: [], assistant: expected, rate: 24_000, "two truncations, stereo")
    }

    // MARK: Case 6

    /// Gemini Live: user audio at 16 kHz is the clock, model audio at 24 kHz (output rate: the higher). Turn M1 is
    /// complete and playing; M2 arrives while M1 plays (queued); `interrupted` at 1500 ms cuts M1 at 500 ms and drops
    /// M2; M3 arrives later and plays where it arrives.
    @Test func geminiInterruptedTurn() throws {
        var script = SessionScript()
        script.line(json(["setupComplete": json([:])]))
        script.geminiInputChunks("u", count: 10)  // 1000 ms
        let m1 = noise("M1", 24_000), m2 = noise("M2", 9_600), m3 = noise("M3", 9_600)  // 1000, 400, 400 ms at 24 kHz
        let m1Arrival = script.userClock
        script.geminiModelTurn([Array(m1[..<12_000])])
        script.geminiModelTurn([Array(m1[12_000...])])
        script.geminiFlag("generationComplete")
        script.geminiFlag("turnComplete")
        script.geminiInputChunks("v", count: 2)  // 1200 ms
        script.geminiModelTurn([m2])  // queued behind M1, which plays until 2000 ms
        script.geminiInputChunks("w", count: 3)  // 1500 ms
        let interruption = script.userClock
        script.geminiFlag("interrupted")
        script.geminiFlag("turnComplete")
        script.geminiInputChunks("x", count: 3)  // 1800 ms
        let m3Arrival = script.userClock
        script.geminiModelTurn([Array(m3[..<4_800])])
        script.geminiModelTurn([Array(m3[4_800...])])
        script.geminiFlag("turnComplete")
        script.geminiInputChunks("y", count: 2)  // 2000 ms
        let log = try script.write()

        // Clock positions in user samples at 16 kHz, turned into samples at 24 kHz (× 3/2, exact here).
        let m1Start = m1Arrival * 3 / 2, cutAt = interruption * 3 / 2
        #expect(m1Start == 24_000 && cutAt == 36_000)
        // M1 plays at T: cut to T − start = 12000 samples. M2 arrived before the interruption: dropped.
        var assistant = ExpectedTrack()
        assistant.place(m1.prefix(cutAt - m1Start), at: m1Start)
        assistant.place(m3, at: max(m3Arrival * 3 / 2, assistant.count))  // 43200–52800
        #expect(assistant.count == 52_800)
        try expectAlone(log, track: "assistant", Array(m1.prefix(12_000)) + m3, rate: 24_000, "Gemini interrupted, --track assistant")
        try expectGeminiStereo(log, userAt16k: script.userAudio, assistant: assistant.samples, "Gemini interrupted")
    }

    /// Gemini `interrupted: true` in the same message as audio parts. Reading: the parts arrived with the message,
    /// so they join the item first, and the interruption then cuts the item at T − its start. Here M1 had 200 ms
    /// (playing 1000–1200 ms) when the message came at 1300 ms with 400 ms more in two parts: M1 is 1000–1600, playing
    /// at T, and keeps 300 ms — its first part and the first 100 ms of the message's parts.
    @Test func geminiInterruptedWithAudioInTheSameMessage() throws {
        var script = SessionScript()
        script.line(json(["setupComplete": json([:])]))
        script.geminiInputChunks("u", count: 10)  // 1000 ms
        let first = noise("M1a", 4_800), second = noise("M1b", 7_200), third = noise("M1c", 2_400), m2 = noise("M2", 9_600)
        let m1Arrival = script.userClock
        script.geminiModelTurn([first])
        script.geminiInputChunks("v", count: 3)  // 1300 ms
        let interruption = script.userClock
        script.geminiModelTurn([second, third], interrupted: true)
        script.geminiFlag("turnComplete")
        script.geminiInputChunks("w", count: 2)  // 1500 ms
        let m2Arrival = script.userClock
        script.geminiModelTurn([m2])
        script.geminiFlag("turnComplete")
        script.geminiInputChunks("x", count: 3)  // 1800 ms
        let log = try script.write()

        let m1 = first + second + third, m1Start = m1Arrival * 3 / 2, cutAt = interruption * 3 / 2
        #expect(m1Start == 24_000 && cutAt == 31_200)
        var assistant = ExpectedTrack()
        assistant.place(m1.prefix(cutAt - m1Start), at: m1Start)  // 7200 samples: 24000–31200
        assistant.place(m2, at: max(m2Arrival * 3 / 2, assistant.count))  // 36000–45600
        #expect(assistant.count == 45_600)
        try expectAlone(log, track: "assistant", Array(m1.prefix(7_200)) + m2, rate: 24_000,
                        "Gemini interrupted with audio, --track assistant")
        try expectGeminiStereo(log, userAt16k: script.userAudio, assistant: assistant.samples, "Gemini interrupted with audio")

        // inspect counts the interruption that came with audio, and what it cut: M1's 300 ms of 600.
        let inspected = try run(TestEnvironment.deltatapeExecutable.path, ["inspect", log, "--json"])
        let report = try JSONSerialization.jsonObject(with: inspected.standardOutput) as? [String: Any]
        let timeline = report?["timeline"] as? [String: Any]
        #expect(report?["interruptionCount"] as? Int == 1)
        #expect(timeline?["cutItems"] as? Int == 1)
        #expect(timeline?["cutSeconds"] as? Double == 0.3)
        #expect(timeline?["placementRule"] as? String == "continuous-input")
    }

    /// A Gemini log holding the model's audio only: no time passes on its clock, so when `interrupted` comes nothing
    /// had started playing (T is the start of the first item not yet played) and nothing is cut; items back to back.
    @Test func geminiInterruptionWithNothingPlayingCutsNothing() throws {
        var script = SessionScript()
        script.line(json(["setupComplete": json([:])]))
        let m1 = noise("M1", 14_400), m2 = noise("M2", 9_600)
        script.geminiModelTurn([Array(m1[..<7_200])])
        script.geminiModelTurn([Array(m1[7_200...])])
        script.geminiFlag("interrupted")
        script.geminiFlag("turnComplete")
        script.geminiModelTurn([m2])
        script.geminiFlag("turnComplete")
        let log = try script.write()
        try expectAlone(log, track: "assistant", m1 + m2, rate: 24_000, "Gemini without user audio, --track assistant")
        try expectStereo(log, user: [], assistant: m1 + m2, rate: 24_000, "Gemini without user audio")
    }

    /// Stereo at 24 kHz: the assistant channel (not resampled) exactly; the user channel, resampled from 16 kHz, against
    /// sox's resampling of the same audio (SNR), and silent after the user's end.
    private func expectGeminiStereo(_ log: String, userAt16k: [Int16], assistant: [Int16], _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let wav = try convertToWAV(log, ["--track", "both"])
        #expect(wav.sampleRate == 24_000 && wav.channelCount == 2, "\(what): \(wav.sampleRate) Hz, \(wav.channelCount) channels",
                sourceLocation: sourceLocation)
        let userFrames = userAt16k.count * 3 / 2, frames = max(userFrames, assistant.count)
        #expect(wav.frameCount == frames, "\(what): \(wav.frameCount) frames, \(frames) expected", sourceLocation: sourceLocation)
        let right = channel(wav.samples, 1, of: 2), left = channel(wav.samples, 0, of: 2)
        let expectedRight = padded(assistant, to: frames)
        expectExact(right, expectedRight, nudged: [0] + expectedRight.dropLast(), channelCount: 1, "\(what): assistant channel",
                    sourceLocation: sourceLocation)
        // The user's track ends with silence to the assistant's end; one resampler turns it into 24 kHz, so its filter
        // rings on for a few milliseconds after the last spoken sample (measured: 88 samples, at most 252). Compared
        // with sox's resampling of the same padded track, then silent from 20 ms after the user's end.
        let padded16k = padded(userAt16k, to: frames * 2 / 3)
        let reference = try soxResampled(pcm16Bytes(padded16k), from: 16_000, to: 24_000)
        let snr = signalToNoiseRatio(left, reference)
        #expect(snr > 40, "\(what): user channel against sox's resampling: \(snr) dB", sourceLocation: sourceLocation)
        #expect(left.dropFirst(userFrames + 480).allSatisfy { $0 == 0 }, "\(what): user channel not silent 20 ms after the user's end",
                sourceLocation: sourceLocation)

        // The user's track alone is not resampled: exact at 16 kHz.
        try expectAlone(log, track: "user", userAt16k, rate: 16_000, "\(what), --track user", sourceLocation: sourceLocation)

        // Reading: a track already at the output rate is not resampled. At --rate 16000 the roles swap: the user channel is exact, the assistant's whole track (silence and all, one
        // resampler per track) is resampled from 24 kHz, compared with sox's resampling of it.
        let low = try convertToWAV(log, ["--track", "both", "--rate", "16000"])
        let lowFrames = max(userAt16k.count, assistant.count * 2 / 3)
        #expect(low.sampleRate == 16_000 && low.channelCount == 2 && low.frameCount == lowFrames,
                "\(what) at 16 kHz: \(low.sampleRate) Hz, \(low.channelCount) channels, \(low.frameCount) frames, \(lowFrames) expected",
                sourceLocation: sourceLocation)
        let lowLeft = channel(low.samples, 0, of: 2), expectedLeft = padded(userAt16k, to: lowFrames)
        expectExact(lowLeft, expectedLeft, nudged: [0] + expectedLeft.dropLast(), channelCount: 1, "\(what) at 16 kHz: user channel",
                    sourceLocation: sourceLocation)
        let assistantReference = try soxResampled(pcm16Bytes(assistant), from: 24_000, to: 16_000)
        let lowRight = channel(low.samples, 1, of: 2)
        let lowSNR = signalToNoiseRatio(Array(lowRight.prefix(assistantReference.count)), assistantReference)
        // Full-band noise loses its top third going to 16 kHz, and two resamplers' filters cut it differently near the
        // new Nyquist frequency: a lower bar than for tones, still far above what a misplaced item scores (below 0 dB).
        #expect(lowSNR > 15, "\(what) at 16 kHz: assistant channel against sox's resampling: \(lowSNR) dB", sourceLocation: sourceLocation)
    }

    // MARK: Case 7

    /// ElevenLabs, both sides PCM16 at 16 kHz. A1 (event_ids 1–3) arrives at 1000 ms and plays; the `interruption`
    /// (event_id 4) at 1300 ms cuts it at 300 ms; audio events 3 and 4 arriving after it are dropped; A2 (5, 6)
    /// arrives at 1500 ms.
    private func elevenLabsSession() throws -> (log: String, user: [Int16], a1: [Int16], stale: [Int16], a2: [Int16],
                                                 a1Arrival: Int, interruption: Int, a2Arrival: Int) {
        var script = SessionScript()
        script.elevenLabsMetadata()
        script.elevenLabsUserChunks("u", count: 10)  // 1000 ms
        let a1 = noise("A1", 19_200), stale = noise("stale", 6_400), a2 = noise("A2", 12_800)  // 1200, 400, 800 ms
        let a1Arrival = script.userClock
        for (index, id) in [1, 2, 3].enumerated() { script.elevenLabsAudio(Array(a1[(index * 6_400)..<((index + 1) * 6_400)]), id: id) }
        script.line(json(["type": "agent_response", "agent_response_event": json(["agent_response": "Let me tell you about"])]))
        script.elevenLabsUserChunks("v", count: 3)  // 1300 ms
        let interruption = script.userClock
        script.elevenLabsInterruption(id: 4)
        script.elevenLabsAudio(Array(stale[..<3_200]), id: 3)
        script.elevenLabsAudio(Array(stale[3_200...]), id: 4)
        script.elevenLabsUserChunks("w", count: 2)  // 1500 ms
        script.line(json(["type": "user_transcript", "user_transcription_event": json(["user_transcript": "Wait"])]))
        let a2Arrival = script.userClock
        script.elevenLabsAudio(Array(a2[..<6_400]), id: 5)
        script.elevenLabsAudio(Array(a2[6_400...]), id: 6)
        script.elevenLabsUserChunks("x", count: 3)  // 1800 ms
        return (try script.write(), script.userAudio, a1, stale, a2, a1Arrival, interruption, a2Arrival)
    }

    @Test func elevenLabsInterruptionByEventID() throws {
        let session = try elevenLabsSession()
        #expect(session.a1Arrival == 16_000 && session.interruption == 20_800 && session.a2Arrival == 24_000)
        var assistant = ExpectedTrack()
        assistant.place(session.a1.prefix(session.interruption - session.a1Arrival), at: session.a1Arrival)  // 16000–20800
        assistant.place(session.a2, at: max(session.a2Arrival, assistant.count))  // 24000–36800
        try expectStereo(session.log, user: session.user, assistant: assistant.samples, rate: 16_000, "ElevenLabs interruption")
        try expectAlone(session.log, track: "assistant", Array(session.a1.prefix(4_800)) + session.a2, rate: 16_000,
                        "ElevenLabs interruption, --track assistant")
        try expectAlone(session.log, track: "user", session.user, rate: 16_000, "ElevenLabs, --track user")
    }

    /// `--keep-truncated`: nothing cut, nothing dropped. A1 plays whole (16000–35200); the events after the
    /// interruption (stale 3 and 4, then 5 and 6) arrived from 1300 ms on, while A1 still played, so they follow it
    /// without a gap. (However they are grouped into items — with A1, as one item, or split at the user_transcript —
    /// rule 1 gives these same samples.)
    @Test func elevenLabsKeepTruncatedKeepsTheDroppedAudio() throws {
        let session = try elevenLabsSession()
        var assistant = ExpectedTrack()
        assistant.place(session.a1, at: session.a1Arrival)
        assistant.append(session.stale + session.a2)
        #expect(assistant.count == 54_400)
        try expectStereo(session.log, user: session.user, assistant: assistant.samples, rate: 16_000, options: ["--keep-truncated"],
                         "ElevenLabs --keep-truncated")
    }

    /// The queue rule on ElevenLabs: A1 plays from 1000 ms; after a `user_transcript` A2 arrives at 1200 ms, queued
    /// behind A1; the `interruption` at 1400 ms cuts A1 at 400 ms and drops A2 (its first event arrived before the
    /// interruption); A3 arrives after it and plays where it arrives.
    @Test func elevenLabsInterruptionDropsTheQueuedItem() throws {
        var script = SessionScript()
        script.elevenLabsMetadata()
        script.elevenLabsUserChunks("u", count: 10)  // 1000 ms = 16000
        let a1 = noise("A1", 12_800), a2 = noise("A2", 6_400), a3 = noise("A3", 6_400)  // 800, 400, 400 ms
        let a1Arrival = script.userClock
        script.elevenLabsAudio(Array(a1[..<6_400]), id: 1)
        script.elevenLabsAudio(Array(a1[6_400...]), id: 2)
        script.elevenLabsUserChunks("v", count: 2)  // 1200 ms
        script.line(json(["type": "user_transcript", "user_transcription_event": json(["user_transcript": "and"])]))
        script.elevenLabsAudio(a2, id: 3)  // queued: A1 plays until 1800 ms
        script.elevenLabsUserChunks("w", count: 2)  // 1400 ms
        let interruption = script.userClock
        script.elevenLabsInterruption(id: 4)
        script.elevenLabsUserChunks("x", count: 2)  // 1600 ms
        let a3Arrival = script.userClock
        script.elevenLabsAudio(a3, id: 5)
        script.elevenLabsUserChunks("y", count: 2)  // 1800 ms
        let log = try script.write()

        var assistant = ExpectedTrack()
        assistant.place(a1.prefix(interruption - a1Arrival), at: a1Arrival)  // 16000–22400
        assistant.place(a3, at: max(a3Arrival, assistant.count))  // 25600–32000
        #expect(assistant.count == 32_000)
        try expectAlone(log, track: "assistant", Array(a1.prefix(6_400)) + a3, rate: 16_000, "ElevenLabs queued item, --track assistant")
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 16_000, "ElevenLabs queued item")
    }

    /// A log of a Twilio bridge's Twilio side only: the caller's inbound media (timestamps) is the clock; the bridge's
    /// own media (no track) is the assistant, placed by rule 1 on that clock; `clear` at 1400 ms cuts the item playing
    /// (from 1000 ms) at 400 ms; media after the clear is a new item.
    @Test func twilioClearCutsTheBridgesOwnMedia() throws {
        var script = SessionScript()
        script.twilioStart(tracks: ["inbound"])
        var timestamp = 0, user: [Int16] = []
        func inbound(_ count: Int) {
            for _ in 0..<count {
                let bytes = muLawNoise("in-\(timestamp)", 160)
                script.twilioMedia(bytes, track: "inbound", timestamp: timestamp)
                user += muLawDecoded(bytes)
                timestamp += 20
            }
        }
        func outbound(_ label: String, parts: Int, bytes: Int) -> [Int16] {
            var audio: [Int16] = []
            for part in 0..<parts {
                let payload = muLawNoise("\(label)-\(part)", bytes)
                script.twilioMedia(payload, track: nil, timestamp: nil)
                script.line(json(["event": "mark", "streamSid": "MZ1", "mark": json(["name": "part"])]))
                audio += muLawDecoded(payload)
            }
            return audio
        }
        inbound(50)  // 1000 ms
        let first = outbound("S1", parts: 5, bytes: 1_600)  // 1000 ms, arriving at 1000 ms
        inbound(20)  // 1400 ms
        script.line(json(["event": "clear", "streamSid": "MZ1"]))
        inbound(10)  // 1600 ms
        let second = outbound("S2", parts: 2, bytes: 800)  // 200 ms, arriving at 1600 ms
        inbound(10)  // 1800 ms
        let log = try script.write()

        var assistant = ExpectedTrack()
        assistant.place(first.prefix(3_200), at: 8_000)  // cut at 1400 − 1000 ms: 8000–11200
        assistant.place(second, at: max(12_800, assistant.count))  // 12800–14400
        #expect(user.count == 14_400 && assistant.count == 14_400)
        try expectStereo(log, user: user, assistant: assistant.samples, rate: 8_000, "Twilio clear")
        try expectAlone(log, track: "assistant", Array(first.prefix(3_200)) + second, rate: 8_000, "Twilio clear, --track assistant")
    }

    // MARK: Case 8

    /// Twilio with both tracks, mu-law at 8 kHz, placed by `timestamp`: gaps are silence; a chunk overlapping what is
    /// already placed is trimmed (its overlapping start dropped).
    @Test func twilioBothTracksWithTimestampGaps() throws {
        var script = SessionScript()
        script.twilioStart(tracks: ["inbound", "outbound"])
        var user = ExpectedTrack(), assistant = ExpectedTrack()
        // (track, timestamp ms, duration ms), in arrival order (timestamp order, the tracks interleaved).
        let chunks: [(String, Int, Int)] = [
            ("inbound", 0, 20), ("inbound", 20, 20), ("inbound", 40, 20), ("inbound", 60, 20), ("inbound", 80, 20),
            ("outbound", 120, 20), ("outbound", 140, 20), ("outbound", 160, 20),  // gap 0–120 on the assistant track
            ("inbound", 200, 20), ("inbound", 220, 20), ("inbound", 240, 20),  // gap 100–200 on the user track
            ("outbound", 260, 20), ("inbound", 260, 20), ("outbound", 280, 20), ("inbound", 280, 20),  // gap 180–260
            ("outbound", 300, 20), ("inbound", 300, 20), ("outbound", 320, 20), ("inbound", 320, 20),
            ("inbound", 340, 20), ("inbound", 360, 20), ("inbound", 380, 20),
            ("inbound", 400, 30),  // 400–430
            // Reading: "audio that would overlap what is already placed is trimmed" drops the overlapping start of
            // the later chunk and keeps what was placed first.
            ("inbound", 420, 20),  // 420–440: its first 10 ms overlap, trimmed; 430–440 kept
            ("inbound", 440, 20), ("inbound", 460, 20),
        ]
        for (index, (track, timestamp, duration)) in chunks.enumerated() {
            let bytes = muLawNoise("\(track)-\(index)", duration * 8)
            script.twilioMedia(bytes, track: track, timestamp: timestamp)
            let samples = muLawDecoded(bytes)
            if track == "inbound" {
                let start = timestamp * 8, overlap = max(0, user.count - start)
                user.place(samples.dropFirst(overlap), at: start + overlap)
            } else {
                assistant.place(samples, at: timestamp * 8)
            }
        }
        script.line(json(["event": "stop", "streamSid": "MZ1", "stop": json(["accountSid": "AC1", "callSid": "CA1"])]))
        let log = try script.write()
        #expect(user.count == 3_840 && assistant.count == 2_720)
        try expectStereo(log, user: user.samples, assistant: assistant.samples, rate: 8_000, "Twilio both tracks")
    }

    // MARK: Case 9

    /// GPT-Live sideband: reflected input is the user track from 0; output ranges placed at start_ms; the range
    /// 1400–1600 ms never arrived and is silence, as is 0–1000 ms.
    @Test func gptLiveSidebandWithADroppedRange() throws {
        var script = SessionScript()
        script.line(json(["type": "session.started", "session": json(["id": "sess_1"])]))
        let ranges = [(1_000, 1_200), (1_200, 1_400), (1_600, 1_800), (1_800, 2_200)]
        var assistant = ExpectedTrack()
        var next = 0
        for step in 0..<20 {  // 100 ms of reflected input each, the output ranges arriving as their time comes
            script.liveInput(noise("in-\(step)", chunk24k))
            while next < ranges.count, ranges[next].0 <= (step + 1) * 100 - 100 {
                let (start, end) = ranges[next]
                let audio = noise("out-\(start)", (end - start) * 24)
                script.liveOutput(audio, startMilliseconds: start, endMilliseconds: end)
                assistant.place(audio, at: start * 24)
                next += 1
            }
        }
        let log = try script.write()
        #expect(next == ranges.count && assistant.count == 52_800 && script.userAudio.count == 48_000)
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 24_000, "GPT-Live sideband")
        // Reading: one track alone joins positioned audio in arrival order without gaps (docs/TIMELINE.md).
        let joined = ranges.flatMap { noise("out-\($0.0)", ($0.1 - $0.0) * 24) }
        try expectAlone(log, track: "assistant", joined, rate: 24_000, "GPT-Live, --track assistant")
        try expectAlone(log, track: "user", script.userAudio, rate: 24_000, "GPT-Live, --track user")
    }

    /// GPT-Live output ranges that overlap: the later range's overlapping start is trimmed (rule 4), the rest placed.
    @Test func gptLiveOverlappingRangeIsTrimmed() throws {
        var script = SessionScript()
        for step in 0..<10 { script.liveInput(noise("in-\(step)", chunk24k)) }  // 1000 ms
        let first = noise("out-a", 4_800), second = noise("out-b", 4_800)  // 200 ms each
        script.liveOutput(first, startMilliseconds: 200, endMilliseconds: 400)
        script.liveOutput(second, startMilliseconds: 300, endMilliseconds: 500)  // 300–400 overlaps: trimmed
        let log = try script.write()
        var assistant = ExpectedTrack()
        assistant.place(first, at: 4_800)
        assistant.place(second.dropFirst(2_400), at: 9_600)
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 24_000, "GPT-Live overlapping ranges")
    }

    // MARK: Case 10

    /// A bridge logging both its sides: each Twilio inbound chunk is followed by the same payload appended to OpenAI;
    /// each OpenAI delta by the same payload sent to Twilio (no track). The caller interrupts: the bridge sends
    /// `conversation.item.truncate` (audio_end_ms from Twilio timestamps, as the Twilio sample does) and Twilio `clear`;
    /// both say the same cut (400 ms), so either reading of which applies gives the same samples.
    @Test func bridgeLogHasEachTrackOnce() throws {
        var script = SessionScript()
        script.twilioStart(tracks: ["inbound"])
        script.openAISession(turnDetection: "server_vad", format: "audio/pcmu")
        var timestamp = 0
        func inbound(_ count: Int) {
            for _ in 0..<count {
                let bytes = muLawNoise("in-\(timestamp)", 160)
                script.twilioMedia(bytes, track: "inbound", timestamp: timestamp)
                script.append(bytes: bytes, decoded: muLawDecoded(bytes))
                timestamp += 20
            }
        }
        inbound(50)  // 1000 ms
        let arrival = script.userClock
        script.responseCreated("resp_1")
        script.itemAdded("resp_1", "item_A")
        var item: [Int16] = []
        for part in 0..<5 {  // 5 × 200 ms
            let bytes = muLawNoise("out-\(part)", 1_600)
            script.delta("resp_1", "item_A", bytes: Data(bytes))
            script.twilioMedia(bytes, track: nil, timestamp: nil)
            script.line(json(["event": "mark", "streamSid": "MZ1", "mark": json(["name": "responsePart"])]))
            item += muLawDecoded(bytes)
        }
        script.audioDone("resp_1", "item_A")
        script.responseDone("resp_1")
        inbound(20)  // 1400 ms
        script.speechStarted(1_300, item: "item_U2")
        // latest_media_timestamp 1380 − response start 980 = 400 ms, as the Twilio sample computes it.
        script.truncation("item_A", audioEndMilliseconds: 400, isRequest: true)
        script.line(json(["event": "clear", "streamSid": "MZ1"]))
        script.truncation("item_A", audioEndMilliseconds: 400, isRequest: false)
        inbound(25)  // 1900 ms
        let log = try script.write()

        // User: the inbound audio once (1900 ms = 15200 samples). Assistant: item A once, from 1000 ms, 400 ms kept.
        #expect(arrival == 8_000 && script.userAudio.count == 15_200)
        var assistant = ExpectedTrack()
        assistant.place(item.prefix(3_200), at: arrival)
        try expectStereo(log, user: script.userAudio, assistant: assistant.samples, rate: 8_000, "bridge log")
        try expectAlone(log, track: "user", script.userAudio, rate: 8_000, "bridge log, --track user")
        try expectAlone(log, track: "assistant", Array(item.prefix(3_200)), rate: 8_000, "bridge log, --track assistant")
    }

    // MARK: Envelope times (rule 5; in the issue's deliverables, beyond its acceptance list)

    /// Continuous input whose messages carry times: a logging envelope in epoch seconds or in epoch milliseconds
    /// (which must not be read as seconds), or a HAR's frame times. The user streams 1 s in real time, pauses 2 s, and
    /// streams 0.5 s more; the assistant's item arrives during the pause, at 1.5 s.
    @Test(arguments: ["seconds", "milliseconds", "har"]) func messageTimesRefinePlacement(_ form: String) throws {
        var script = SessionScript()
        script.openAISession()
        for index in 0..<10 {  // chunk k arrives when it has been spoken, at (k + 1) × 100 ms
            script.now = Double(index + 1) / 10
            script.append(noise("u-\(index)", chunk24k))
        }
        let item = noise("A", 24_000)  // 1000 ms
        script.now = 1.5
        script.responseCreated("resp_1")
        script.itemAdded("resp_1", "item_A")
        for part in 0..<4 {  // faster than real time: 20 ms apart
            script.now = 1.5 + Double(part) / 50
            script.delta("resp_1", "item_A", Array(item[(part * 6_000)..<((part + 1) * 6_000)]))
        }
        script.audioDone("resp_1", "item_A")
        script.responseDone("resp_1")
        let late = (0..<5).map { noise("v-\($0)", chunk24k) }
        for (index, samples) in late.enumerated() {  // after the pause: arriving at 3.1, 3.2, ... 3.5 s
            script.now = 3.1 + Double(index) / 10
            script.append(samples)
        }
        let log = form == "har" ? try script.writeHAR(epoch: 1_767_000_000)
            : try script.write(envelopeEpoch: 1_767_000_000, milliseconds: form == "milliseconds")

        // User: 0–1 s as appended; the chunk arriving at 3.1 s is more than 0.5 s after the track's end (1 s): it
        // starts at 3.1 − 0.1 = 3.0 s, silence before it; the next chunks arrive within 0.5 s of the end: joined.
        var user = ExpectedTrack()
        user.append(script.userAudio.prefix(24_000))
        user.place(late.joined(), at: 72_000)
        // The item's first delta: clock = max(user-audio clock 1.0 s, its time 1.5 s) = 1.5 s → 36000–60000.
        var assistant = ExpectedTrack()
        assistant.place(item, at: 36_000)
        #expect(user.count == 84_000)
        try expectStereo(log, user: user.samples, assistant: assistant.samples, rate: 24_000,
                         "message times (\(form))")
    }

    // MARK: Opus outputs

    /// Case 1 with speech (which Opus codes well), in stereo Ogg and WebM, decoded by ffmpeg: the exact length at
    /// 48 kHz and, per channel, the correlation peak at lag 0 and a waveform SNR against sox's 48 kHz resampling of the
    /// expected stereo signal.
    @Test(arguments: ["ogg", "webm"]) func stereoOpusLinesUpAtLagZero(_ format: String) throws {
        let userSpeech = try soxDecodeToPCM16(TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav").path)
        let assistantSpeech = try soxDecodeToPCM16(TestEnvironment.packageRoot.appendingPathComponent("TestAudio/assistant-speech.wav").path)
        let user = pcm16Samples(userSpeech), assistantMaterial = pcm16Samples(assistantSpeech)
        let session = try BargeInSession { track, offset, count in
            Array((track == "user" ? user : assistantMaterial)[offset..<(offset + count)])
        }
        let expected = stereo(user: session.user, assistant: session.assistantTrack(keepTruncated: false))
        let output = try folder().appendingPathComponent("out.\(format)").path
        // 96 kbit/s: at libopus's default stereo rate the waveform SNR is 13–16 dB, too near what a one-sample shift
        // scores (9 dB) to tell them apart with a margin; at 96k it is 19–21 dB (measured).
        try convertSession(session.log, to: output, ["--track", "both", "--bitrate", "96k"])
        let decoded = pcm16Samples(try ffmpegDecodeToPCM16(output))
        let reference = try soxResampled(pcm16Bytes(expected), from: 24_000, to: 48_000, channelCount: 2)
        #expect(decoded.count == expected.count * 2, "\(format): \(decoded.count / 2) frames at 48 kHz, \(expected.count) expected")
        for (index, name) in ["user", "assistant"].enumerated() {
            let got = channel(decoded, index, of: 2), wanted = channel(reference, index, of: 2)
            #expect(correlationPeakLag(got, wanted) == 0, "\(format) \(name) channel: correlation peak off lag 0")
            let snr = signalToNoiseRatio(got, wanted)
            #expect(snr > 15, "\(format) \(name) channel: SNR \(snr) dB against the expectation")
            // The expectation one 24 kHz sample late scores far lower (measured 9.7 dB): a one-sample error fails.
            let shifted = signalToNoiseRatio(got, [0, 0] + wanted)
            #expect(snr > shifted + 5, "\(format) \(name) channel: SNR \(snr) dB, one sample late \(shifted) dB")
        }
    }
}
