import DeltaTape
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Testing
import TestSupport
@testable import DeltaTapeRelay

/// The relay's parts alone: the upstream address, the headers passed on, joining fragments, recording names, unmasking.
@Suite struct RelayPartsTests {
    /// The relay's word-at-a-time unmasking gives what NIO's own (a byte at a time) gives: every length around the
    /// eight-byte words, every key offset, keys and payloads at random; a frame with no key is left as it is.
    @Test func unmaskingAFrameGivesWhatNIOsUnmaskingGives() {
        var generator = SystemRandomNumberGenerator()
        for length in Array(0...40) + [1_279, 1_280, 1_281, 65_543] {
            for offset in 0..<4 {
                let key = WebSocketMaskingKey.random(using: &generator)
                let payload = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
                var expected = payload
                expected.webSocketUnmask(key, indexOffset: offset)
                var unmasked = payload
                unmasked.unmaskWebSocketPayload(key, indexOffset: offset)
                #expect(unmasked == expected, "length \(length), offset \(offset)")
            }
            let key = WebSocketMaskingKey.random(using: &generator)
            let data = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let masked = WebSocketFrame(fin: true, opcode: .text, maskKey: key, data: data)
            #expect(masked.unmaskedPayload == masked.unmaskedData, "length \(length)")
            #expect(WebSocketFrame(fin: true, opcode: .text, data: data).unmaskedPayload == data)
        }
    }

    @Test(arguments: [
        ("wss://api.openai.com", "/v1/realtime", "model=gpt-realtime", "wss://api.openai.com:443/v1/realtime?model=gpt-realtime"),
        ("ws://127.0.0.1:9000/", "/ws/x", nil, "ws://127.0.0.1:9000/ws/x"),
        ("https://example.org/base/", "/v1/realtime", "a=1&b=2", "wss://example.org:443/base/v1/realtime?a=1&b=2"),
        ("ws://[::1]:8080", "/", "key=abc", "ws://[::1]:8080/?key=abc"),
    ] as [(String, String, String?, String)])
    func theClientsPathAndQueryFollowTheUpstream(upstream: String, path: String, query: String?, expected: String) throws {
        #expect(try UpstreamURL(parsing: upstream).url(path: path, query: query) == expected)
    }

    @Test(arguments: ["ftp://x", "ws://", "ws://host:0", "ws://host:70000", "wss://host/?key=1", "api.openai.com"])
    func anUpstreamOfAnotherFormIsRefusedWithASentence(text: String) {
        #expect(throws: RelayError.self) { try UpstreamURL(parsing: text) }
    }

    /// Only the credentials, versions and subprotocols are passed on; cookies, hosts and anything else are not.
    @Test func onlyTheHeadersTheUpstreamNeedsArePassedOn() {
        var headers = HTTPFields()
        headers[.authorization] = "Bearer sk-1"
        headers[HTTPField.Name("OpenAI-Beta")!] = "realtime=v1"
        headers[HTTPField.Name("api-key")!] = "azure-key"
        headers[.secWebSocketProtocol] = "realtime, openai-insecure-api-key.sk-2"
        headers[.cookie] = "session=private"
        headers[HTTPField.Name("Host")!] = "127.0.0.1:8765"
        headers[HTTPField.Name("X-Forwarded-For")!] = "10.0.0.1"
        let forwarded = RelayServer.forwardedHeaders(headers)
        #expect(forwarded[.authorization] == "Bearer sk-1")
        #expect(forwarded[HTTPField.Name("OpenAI-Beta")!] == "realtime=v1")
        #expect(forwarded[HTTPField.Name("api-key")!] == "azure-key")
        #expect(forwarded[.secWebSocketProtocol] == "realtime, openai-insecure-api-key.sk-2")
        #expect(forwarded.count == 4, "\(forwarded)")
    }

    /// A text frame and its continuations make one message; a message past the limit is not kept at all, and is said
    /// to be too large with its whole size once its last frame came.
    @Test func fragmentsAreJoinedIntoOneMessage() {
        let assembler = MessageAssembler(limit: 10)
        func add(_ text: String, continues: Bool, fin: Bool) -> MessageAssembler.Outcome {
            assembler.add(ByteBuffer(string: text), continues: continues, isFinal: fin)
        }
        #expect(add("ab", continues: false, fin: false) == .incomplete)
        #expect(add("cd", continues: true, fin: false) == .incomplete)
        #expect(add("e", continues: true, fin: true) == .whole(Array("abcde".utf8), isBinary: false))
        #expect(add("xyz", continues: false, fin: true) == .whole(Array("xyz".utf8), isBinary: false))
        #expect(add("123456", continues: false, fin: false) == .incomplete)
        #expect(add("789012", continues: true, fin: false) == .incomplete, "past the limit, not yet complete")
        #expect(add("345", continues: true, fin: true) == .tooLarge(byteCount: 15), "past the limit")
        #expect(add("ok", continues: false, fin: true) == .whole(Array("ok".utf8), isBinary: false), "the next message is whole again")
        #expect(add("12345678901", continues: false, fin: true) == .tooLarge(byteCount: 11), "one frame past the limit")
    }

    /// Each message comes in an array of about its own size, whatever came before: the recording holds every message
    /// until it is recorded, and an array that kept the capacity of an earlier large message (a long instruction) held
    /// that much for each small delta after it.
    @Test func aMessageTakesTheMemoryOfItsOwnSize() {
        let assembler = MessageAssembler(limit: 1 << 20)
        func bytes(_ outcome: MessageAssembler.Outcome) -> [UInt8]? {
            if case .whole(let bytes, _) = outcome { bytes } else { nil }
        }
        let large = ByteBuffer(repeating: UInt8(ascii: "a"), count: 600_000)
        let small = ByteBuffer(repeating: UInt8(ascii: "b"), count: 1_300)
        for (firstLarge, fragmented) in [(true, false), (true, true), (false, true)] {
            if firstLarge {
                #expect(assembler.add(large, continues: false, isFinal: false) == .incomplete)
                #expect(bytes(assembler.add(large.getSlice(at: 0, length: 10)!, continues: true, isFinal: true))?.count == 600_010)
            }
            let message = fragmented
                ? [assembler.add(small, continues: false, isFinal: false), assembler.add(small, continues: true, isFinal: true)].last.flatMap(bytes)
                : bytes(assembler.add(small, continues: false, isFinal: true))
            let expected = fragmented ? 2_600 : 1_300
            #expect(message?.count == expected)
            #expect((message?.capacity ?? .max) < 2 * expected + 64, "capacity \(message?.capacity ?? -1) for \(expected) bytes")
        }
    }

    /// Messages joined from frames are charged to the relay's memory budget while they are joined: one that would take
    /// it past its limit is dropped (said over budget, with its size), the budget is whole again after each message,
    /// and a connection that ends in the middle of a message gives its charge back.
    @Test func joiningIsChargedToTheMemoryBudget() {
        let budget = RecordingMemoryBudget(bytes: 1_000)
        let first = MessageAssembler(limit: 10_000, budget: budget)
        let second = MessageAssembler(limit: 10_000, budget: budget)
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 300)
        #expect(first.add(chunk, continues: false, isFinal: false) == .incomplete)
        #expect(first.add(chunk, continues: true, isFinal: false) == .incomplete)
        #expect(budget.heldBytes >= 600 && budget.heldBytes <= 1_000, "held \(budget.heldBytes)")
        // The second message cannot be joined beside the first's 600 bytes (or more, as its storage grows).
        #expect(second.add(chunk, continues: false, isFinal: false) == .incomplete)
        #expect(second.add(chunk, continues: true, isFinal: false) == .incomplete)
        #expect(second.add(chunk, continues: true, isFinal: true) == .overBudget(byteCount: 900))
        guard case .whole(let whole, _) = first.add(chunk, continues: true, isFinal: true) else {
            Issue.record("the first message, within the budget, was not whole")
            return
        }
        #expect(whole.count == 900)
        #expect(budget.heldBytes == 0, "a message handed over is no longer charged here (the recorder charges it)")
        // A message in one frame is not charged here at all (the recorder charges it when offered).
        #expect(second.add(ByteBuffer(repeating: 0x41, count: 5_000), continues: false, isFinal: true) == .whole([UInt8](repeating: 0x41, count: 5_000), isBinary: false))
        var ending: MessageAssembler? = MessageAssembler(limit: 10_000, budget: budget)
        #expect(ending?.add(chunk, continues: false, isFinal: false) == .incomplete)
        #expect(budget.heldBytes > 0)
        ending = nil
        #expect(budget.heldBytes == 0, "the connection ended in the middle of a message: its charge is given back")
    }

    /// Recording names are the connection's start in UTC, as `date -u` writes it.
    @Test func recordingsAreNamedByTheirStartInUTC() throws {
        for seconds in [0.0, 1_795_000_000.75, 951_782_400] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/date")
            process.arguments = ["-u", "-d", "@\(Int(seconds))", "+%Y%m%dT%H%M%SZ"]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            waitForExit(process)
            let expected = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(ConnectionRecording.timestamp(seconds) == expected)
        }
    }
}

/// The connection limit's choice of whom a newcomer replaces: the rule its documentation states, checked on a limit
/// of three by who gets evicted.
@Suite struct ConnectionAdmissionTests {
    /// Admits a connection that records its eviction in `evicted` under `name`.
    private func admit(_ name: String, _ admission: ConnectionAdmission, _ evicted: Shared<[String]>,
                       spoken: Bool = false) -> ConnectionAdmission.Ticket? {
        let activity = ConnectionActivity()
        if spoken { activity.markSpoken() }
        return admission.admit(activity: activity) { evicted.withLock { $0.append(name) } }
    }

    @Test func aNewcomerReplacesTheOldestSilentConnectionThenTheOldestThatSpoke() throws {
        let admission = ConnectionAdmission(limit: 3)
        let evicted = Shared<[String]>([])
        _ = admit("a (spoke)", admission, evicted, spoken: true)
        _ = admit("b (silent)", admission, evicted)
        _ = admit("c (spoke)", admission, evicted, spoken: true)
        _ = admit("d (silent)", admission, evicted)
        #expect(evicted.withLock { $0 } == ["b (silent)"])
        _ = admit("e (silent)", admission, evicted)
        #expect(evicted.withLock { $0 } == ["b (silent)", "d (silent)"])
        // The one silent place goes first, however new it is; then the oldest that spoke.
        _ = admit("f (spoke)", admission, evicted, spoken: true)
        _ = admit("g (spoke)", admission, evicted, spoken: true)
        #expect(evicted.withLock { $0 } == ["b (silent)", "d (silent)", "e (silent)", "a (spoke)"])
        #expect(admission.count == 3)
    }

    @Test func sessionsAreNeverReplacedAndALostPlaceCannotBecomeOne() throws {
        let admission = ConnectionAdmission(limit: 2)
        let evicted = Shared<[String]>([])
        let session = try #require(admit("session", admission, evicted, spoken: true))
        #expect(admission.markSession(session))
        let late = try #require(admit("late", admission, evicted, spoken: true))
        _ = admit("newcomer", admission, evicted)
        #expect(evicted.withLock { $0 } == ["late"])
        // Its head arrives after its place was given away: it may not become a session.
        #expect(!admission.markSession(late))
        // The newcomer's place is taken by the next; with every place a session's, a newcomer is refused.
        let next = try #require(admit("next", admission, evicted, spoken: true))
        #expect(evicted.withLock { $0 } == ["late", "newcomer"])
        #expect(admission.markSession(next))
        #expect(admit("refused", admission, evicted) == nil)
        admission.release(next)
        #expect(admit("after a session ended", admission, evicted) != nil)
    }
}

/// `--log-format json`'s handler: whatever the text, each record is one line Foundation's JSON parser reads back to
/// the same strings and numbers.
@Suite struct JSONLineLogHandlerTests {
    @Test func hostileTextComesBackFromFoundationsParserAsItWas() throws {
        let written = Mutex<[String]>([])
        let logger = Logger(label: "test") { _ in JSONLineLogHandler(instance: "relay \"a\"\n") { line in written.withLock { $0.append(line) } } }
        let hostile = "quote \" backslash \\ NUL \u{0} unit \u{1F} DEL \u{7F} line\nbreak tab\t é 🎙 \u{2028} </script>"
        logger.info("\(hostile)", metadata: ["event": "note", "connection": .stringConvertible(7), "key": .string(hostile),
                                             "audio_seconds": .stringConvertible(12.5), "nan": .stringConvertible(Double.nan),
                                             "list": .array([.string("x"), .stringConvertible(2)])])
        let lines = written.withLock { $0 }
        #expect(lines.count == 1)
        #expect(lines[0].hasSuffix("}\n") && lines[0].dropLast().allSatisfy { $0 != "\n" }, "one line: \(lines[0])")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == hostile)
        #expect(object["key"] as? String == hostile)
        #expect(object["instance"] as? String == "relay \"a\"\n")
        #expect(object["connection"] as? Int == 7)
        #expect(object["audio_seconds"] as? Double == 12.5)
        #expect(object["nan"] as? String == "nan", "a number JSON cannot hold is written as text")
        #expect((object["list"] as? [Any])?.count == 2)
        #expect(object["level"] as? String == "info" && object["event"] as? String == "note")
        // The fixed keys lead, in order.
        #expect(lines[0].hasPrefix("{\"time\":\""), "\(lines[0])")
        let order = ["\"level\":", "\"instance\":", "\"event\":", "\"connection\":", "\"message\":"].map { lines[0].range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && zip(order, order.dropFirst()).allSatisfy { $0! < $1! }, "\(lines[0])")
    }
}
