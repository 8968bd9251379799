// Sinks the container tests write to: bytes in memory, seekable or not, and failing on demand; plus Opus packets
// to feed the writers, made once by the encoder and copied out of its buffer.
import DeltaTapeCodecs
import DeltaTapeContainers
import Foundation
import TestSupport

/// Bytes kept in memory; seekable only when asked, so a writer sees a pipe or a file; fails on the `failingWrite`th
/// write (1-based; appends and overwrites alike) with an ``OutputError`` naming it.
final class MemorySink: PositionalByteSink {
    let name: String
    let isSeekable: Bool
    private(set) var bytes: [UInt8] = []
    private(set) var writeCount = 0
    /// Where each append ended, in order: what a reader of a pipe had after each write.
    private(set) var appendEnds: [Int] = []
    private(set) var closeCount = 0
    private let failingWrite: Int?

    init(name: String = "memory", seekable: Bool = false, failingWrite: Int? = nil) {
        self.name = name
        isSeekable = seekable
        self.failingWrite = failingWrite
    }

    var byteCount: Int { bytes.count }

    private func count() throws(OutputError) {
        writeCount += 1
        if writeCount == failingWrite { throw OutputError(path: name, reason: "planned failure at write \(writeCount)", code: 28) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        try count()
        self.bytes.append(contentsOf: bytes)
        appendEnds.append(self.bytes.count)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(OutputError) {
        try count()
        precondition(isSeekable && offset + bytes.count <= self.bytes.count, "overwrite of a non-seekable sink or past its end")
        self.bytes.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }

    func close() throws(OutputError) { closeCount += 1 }

    /// The bytes, in a temporary file for the tools.
    func file(_ name: String) throws -> String {
        let url = try TestEnvironment.temporaryDirectory().appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

/// Opus packets from ``OpusStreamEncoder``, owned, and what the writers need to know of their stream.
struct EncodedStream {
    struct Packet {
        var bytes: [UInt8]
        var sampleCount48k: Int
        var streamLength48k: Int?
    }

    let sampleRate: Int
    let channelCount: Int
    let frameCount: Int
    let preSkip48k: Int
    let packets: [Packet]

    /// The input's exact length at 48 kHz, by the formula.
    var length48k: Int { frameCount * 48_000 / sampleRate }

    /// Encodes `seconds` of a seeded signal: a tone under noise, so that decoders have something to decode.
    init(sampleRate: Int, channelCount: Int = 1, seconds: Double, seed: UInt64, frameMilliseconds: Double = 20) throws {
        var random = SplitMix64(seed: seed)
        frameCount = Int(Double(sampleRate) * seconds) + Int.random(in: 0..<sampleRate / 50, using: &random)
        let samples = (0..<(frameCount * channelCount)).map { index in
            Int16(8_000 * sin(Double(index / channelCount) * 2 * .pi * 440 / Double(sampleRate))) &+ Int16.random(in: -500...500, using: &random)
        }
        let encoder = try OpusStreamEncoder(sampleRate: sampleRate, channelCount: channelCount,
                                            settings: OpusSettings(complexity: 0, frameMilliseconds: frameMilliseconds))
        var packets: [Packet] = []
        let keep = { (packet: OpusPacket) in
            packets.append(Packet(bytes: Array(packet.bytes), sampleCount48k: packet.sampleCount48k, streamLength48k: packet.streamLength48k))
        }
        try samples.withUnsafeBufferPointer { try encoder.encode($0, keep) }
        try encoder.finish(keep)
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        preSkip48k = encoder.preSkip48k
        self.packets = packets
    }

    /// Passes each packet to `write`.
    func forEachPacket(_ write: (OpusPacket) throws(OutputError) -> Void) throws(OutputError) {
        try Packets(packets).forEachPacket(write)
    }

    /// Some packets, as a writer is fed them (a killed writer's: fewer, none marked last).
    struct Packets {
        let packets: [Packet]

        init(_ packets: [Packet]) { self.packets = packets }

        /// Passes each packet to `write`.
        func forEachPacket(_ write: (OpusPacket) throws(OutputError) -> Void) throws(OutputError) {
            for packet in packets {
                try packet.bytes.withUnsafeBytes { bytes in
                    Result { () throws(OutputError) in
                        try write(OpusPacket(bytes: bytes, sampleCount48k: packet.sampleCount48k, streamLength48k: packet.streamLength48k))
                    }
                }.get()
            }
        }
    }
}

/// The text a tool printed, both streams.
func text(_ result: ProcessResult) -> String {
    String(decoding: result.standardOutput, as: UTF8.self) + result.standardError
}
