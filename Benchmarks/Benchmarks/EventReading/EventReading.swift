// Reading events: JSONL bytes per second through DeltaTape's EventReader (full RFC 8259 validation, type, ids and
// the payload's byte range, no base64 decoding), against Foundation's JSONDecoder decoding the same lines into the
// Decodable struct a user would write for the same fields, and JSONSerialization.jsonObject, in the same run.
// Goal: DeltaTape at least 4x JSONDecoder.
//
// The input is a 10-minute OpenAI GA session log, generated in setup by TestAudio/make-sessions.py (cached in the
// temporary folder, never committed) and loaded whole into memory before measuring, so disk is not measured.
// Every side splits lines itself (memchr) inside the measurement; "JSONL MB/s" is input bytes / 1e6 / seconds.
import Benchmark
import BenchmarkSupport
@_spi(Blocks) import DeltaTape
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .jsonlMegabytesPerSecond],
        timeUnits: .microseconds,
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(8),
        maxIterations: 25,
        thresholds: mallocThresholds()
    )

    for (name, gemini) in [("OpenAI GA log", false), ("Gemini Live log", true)] {
        readingBenchmark("DeltaTape EventReader.read, \(name), lines split in memory",
                         input: { gemini ? EventLogFixture.gemini : EventLogFixture.data }) { log in
            var reader = EventReader()
            var checksum = 0
            try log.withUnsafeBytes { buffer in
                for range in LineRanges(buffer) {
                    checksum &+= fold(try reader.read(UnsafeRawBufferPointer(rebasing: buffer[range])))
                }
            }
            return checksum
        }
    }

    readingBenchmark("DeltaTape LineReader(MemoryByteSource) + EventReader.read", input: { EventLogFixture.bytes }) { log in
        var reader = EventReader()
        var checksum = 0
        let lines = LineReader(source: MemoryByteSource(log))
        while let (_, line) = try lines.nextLine() {
            if line.isBlank { continue }
            checksum &+= fold(try reader.read(line))
        }
        return checksum
    }

    for (name, container) in [("JSON array", EventLogFixture.Container.jsonArray), ("HAR", .har)] {
        readingBenchmark("DeltaTape \(name) reader + EventReader.read", input: { EventLogFixture.bytes(in: container) }) { log in
            var reader = EventReader()
            var checksum = 0
            let source = MemoryByteSource(log)
            let messages: any MessageSource = container == .har ? HARReader(source: source) : JSONArrayReader(source: source)
            while let (_, message) = try messages.nextMessage() {
                checksum &+= fold(try reader.read(message))
            }
            return checksum
        }
    }

    readingBenchmark("Anchor: Foundation JSONDecoder, Decodable struct per line", input: { EventLogFixture.data }) { log in
        let decoder = JSONDecoder()
        var checksum = 0
        try log.withUnsafeBytes { buffer in
            for range in LineRanges(buffer) {
                let event = try decoder.decode(RealtimeEvent.self, from: log[range])
                checksum &+= event.type.utf8.count &+ (event.delta?.utf8.count ?? 0) &+ (event.content_index ?? 0)
                    &+ (event.output_index ?? 0) &+ (event.response_id?.utf8.count ?? 0) &+ (event.item_id?.utf8.count ?? 0)
            }
        }
        return checksum
    }

    readingBenchmark("Anchor: JSONDecoder, Gemini Live log", input: { EventLogFixture.gemini }) { log in
        let decoder = JSONDecoder()
        var checksum = 0
        try log.withUnsafeBytes { buffer in
            for range in LineRanges(buffer) {
                let message = try decoder.decode(GeminiMessage.self, from: log[range])
                for part in message.serverContent?.modelTurn?.parts ?? [] {
                    checksum &+= (part.inlineData?.data.utf8.count ?? 0) &+ (part.inlineData?.mimeType?.utf8.count ?? 0)
                }
                checksum &+= message.realtimeInput?.audio?.data.utf8.count ?? 0
            }
        }
        return checksum
    }

    readingBenchmark("Anchor: Foundation JSONSerialization.jsonObject per line", input: { EventLogFixture.data }) { log in
        var checksum = 0
        try log.withUnsafeBytes { buffer in
            for range in LineRanges(buffer) {
                guard let object = try JSONSerialization.jsonObject(with: log[range]) as? [String: Any] else {
                    throw CocoaError(.propertyListReadCorrupt)
                }
                checksum &+= (object["type"] as? String)?.utf8.count ?? 0
                checksum &+= (object["delta"] as? String)?.utf8.count ?? 0
            }
        }
        return checksum
    }
}

/// Registers a benchmark that runs `pass` over the whole input once per iteration (the input is prepared in setup,
/// outside the measurement) and records JSONL MB/s; the checksum `pass` returns keeps its work from being optimized
/// away.
private func readingBenchmark<Input: Collection>(
    _ name: String,
    input: @escaping @Sendable () -> Input,
    pass: @escaping (Input) throws -> Int
) {
    Benchmark(name, configuration: .init(setup: { _ = input() })) { benchmark in
        let log = input()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let started = ContinuousClock.now
            blackHole(try pass(log))
            report(benchmark, bytes: log.count, since: started)
        }
    }
}

/// What the anchor extracts: the fields the pipeline reads from an audio delta (and the type of every message).
struct RealtimeEvent: Decodable {
    let type: String
    let delta: String?
    let response_id: String?
    let item_id: String?
    let content_index: Int?
    let output_index: Int?
}

/// What a Gemini Live anchor extracts: the audio blobs of server and client messages.
struct GeminiMessage: Decodable {
    struct Blob: Decodable {
        let mimeType: String?
        let data: String
    }
    struct Part: Decodable { let inlineData: Blob? }
    struct Turn: Decodable { let parts: [Part]? }
    struct ServerContent: Decodable {
        let modelTurn: Turn?
        let interrupted: Bool?
    }
    struct RealtimeInput: Decodable { let audio: Blob? }
    let serverContent: ServerContent?
    let realtimeInput: RealtimeInput?
}

/// Folds an event into a checksum (payload length, ids' lengths, content index), so that nothing is optimized away.
@inline(__always)
private func fold(_ event: Event) -> Int {
    var sum = event.typeRange?.count ?? 0
    event.forEachAudioDelta { delta in
        sum &+= delta.payload.count &+ (delta.responseID?.count ?? 0) &+ (delta.itemID?.count ?? 0) &+ delta.contentIndex
    }
    return sum
}

/// The ranges of the non-empty lines of a buffer (without their `\n`), found with memchr.
struct LineRanges: Sequence, IteratorProtocol {
    let buffer: UnsafeRawBufferPointer
    var start = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    mutating func next() -> Range<Int>? {
        guard let base = buffer.baseAddress else { return nil }
        while start < buffer.count {
            let end = memchr(base + start, 0x0A, buffer.count - start).map { base.distance(to: UnsafeRawPointer($0)) } ?? buffer.count
            defer { start = end + 1 }
            if end > start { return start..<end }
        }
        return nil
    }
}

/// Records JSONL MB/s for one pass over `bytes` of input.
private func report(_ benchmark: Benchmark, bytes: Int, since started: ContinuousClock.Instant) {
    benchmark.measurement(.jsonlMegabytesPerSecond, Int(Double(bytes) / 1e6 / seconds(since: started)))
}

/// A 10-minute GA session log, generated once by the fixture script and loaded whole into memory; and the same
/// audio as a Gemini Live log (each delta a `serverContent.modelTurn.parts[].inlineData`, each append a `realtimeInput`).
enum EventLogFixture {
    /// The log's bytes, for JSONDecoder and the in-memory split.
    static let data: Data = {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path()))
        } catch {
            fatalError("cannot prepare the session log: \(error)")
        }
    }()

    /// The same bytes as an array, for `MemoryByteSource`.
    static let bytes = [UInt8](data)

    /// Containers the same messages can come in.
    enum Container { case jsonArray, har }

    /// The GA log's messages as one JSON array (an element a line), or as the text frames of a HAR (Chrome's layout).
    static func bytes(in container: Container) -> [UInt8] {
        switch container {
        case .jsonArray: jsonArray
        case .har: har
        }
    }

    private static let jsonArray: [UInt8] = {
        var output: [UInt8] = Array("[\n".utf8)
        data.withUnsafeBytes { buffer in
            for (index, range) in LineRanges(buffer).enumerated() {
                if index > 0 { output += Array(",\n".utf8) }
                output += buffer[range]
            }
        }
        return output + Array("\n]\n".utf8)
    }()

    private static let har: [UInt8] = {
        var frames: [[String: Any]] = []
        data.withUnsafeBytes { buffer in
            for (index, range) in LineRanges(buffer).enumerated() {
                frames.append(["type": "receive", "time": 1_795_000_000.0 + Double(index) * 0.02, "opcode": 1,
                               "data": String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)])
            }
        }
        let root: [String: Any] = ["log": ["version": "1.2", "entries": [["_resourceType": "websocket", "_webSocketMessages": frames]]]]
        do {
            return Array(try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .withoutEscapingSlashes]))
        } catch {
            fatalError("cannot build the HAR: \(error)")
        }
    }()

    /// The GA log rewritten in Gemini Live's shapes (nested three levels deeper, so the reader scans nested values).
    static let gemini: Data = {
        var output = Data()
        data.withUnsafeBytes { buffer in
            for range in LineRanges(buffer) {
                guard let object = try? JSONSerialization.jsonObject(with: data[range]) as? [String: Any] else { continue }
                let line: String
                switch object["type"] as? String {
                case "response.output_audio.delta":
                    line = #"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"\#(object["delta"] as? String ?? "")"}}]}}}"#
                case "input_audio_buffer.append":
                    line = #"{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"\#(object["audio"] as? String ?? "")"}}}"#
                default:
                    line = #"{"serverContent":{"turnComplete":true}}"#
                }
                output.append(contentsOf: Array(line.utf8) + [0x0A])
            }
        }
        return output
    }()

    private static func path() throws -> String {
        try SessionLogFixture.log(hours: 0.1667)
    }
}
