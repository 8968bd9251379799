@_spi(Blocks) import DeltaTapeEvents
import Dispatch
import Synchronization
import Testing

/// A reader is a value: copies of one, each used on a thread of its own, must not share the buffers a read writes
/// to (an envelope's event held as a string is unescaped into one, a cut-off line repaired into another). A shared
/// buffer shows as payloads read wrong. Under the thread sanitizer (`swift test --sanitize=thread --filter
/// ReaderCopiesTests`) it may also be reported as a data race, where a buffer grows (the payloads grow for that): in a
/// debug build the sanitizer does not see the bytes themselves, which the standard library's pointer code copies.
@Suite struct ReaderCopiesTests {
    /// The base64 payload the message `index` of thread `thread` carries: different on every message and thread, so
    /// that text another copy wrote shows as a wrong payload, and 64 characters longer each message (past the 4 KiB the
    /// buffers start with).
    private static func payload(thread: Int, index: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let seed = thread * 7919 + index
        return String((0..<(64 + 64 * index)).map { alphabet[(seed + $0 * (thread + 3)) % alphabet.count] })
    }

    /// Reads `count` messages with `reader` and returns how many of their payloads came back other than sent.
    private static func readMessages(_ reader: EventReader, thread: Int, count: Int) -> Int {
        var reader = reader
        var wrong = 0
        for index in 0..<count {
            let payload = payload(thread: thread, index: index)
            // An envelope whose event is a JSON string: the reader unescapes it into its unwrap buffer.
            let wrapped = #"{"ts":1,"event":"{\"type\":\"response.output_audio.delta\",\"response_id\":\"r\",\"delta\":\"\#(payload)\"}"}"#
            // A line cut off inside its payload: the reader repairs it into its repair buffer.
            let cutOff = #"{"type":"response.output_audio.delta","response_id":"r","delta":"\#(payload)AB"#
            for (message, isCutOff) in [(wrapped, false), (cutOff, true)] {
                let read = Array(message.utf8).withUnsafeBytes { text -> String? in
                    guard let event = isCutOff ? reader.readCutOff(text) : try? reader.read(text) else { return nil }
                    var payloads: [String] = []
                    event.forEachAudioDelta { payloads.append(String(decoding: UnsafeRawBufferPointer(rebasing: event.message[$0.payload]), as: UTF8.self)) }
                    return payloads.count == 1 ? payloads[0] : nil
                }
                if read != payload { wrong += 1 }
            }
        }
        return wrong
    }

    @Test func twoCopiesOfOneReaderReadOnTwoThreadsAtOnce() {
        // Rounds of a fresh reader, so that the copies' buffers grow from their first size in each.
        for round in 0..<8 {
            // One reader that has read a wrapped event already, then copied: in the copies, its buffers exist.
            var original = EventReader()
            _ = Array(#"{"event":"{\"type\":\"x\"}"}"#.utf8).withUnsafeBytes { try? original.read($0) }
            let copies = [original, original]
            let wrong = Mutex([0, 0])
            DispatchQueue.concurrentPerform(iterations: 2) { thread in
                let count = Self.readMessages(copies[thread], thread: thread, count: 150)
                wrong.withLock { $0[thread] = count }
            }
            #expect(wrong.withLock { $0 } == [0, 0], "round \(round): payloads read wrong by each copy")
            // The original, untouched by either copy, still reads.
            #expect(Self.readMessages(original, thread: 2, count: 10) == 0)
        }
    }
}
