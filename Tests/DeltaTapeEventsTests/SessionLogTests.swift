@_spi(Blocks) import DeltaTapeEvents
import Foundation
import TestSupport
import Testing

/// The session log as Events reads it, in process: what each line of a log written here becomes, in order, and the
/// sentences an input that is no session log gets (the CLI's tests see the same through the converter).
@Suite struct SessionLogTests {
    /// A file holding `text`, in a temporary folder of its own.
    private func file(_ text: some Collection<UInt8>, named name: String = "session.jsonl") throws -> String {
        let url = try TestEnvironment.temporaryDirectory().appendingPathComponent(name)
        try Data(text).write(to: url)
        return url.path
    }

    /// Every item of the log, in order: an event as its line and base64 payload, a problem as its line and message.
    private enum Item: Equatable {
        case event(line: Int, payload: String?)
        case problem(line: Int, message: String)
    }

    private func items(of log: SessionLog) throws -> [Item] {
        var found: [Item] = []
        while let item = try log.next() {
            switch item {
            case .event(let line, let event):
                var payload: String?
                event.forEachAudioDelta { delta in payload = String(decoding: event.message[delta.payload], as: UTF8.self) }
                found.append(.event(line: line, payload: payload))
            case .problem(let problem):
                #expect(problem.input == log.name)
                found.append(.problem(line: problem.line, message: problem.message))
            }
        }
        return found
    }

    @Test func eachLineBecomesAnEventOrAProblemInOrder() throws {
        // Two samples of silence, base64 of four zero bytes; the last line is cut off mid-payload, as a log whose writer
        // was killed mid-write.
        let lines = [
            #"{"type":"session.created","session":{}}"#,
            "not json",
            "",
            #"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AAAAAA=="}"#,
            #"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AAAAAAAAAAAA"#,
        ]
        let path = try file(Array(lines.joined(separator: "\n").utf8))
        guard case .session(let log) = try SessionLog.open(path: path) else {
            Issue.record("a JSON Lines log opened as an audio file")
            return
        }
        #expect(log.kind == .jsonLines)
        let got = try items(of: log)
        #expect(got.count == 5, "\(got)")
        guard got.count == 5 else { return }
        #expect(got[0] == .event(line: 1, payload: nil))
        guard case .problem(2, _) = got[1] else { Issue.record("line 2 is not JSON, yet gave \(got[1])"); return }
        #expect(got[2] == .event(line: 4, payload: "AAAAAA=="))
        // The cut-off line: its warning first, then the audio before the cut (a prefix of what was written).
        guard case .problem(5, let warning) = got[3], case .event(5, let payload?) = got[4] else {
            Issue.record("the cut-off line gave \(got[3...])")
            return
        }
        #expect(warning.contains("cut off inside its audio payload"), "\(warning)")
        #expect(!payload.isEmpty && "AAAAAAAAAAAA".hasPrefix(payload), "\(payload)")
        #expect(log.lineCount == 5)
        #expect(log.messageCount == 4, "blank lines are not messages")
    }

    @Test func anInputThatIsNoSessionLogSaysWhatItIs() throws {
        func message(_ path: String, kind: InputKind? = nil) -> String? {
            do {
                _ = try SessionLog.openSession(path: path, kind: kind)
                return nil
            } catch {
                return error.description
            }
        }
        let missing = try TestEnvironment.temporaryDirectory().appendingPathComponent("nowhere.jsonl").path
        guard let unreadable = message(missing) else { Issue.record("a missing file opened"); return }
        #expect(unreadable.contains(missing), "\(unreadable)")
        #expect(message(try file([])).map { $0.contains("the input is empty") } == true)
        // "{}" in UTF-16LE with a byte order mark, as PowerShell's `>` writes it.
        let utf16 = message(try file([0xFF, 0xFE, 0x7B, 0x00, 0x7D, 0x00, 0x0A, 0x00]))
        #expect(utf16.map { $0.contains("UTF-16") && $0.contains("iconv") } == true, "\(utf16 ?? "opened")")
        let wav = try file(Array("RIFF\u{24}\0\0\0WAVEfmt ".utf8) + [UInt8](repeating: 0, count: 40), named: "audio.wav")
        #expect(message(wav).map { $0.contains("audio file") } == true)
    }

    @Test func aForcedKindThatYieldsNoMessageIsRefused() throws {
        // JSON Lines forced to be read as a HAR: the reading gives nothing, and the refusal says what the content is.
        let path = try file(Array(#"{"type":"session.created","session":{}}"#.utf8 + [0x0A]))
        let log = try SessionLog.openSession(path: path, kind: .har)
        while try log.next() != nil {}
        do {
            try log.refuseForcedKindWithoutMessages()
            Issue.record("a HAR with no message was not refused")
        } catch {
            #expect(error.description.contains("--input-kind har") && error.description.contains("JSON Lines"), "\(error)")
        }
    }
}
