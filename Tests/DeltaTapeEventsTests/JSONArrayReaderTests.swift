@_spi(Blocks) import DeltaTapeEvents
import Foundation
import Testing

/// The array reader hands out exactly the array's elements, whatever the read sizes; Foundation's
/// JSONSerialization parses both the whole array and each element for the comparison.
@Suite struct JSONArrayReaderTests {
    private func elements(_ text: String, readSize: Int, chunkSize: Int = 64) throws -> [(line: Int, value: Any)] {
        let reader = JSONArrayReader(source: MemoryByteSource(Array(text.utf8), maximumReadSize: readSize), chunkSize: chunkSize)
        var result: [(Int, Any)] = []
        while let (line, bytes) = try reader.nextMessage() {
            result.append((line, try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)))
        }
        return result
    }

    /// A value's JSON with sorted keys, for comparing parsed values on Linux (no `isEqual` there).
    private func canonical(_ value: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
    }

    @Test func elementsSurviveAnyReadSize() throws {
        let text = """
            \u{FEFF}[
              {"type": "a", "text": "brackets ] } [ { and \\"quotes\\" and \\\\ backslashes", "n": [1, [2, {"x": "]"}]]},
              {"type":"b","delta":"QUJD"},  42, "a string, with a comma", null,
              {"nested": {"deep": {"deeper": [true, false]}}}
            ]
            """
        let expected = try JSONSerialization.jsonObject(with: Data(text.dropFirst().utf8)) as! [Any]
        for readSize in [1, 2, 3, 7, 16, 100, 10_000] {
            let got = try elements(text, readSize: readSize, chunkSize: 16)
            #expect(got.count == expected.count, "read size \(readSize)")
            for (element, reference) in zip(got, expected) {
                #expect(try canonical(element.value) == canonical(reference), "read size \(readSize)")
            }
            #expect(got.map(\.line) == [2, 3, 3, 3, 3, 4], "read size \(readSize)")
        }
    }

    @Test func emptyArrayAndTruncatedArray() throws {
        #expect(try elements("[ ]", readSize: 1).isEmpty)
        // A cut-off array: the complete elements come out, then the cut one (which the event reader will reject), then
        // an empty message whose problem says the array ends early.
        let reader = JSONArrayReader(source: MemoryByteSource(Array("[{\"a\":1},{\"b\":\"trunc".utf8), maximumReadSize: 3), chunkSize: 16)
        var messages: [[UInt8]] = []
        var problems: [String?] = []
        while let (_, bytes) = try reader.nextMessage() {
            messages.append(Array(bytes))
            problems.append(reader.messageProblem)
        }
        #expect(messages == [Array("{\"a\":1}".utf8), Array("{\"b\":\"trunc".utf8), []])
        #expect(problems.prefix(2).allSatisfy { $0 == nil } && problems.last??.contains("ends inside the JSON array") == true, "\(problems)")
        // Cut between elements: only the report that the array ends early.
        let between = JSONArrayReader(source: MemoryByteSource(Array("[{\"a\":1},".utf8)), chunkSize: 16)
        #expect(try between.nextMessage()?.bytes.count == 7 && between.messageProblem == nil)
        #expect(try between.nextMessage()?.bytes.count == 0 && between.messageProblem?.contains("after 1 element)") == true)
        #expect(try between.nextMessage() == nil)
    }

    /// Stray closers and commas where an element should start are handed out as (invalid) elements of their own:
    /// found by the fuzzer as a reader that handed out empty elements forever.
    @Test(arguments: ["]", "}", "x]", "}]", "[}]", "[1,}", ",,,", "[ ] ]"]) func strayClosersEndTheReading(_ text: String) throws {
        let reader = JSONArrayReader(source: MemoryByteSource(Array(text.utf8)), chunkSize: 16)
        var count = 0
        while let (_, bytes) = try reader.nextMessage() {
            count += 1
            #expect(!bytes.isEmpty || reader.messageProblem?.contains("ends inside the JSON array") == true, "\(text)")
            if count > text.utf8.count { break }
        }
        #expect(count <= text.utf8.count, "\(text) did not end")
    }
}
