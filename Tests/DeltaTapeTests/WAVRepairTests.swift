@_spi(Blocks) import DeltaTape
import Foundation
import TestSupport
import Testing

/// `deltatape repair` on WAVs left unfinished by other writers: the files are built here by Python's `struct` around
/// the fixture script's PCM (not by our writer), repaired through the process, and read back by Python's `wave`, sox,
/// ffprobe and ffmpeg, each of which must give the exact frame count and the PCM bit for bit.
@Suite struct WAVRepairTests {
    /// Writes a WAV with the given header sizes around `pcm` (a file of 16-bit little-endian samples), then cuts it to
    /// `cut` bytes if given. `rf64` writes RF64 with a ds64 chunk holding `riff` and `data` (the 32-bit fields
    /// 0xFFFFFFFF, as libsndfile does); `junk` reserves a 28-byte JUNK chunk before fmt. `trailer` appends a LIST chunk
    /// after the data. Arguments: out pcm channels rate riff data cut rf64 junk trailer (riff and data: a number, or
    /// `auto` for the true value).
    static let makeWAV = #"""
    import struct, sys
    out, pcm_path, channels, rate, riff, data, cut, rf64, junk, trailer = sys.argv[1:]
    channels, rate, rf64, junk, trailer = int(channels), int(rate), rf64 == "1", junk == "1", trailer == "1"
    pcm = open(pcm_path, "rb").read()
    pcm = pcm[: len(pcm) // (2 * channels) * 2 * channels]
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
    pre = b""
    if rf64 or junk:
        pre = struct.pack("<4sI", b"ds64" if rf64 else b"JUNK", 28) + b"\0" * 28
    tail = struct.pack("<4sI", b"LIST", 10) + b"INFOab\0\0\0\0" if trailer else b""
    true_data = len(pcm)
    true_riff = 4 + len(pre) + len(fmt) + 8 + true_data + len(tail)
    riff = true_riff if riff == "auto" else int(riff, 0)
    data = true_data if data == "auto" else int(data, 0)
    if rf64:
        pre = struct.pack("<4sIQQQI", b"ds64", 28, riff, data, true_data // (2 * channels), 0)
        head = struct.pack("<4sI4s", b"RF64", 0xFFFFFFFF, b"WAVE") + pre + fmt + struct.pack("<4sI", b"data", 0xFFFFFFFF)
    else:
        head = struct.pack("<4sI4s", b"RIFF", riff, b"WAVE") + pre + fmt + struct.pack("<4sI", b"data", data)
    body = head + pcm + tail
    if cut != "none":
        body = body[: int(cut)]
    open(out, "wb").write(body)
    print(len(head))
    """#

    /// Reads a WAV with Python's `wave`: frame count, then the frames.
    static let readWAV = #"""
    import sys, wave
    w = wave.open(sys.argv[1])
    n = w.getnframes()
    sys.stdout.buffer.write(n.to_bytes(8, "little") + w.readframes(n))
    """#

    struct Damage: Sendable, CustomTestStringConvertible {
        var name: String
        var channels = 1
        var riff = "auto", data = "auto"
        var rf64 = false
        /// Bytes cut from the end of the PCM (before any trailer): a write cut short.
        var cutPCMBytes = 0
        /// A LIST chunk after the audio (written at the end, as a finishing writer puts one).
        var trailer = false
        /// What the report must say.
        var finding: String
        var testDescription: String { name }
    }

    static let damages: [Damage] = [
        Damage(name: "sizes zero (libsndfile killed before sf_close)", riff: "0", data: "0", finding: "data size was 0; set to"),
        Damage(name: "RIFF 36, data 0 (a header written before any audio)", riff: "36", data: "0", finding: "RIFF size was 36; set to"),
        Damage(name: "sizes 0xFFFFFFFF (ffmpeg's streaming form)", riff: "0xFFFFFFFF", data: "0xFFFFFFFF", finding: "data size was 0xFFFFFFFF; set to"),
        Damage(name: "stereo, sizes 0xFFFFFFFF", channels: 2, riff: "0xFFFFFFFF", data: "0xFFFFFFFF", finding: "data size was 0xFFFFFFFF; set to"),
        Damage(name: "a stale header (a process killed after writing audio)", riff: "1036", data: "1000",
               finding: "data size was 1000, less than the"),
        Damage(name: "cut mid-frame (stereo, 3 bytes of a 4-byte frame)", channels: 2, cutPCMBytes: 1,
               finding: "the last 3 bytes are part of a frame (4 bytes each)"),
        Damage(name: "cut mid-sample (mono)", cutPCMBytes: 3, finding: "more than the"),
        Damage(name: "RF64 killed (ds64 data 0, libsndfile's form)", riff: "0", data: "0", rf64: true, finding: "data size was 0; set to"),
        Damage(name: "RF64 with sizes 0xFFFFFFFF in ds64", channels: 2, riff: "0xFFFFFFFF", data: "0xFFFFFFFF", rf64: true,
               finding: "data size was 0xFFFFFFFF; set to"),
        // Issue 27, item 8: the LIST chunk was counted as audio (its 18 bytes decoded as 9 frames of noise).
        Damage(name: "sizes 0xFFFFFFFF and a LIST chunk after the audio", riff: "0xFFFFFFFF", data: "0xFFFFFFFF", trailer: true,
               finding: "the LIST chunk from byte"),
        Damage(name: "stereo, sizes zero and a LIST chunk after the audio", channels: 2, riff: "0", data: "0", trailer: true,
               finding: "the LIST chunk from byte"),
    ]

    /// The damaged file is repaired (exit 0, the finding said), its audio bytes untouched, and every reader gives the
    /// whole frames the file holds, bit for bit.
    @Test(arguments: damages) func repairRestoresEveryWholeFrame(_ damage: Damage) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pcmPath = folder.appendingPathComponent("in.raw").path
        let source = try GeneratedSessions.expectedAssistant("ga-basic")
        try source.write(to: URL(fileURLWithPath: pcmPath))
        let frameBytes = 2 * damage.channels
        let wholePCM = source.prefix(source.count / frameBytes * frameBytes)
        let keptPCM = wholePCM.count - damage.cutPCMBytes
        let wav = folder.appendingPathComponent("damaged.wav").path

        // The header's length first, to cut the file where the damage says.
        let headerText = try python(Self.makeWAV, [wav, pcmPath, "\(damage.channels)", "24000", "auto", "auto", "none", damage.rf64 ? "1" : "0", "0", "0"])
        let headerByteCount = try #require(Int(String(decoding: headerText, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        _ = try python(Self.makeWAV, [wav, pcmPath, "\(damage.channels)", "24000", damage.riff, damage.data,
                                      damage.cutPCMBytes > 0 ? "\(headerByteCount + keptPCM)" : "none", damage.rf64 ? "1" : "0", "0",
                                      damage.trailer ? "1" : "0"])
        let before = try Data(contentsOf: URL(fileURLWithPath: wav))

        let result = try run(TestEnvironment.deltatapeExecutable.path, ["repair", wav])
        let report = String(decoding: result.standardOutput, as: UTF8.self)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(report.contains(damage.finding), "\(report)")
        #expect(report.contains("repaired"), "\(report)")

        // Only the header changed: same length, same bytes from the audio on.
        let after = try Data(contentsOf: URL(fileURLWithPath: wav))
        #expect(after.count == before.count)
        #expect(after.dropFirst(headerByteCount) == before.dropFirst(headerByteCount), "bytes past the header changed")

        let frames = keptPCM / frameBytes
        let expected = wholePCM.prefix(frames * frameBytes)
        if !damage.rf64 {  // Python's wave reads RIFF only
            let read = try python(Self.readWAV, [wav])
            #expect(read.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == UInt64(frames), "Python's wave frame count")
            #expect(read.dropFirst(8) == expected, "Python's wave: \(firstDifference(read.dropFirst(8), expected) ?? "")")
        }
        #expect(try soxDecodeToPCM16(wav) == expected, "sox")
        #expect(try ffmpegDecodeToPCM16(wav) == expected, "ffmpeg")
        #expect(try probe(wav, "stream=duration_ts") == "\(frames)", "ffprobe")

        // Repaired once, there is nothing left to fix, and the file stays as it is.
        let again = try run(TestEnvironment.deltatapeExecutable.path, ["repair", wav])
        #expect(again.status == 0 && String(decoding: again.standardOutput, as: UTF8.self).contains("nothing to fix"),
                "\(String(decoding: again.standardOutput, as: UTF8.self))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: wav)) == after)
    }

    /// Our own streaming form (the header written to a pipe, sizes 0xFFFFFFFF) is repaired to the session's PCM.
    @Test func ourPipeOutputIsRepaired() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let wav = folder.appendingPathComponent("piped.wav").path
        let log = try GeneratedSessions.log("ga-basic")
        let made = try run("/bin/bash", ["-c", "set -o pipefail; '\(TestEnvironment.deltatapeExecutable.path)' convert '\(log)' -o - --format wav | cat > '\(wav)'"])
        try #require(made.status == 0, "\(made.standardError)")
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["repair", wav])
        #expect(result.status == 0 && String(decoding: result.standardOutput, as: UTF8.self).contains("data size was 0xFFFFFFFF"))
        let pcm = try GeneratedSessions.expectedAssistant("ga-basic")
        let read = try python(Self.readWAV, [wav])
        #expect(read.dropFirst(8) == pcm, "\(firstDifference(read.dropFirst(8), pcm) ?? "")")
        #expect(try soxDecodeToPCM16(wav) == pcm)
    }

    /// Finished files are left alone: ours, ffmpeg's, one with a LIST chunk after its data.
    @Test func finishedFilesHaveNothingToFix() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pcmPath = folder.appendingPathComponent("in.raw").path
        try GeneratedSessions.expectedAssistant("ga-basic").write(to: URL(fileURLWithPath: pcmPath))
        let ours = folder.appendingPathComponent("ours.wav").path, ffmpeg = folder.appendingPathComponent("ffmpeg.wav").path
        let trailer = folder.appendingPathComponent("trailer.wav").path
        #expect(try run(TestEnvironment.deltatapeExecutable.path, ["convert", GeneratedSessions.log("ga-basic"), "-o", ours]).status == 0)
        #expect(try run("ffmpeg", ["-v", "error", "-f", "s16le", "-ar", "24000", "-ac", "1", "-i", pcmPath, ffmpeg]).status == 0)
        _ = try python(Self.makeWAV, [trailer, pcmPath, "1", "24000", "auto", "auto", "none", "0", "0", "1"])
        for file in [ours, ffmpeg, trailer] {
            let before = try Data(contentsOf: URL(fileURLWithPath: file))
            let result = try run(TestEnvironment.deltatapeExecutable.path, ["repair", file])
            #expect(result.status == 0 && String(decoding: result.standardOutput, as: UTF8.self).contains("nothing to fix"),
                    "\(file): \(String(decoding: result.standardOutput, as: UTF8.self))")
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "\(file) changed")
        }
    }

    /// A dry run says what it would do and writes nothing.
    @Test func aDryRunWritesNothing() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pcmPath = folder.appendingPathComponent("in.raw").path
        try GeneratedSessions.expectedAssistant("ga-basic").write(to: URL(fileURLWithPath: pcmPath))
        let wav = folder.appendingPathComponent("zero.wav").path
        _ = try python(Self.makeWAV, [wav, pcmPath, "1", "24000", "0", "0", "none", "0", "0", "0"])
        let before = try Data(contentsOf: URL(fileURLWithPath: wav))
        let report = try WAVRepair.repair(path: wav, dryRun: true)
        #expect(!report.changed && report.neededRepair)
        #expect(report.frameCount == before.count / 2 - 22)
        #expect(try Data(contentsOf: URL(fileURLWithPath: wav)) == before)
        #expect(report.description.contains("would repair"))
    }

    /// A RIFF file past 4 GiB (sparse: no disk used) with a JUNK chunk first becomes RF64: the JUNK chunk becomes ds64
    /// holding the true sizes, read back with Python's `struct` and ffprobe; without JUNK it is refused (exit 65).
    @Test func aRIFFPastFourGiBBecomesRF64() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pcmPath = folder.appendingPathComponent("in.raw").path
        try Data(count: 4_800).write(to: URL(fileURLWithPath: pcmPath))
        let big = folder.appendingPathComponent("big.wav").path, plain = folder.appendingPathComponent("plain.wav").path
        let length = 5 << 30 + 3  // 5 GiB and 3 bytes: one byte of a 4-byte stereo frame short
        _ = try python(Self.makeWAV, [big, pcmPath, "2", "48000", "0xFFFFFFFF", "0xFFFFFFFF", "none", "0", "1", "0"])
        _ = try python(Self.makeWAV, [plain, pcmPath, "2", "48000", "0xFFFFFFFF", "0xFFFFFFFF", "none", "0", "0", "0"])
        #expect(truncate(big, off_t(length)) == 0 && truncate(plain, off_t(length)) == 0)

        let result = try run(TestEnvironment.deltatapeExecutable.path, ["repair", big])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(String(decoding: result.standardOutput, as: UTF8.self).contains("RIFF becomes RF64"))
        let header = 12 + 36 + 24 + 8
        let dataBytes = (length - header) / 4 * 4
        let fields = try python("""
            import struct, sys
            b = open(sys.argv[1], "rb").read(80)
            print(b[0:4].decode(), struct.unpack("<I", b[4:8])[0], b[12:16].decode(), *struct.unpack("<QQQI", b[20:48]), struct.unpack("<I", b[76:80])[0])
            """, [big])
        #expect(String(decoding: fields, as: UTF8.self) == "RF64 4294967295 ds64 \(header - 8 + dataBytes) \(dataBytes) \(dataBytes / 4) 0 4294967295\n")
        #expect(try probe(big, "stream=duration_ts") == "\(dataBytes / 4)")

        let refused = try run(TestEnvironment.deltatapeExecutable.path, ["repair", plain])
        #expect(refused.status == 65 && refused.standardError.contains("no JUNK chunk"), "\(refused.standardError)")
    }
}
