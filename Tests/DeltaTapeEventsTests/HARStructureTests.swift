@_spi(Blocks) import DeltaTapeEvents
import Foundation
import TestSupport
import Testing

/// Frames are read only from `log.entries[]._webSocketMessages` (issue 14, item 6): an array of that name inside a
/// request or at `log` level (a decoy) is passed over and counted; the key written with escapes is still the key.
@Suite struct HARStructureTests {
    static func frame(_ n: Int) -> [String: Any] {
        ["type": "receive", "time": 1_700_000_000.0 + Double(n), "opcode": 1, "data": #"{"type":"frame-\#(n)"}"#]
    }

    @Test func framesComeOnlyFromEntries() throws {
        let decoys: [[String: Any]] = [Self.frame(90), Self.frame(91)]
        let root: [String: Any] = ["log": [
            "version": "1.2",
            "_webSocketMessages": decoys,  // at log level
            "entries": [
                ["request": ["url": "wss://example.invalid/x", "_webSocketMessages": decoys], "_webSocketMessages": [Self.frame(1), Self.frame(2)]],
                ["response": ["status": 101], "marker": "ESCAPED-KEY-HERE"],
            ] as [Any],
        ] as [String: Any]]
        var text = String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]), as: UTF8.self)
        // The second entry's frames under the key spelled with an escape, as some writers do.
        let escapedFrames = String(decoding: try JSONSerialization.data(withJSONObject: [Self.frame(3)]), as: UTF8.self)
        text = text.replacingOccurrences(of: #""marker":"ESCAPED-KEY-HERE""#, with: #""_webSocket\u004dessages":"# + escapedFrames)
        for readSize in [1, 5, 64, 100_000] {
            let reader = HARReader(source: MemoryByteSource(Array(text.utf8), maximumReadSize: readSize), chunkSize: 32)
            var types: [String] = []
            while let (_, bytes) = try reader.nextMessage() {
                let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
                types.append(object?["type"] as? String ?? "?")
            }
            #expect(types == ["frame-1", "frame-2", "frame-3"], "read \(readSize): \(types)")
            #expect(reader.misplacedFrameArrayCount == 2, "read \(readSize)")
            #expect(reader.connectionCount == 2, "read \(readSize)")
        }
    }

    /// Keys are read from text no scanner validated: broken escapes (a lone surrogate, an unknown or cut escape) are
    /// simply not keys of interest. The fuzzer's input that trapped the reader is in Fuzz/Regressions.
    @Test func brokenEscapesInKeysAreNotKeys() throws {
        for key in [#"\uDBFF"#, #"_webSocket\u004"#, #"log\x"#, #"\"#, #"\u00e9ntries"#] {
            let text = #"{"log": {"entries": [{""# + key + #"": [{"type": "receive", "opcode": 1, "data": "{}"}]}]}}"#
            let reader = HARReader(source: MemoryByteSource(Array(text.utf8)), chunkSize: 16)
            var count = 0
            // No frame is read; a key whose escape swallows its closing quote leaves the document unclosed, which is reported.
            while try reader.nextMessage() != nil {
                if reader.messageProblem?.contains("the HAR ends before its closing brackets") != true { count += 1 }
            }
            #expect(count == 0, "\(key)")
        }
        let regression = TestEnvironment.packageRoot.appendingPathComponent("Fuzz/Regressions/har-key-lone-surrogate")
        let reader = HARReader(source: MemoryByteSource(Array(try Data(contentsOf: regression))), chunkSize: 16)
        while try reader.nextMessage() != nil {}
    }
}

/// A message whose event field only looks like a wrapped event (a string starting with `{` that is not valid JSON)
/// is valid JSON itself: it is read as it is, with a warning, never reported as invalid JSON (a fuzzer found that).
@Test func aStringThatOnlyLooksWrappedIsReadAsItIs() throws {
    var reader = EventReader()
    let message = Array(#"{"opcode": 1, "data": "{\"typeadata"}"#.utf8)
    let warning = try message.withUnsafeBytes { try reader.read($0).warning }
    #expect(warning?.contains("not valid JSON") == true, "\(warning ?? "no warning")")
}
