import DeltaTapeContainers
import Foundation
import TestSupport
import Testing

/// The part sink alone: parts of the size asked, in order, the last one shorter and flagged, whatever the writes'
/// sizes; a failing closure surfaces as an `OutputError` naming the part.
@Suite struct PartByteSinkTests {
    /// Random bytes in random-sized writes (1 byte to three parts at a time), for several part sizes: the parts put
    /// back together are the bytes, every part but the last has the part size, the last 1 to part size bytes.
    @Test func partsHaveThePartSizeAndReassembleTheStream() throws {
        var generator = SeededGenerator()
        for _ in 0..<200 {
            let partByteCount = Int.random(in: 1...300, using: &generator)
            // Lengths near multiples of the part size are the edge: draw them often.
            let length = Bool.random(using: &generator)
                ? Int.random(in: 0...3_000, using: &generator)
                : Int.random(in: 0...8, using: &generator) * partByteCount + Int.random(in: -1...1, using: &generator)
            var bytes = SplitMix64(seed: generator.next())
            let stream = bytes.bytes(max(0, length))
            var parts: [PartByteSink.Part] = []
            let sink = PartByteSink(name: "memory", partByteCount: partByteCount) { parts.append($0) }
            var offset = 0
            while offset < stream.count {
                let count = min(stream.count - offset, Int.random(in: 1...(3 * partByteCount), using: &generator))
                try sink.write(Array(stream[offset..<(offset + count)]))
                offset += count
            }
            try sink.close()
            try sink.close()  // a second close hands out nothing
            let context = "part size \(partByteCount), \(stream.count) bytes, \(generator)"
            #expect(firstDifference(parts.flatMap(\.bytes), stream) == nil, "\(firstDifference(parts.flatMap(\.bytes), stream) ?? ""), \(context)")
            #expect(parts.count == (stream.count + partByteCount - 1) / partByteCount, "\(context)")
            #expect(sink.partCount == parts.count && sink.byteCount == stream.count, "\(context)")
            for (index, part) in parts.enumerated() {
                #expect(part.number == index + 1 && part.offset == index * partByteCount, "\(context)")
                #expect(part.isLast == (index == parts.count - 1), "\(context)")
                if part.isLast {
                    #expect((1...partByteCount).contains(part.bytes.count), "\(context)")
                } else {
                    #expect(part.bytes.count == partByteCount, "\(context)")
                }
            }
        }
    }

    /// A part is handed out as soon as it is known not to be the last: at the first byte after it.
    @Test func aFullPartIsHandedOutAtTheNextByte() throws {
        var numbers: [Int] = []
        let sink = PartByteSink(name: "memory", partByteCount: 4) { numbers.append($0.number) }
        try sink.write([1, 2, 3, 4])
        #expect(numbers.isEmpty)
        try sink.write([5])
        #expect(numbers == [1])
        try sink.close()
        #expect(numbers == [1, 2])
    }

    /// An error the closure throws becomes the write's OutputError, naming the part and what went before.
    @Test func aFailingUploadSurfacesAsAnOutputError() throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "the bucket refused" } }
        let sink = PartByteSink(name: "s3://bucket/key", partByteCount: 10) { part in if part.number == 2 { throw Refused() } }
        try sink.write([UInt8](repeating: 0, count: 15))
        #expect(throws: OutputError.self) { try sink.write([UInt8](repeating: 0, count: 10)) }
        do {
            try sink.write([UInt8](repeating: 0, count: 1))
        } catch {
            #expect(error.path == "s3://bucket/key")
        }
        do throws(OutputError) {
            let failing = PartByteSink(name: "s3://bucket/key", partByteCount: 10) { _ in throw Refused() }
            try failing.write([UInt8](repeating: 0, count: 5))
            try failing.close()
            Issue.record("close did not fail")
        } catch {
            #expect(error.reason.contains("part 1") && error.reason.contains("the bucket refused"), "\(error)")
        }
    }

    /// Writers see a sink that cannot seek: WAV gets the streaming header (both sizes 0xFFFFFFFF).
    @Test func wavToPartsHasTheStreamingHeader() throws {
        var parts: [PartByteSink.Part] = []
        let sink = PartByteSink(name: "memory", partByteCount: 16) { parts.append($0) }
        let writer = try WAVWriter(sink: sink, sampleRate: 24_000)
        #expect(!writer.keepsHeaderCurrent)
        try [Int16](repeating: 7, count: 100).withUnsafeBufferPointer { buffer throws(OutputError) in try writer.write(buffer) }
        try writer.close()
        let bytes = parts.flatMap(\.bytes)
        #expect(bytes.count == 44 + 200)
        #expect(Array(bytes[4..<8]) == [0xFF, 0xFF, 0xFF, 0xFF] && Array(bytes[40..<44]) == [0xFF, 0xFF, 0xFF, 0xFF])
    }
}
