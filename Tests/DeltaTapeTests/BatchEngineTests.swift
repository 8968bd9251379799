import Foundation
import TestSupport
import Testing

/// `convert` in batch engines (issue 29, SPEC §11): workers splitting one list by `--shard K/N`, a worker killed
/// mid-run, and the rerun with `--skip-existing`. Expectations come from elsewhere than the code under test: the
/// shard of each input from FNV-1a computed in Python, the outputs read by Python's `wave` and ffprobe, the frame
/// count from the fixture script's PCM.
@Suite struct BatchEngineTests {
    /// The shard (1...N) of each input given after N: FNV-1a, 64 bits, over the UTF-8 bytes, modulo N, plus 1.
    static let shardOf = #"""
    import sys
    n = int(sys.argv[1])
    for name in sys.argv[2:]:
        h = 0xcbf29ce484222325
        for b in name.encode():
            h = ((h ^ b) * 0x100000001b3) % 2**64
        print(h % n + 1)
    """#

    /// Each file a shell's `*.wav` matches in the folder (hidden ones are not), read whole by Python's `wave`: its name,
    /// the header's frame count and the frames read.
    static let readWAVs = #"""
    import glob, os, sys, wave
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.wav"))):
        w = wave.open(path)
        n = w.getnframes()
        print(os.path.basename(path), n, len(w.readframes(n)) // (w.getsampwidth() * w.getnchannels()))
    """#

    /// Copies ga-basic's log to `folder/NAME.jsonl` for each of `names`; returns their paths.
    static func copies(_ names: [String], in folder: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))
        return try names.map { name in
            let path = folder.appendingPathComponent("\(name).jsonl")
            try log.write(to: path)
            return path.path
        }
    }

    /// The names without extension (`a1` for `…/out/a1.wav`) of the outputs the `wrote …` summary lines name.
    static func written(_ result: ProcessResult) -> [String] {
        result.standardError.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("wrote "), let colon = line.range(of: ": ") else { return nil }
            return URL(fileURLWithPath: String(line[line.index(line.startIndex, offsetBy: 6)..<colon.lowerBound])).deletingPathExtension().lastPathComponent
        }
    }

    /// The frames of ga-basic's assistant track, as the fixture script encoded them (16-bit mono).
    static func expectedFrameCount() throws -> Int {
        try GeneratedSessions.expectedAssistant("ga-basic").count / 2
    }

    /// Checks that every `*.wav` in `folder` holds ga-basic's whole assistant track, for Python's `wave` and ffprobe;
    /// returns their names.
    static func wholeFiles(in folder: String, _ context: String) throws -> [String] {
        let frames = try expectedFrameCount()
        let lines = String(decoding: try python(readWAVs, [folder]), as: UTF8.self).split(separator: "\n")
        var names: [String] = []
        for line in lines {
            let fields = line.split(separator: " ")
            try #require(fields.count == 3, "\(line)")
            let name = String(fields[0])
            #expect(Int(fields[1]) == frames && Int(fields[2]) == frames, "Python's wave: \(name) has \(fields[1]) frames in its header, \(fields[2]) read, of \(frames); \(context)")
            #expect(try probe(folder + "/" + name, "stream=duration_ts") == "\(frames)", "ffprobe: \(name), \(context)")
            names.append(name)
        }
        return names
    }

    @Test func threeShardsOfOneListConvertEveryInputExactlyOnce() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let names = (1...30).map { "call-\($0)" }
        let inputs = try Self.copies(names, in: folder.appendingPathComponent("in"))
        let list = folder.appendingPathComponent("list.txt")
        try Data(inputs.joined(separator: "\n").utf8).write(to: list)
        let output = folder.appendingPathComponent("out").path
        var converted: [Set<String>] = []
        for shard in 1...3 {
            let result = try run(TestEnvironment.deltatapeExecutable.path, ["convert", "--inputs-from", list.path, "-o", output + "/", "--shard", "\(shard)/3"])
            #expect(result.status == 0, "shard \(shard): \(result.standardError)")
            let written = Self.written(result)
            #expect(written.count == Set(written).count, "shard \(shard) wrote one twice: \(written)")
            converted.append(Set(written))
            if written.count > 1 {
                #expect(result.standardError.hasSuffix("\(written.count) of \(written.count) converted\n"), "\(result.standardError)")
            }
        }
        #expect(converted[0].union(converted[1]).union(converted[2]) == Set(names))
        #expect(converted[0].isDisjoint(with: converted[1]) && converted[0].isDisjoint(with: converted[2]) && converted[1].isDisjoint(with: converted[2]))
        // Each worker took the inputs FNV-1a puts in its shard, computed apart from the code under test.
        let shards = String(decoding: try python(Self.shardOf, ["3"] + inputs), as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
        try #require(shards.count == names.count)
        for shard in 1...3 {
            #expect(converted[shard - 1] == Set(zip(names, shards).filter { $0.1 == shard }.map(\.0)), "shard \(shard)")
        }
        // All 30 whole, and no temporary file left.
        #expect(try Self.wholeFiles(in: output, "three shards").count == 30)
        #expect(try FileManager.default.contentsOfDirectory(atPath: output).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func aShardWithoutInputsSaysSoAndSucceeds() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let inputs = try Self.copies(["only"], in: folder)
        let shard = Int(String(decoding: try python(Self.shardOf, ["2"] + inputs), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        let other = shard == 1 ? 2 : 1
        let output = folder.appendingPathComponent("out").path
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["convert"] + inputs + ["-o", output + "/", "--shard", "\(other)/2"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError == "shard \(other)/2 had none of the 1 input; nothing to convert\n", "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: output + "/only.wav"))
    }

    /// Four inputs, then one that stalls (a FIFO fed half of a log and held open), then three more, converted one at
    /// a time into a folder: the kill comes while the worker waits on the FIFO, after the first four are done and
    /// while the fifth is on disk in part, however fast the machine. Every `*.wav` left must be whole; then a rerun
    /// with `--skip-existing` converts only the rest.
    @Test func aKilledWorkerLeavesOnlyWholeFilesAndTheRerunSkipsThem() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in")
        let before = try Self.copies(["a1", "a2", "a3", "a4"], in: input), after = try Self.copies(["b1", "b2", "b3"], in: input)
        let fifo = input.appendingPathComponent("stall.jsonl").path
        try #require(mkfifo(fifo, 0o600) == 0, "mkfifo: \(String(cString: strerror(errno)))")
        let inputs = before + [fifo] + after
        let output = folder.appendingPathComponent("out").path

        let process = Process()
        process.executableURL = TestEnvironment.deltatapeExecutable
        process.arguments = ["convert"] + inputs + ["-o", output + "/", "-j", "1"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Half the log into the FIFO, from a thread of its own (opening blocks until the worker opens it), held open
        // until the kill: the worker waits for the rest.
        signal(SIGPIPE, SIG_IGN)
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))
        let killed = DispatchSemaphore(value: 0), fed = DispatchGroup()
        fed.enter()
        DispatchQueue.global().async {
            defer { fed.leave() }
            let descriptor = open(fifo, O_WRONLY)
            guard descriptor >= 0 else { return }
            defer { close(descriptor) }
            log.prefix(log.count / 2).withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    guard count > 0 else { break }
                    offset += count
                }
            }
            killed.wait()
        }
        // The fifth output on disk with some audio, under whatever name it has.
        var partial: (name: String, byteCount: Int)?
        for _ in 0..<1_500 where partial == nil && process.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
            partial = names.filter { $0.hasPrefix(".stall.wav.partial-") || $0 == "stall.wav" }.compactMap { name -> (name: String, byteCount: Int)? in
                let size = (try? FileManager.default.attributesOfItem(atPath: output + "/" + name)[.size] as? Int) ?? 0
                return size > 4_096 ? (name, size) : nil
            }.first
        }
        kill(process.processIdentifier, SIGKILL)
        waitForExit(process)
        killed.signal()
        // A worker that died before opening the FIFO leaves the feeder waiting in open(): a reader of ours, gone at
        // once, lets it through to a write that fails.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        if reader >= 0 { close(reader) }
        fed.wait()
        try #require(partial != nil, "the stalled input's output never appeared with audio")
        #expect(process.terminationReason == .uncaughtSignal, "the worker ended before the kill")

        // Under a final name, only the four whole files; the fifth stays under its hidden temporary name.
        let context = "killed while \(partial?.name ?? "") held \(partial?.byteCount ?? 0) bytes"
        #expect(try Self.wholeFiles(in: output, context) == ["a1.wav", "a2.wav", "a3.wav", "a4.wav"], "\(context)")
        let left = try FileManager.default.contentsOfDirectory(atPath: output)
        #expect(left.filter { !$0.hasPrefix(".") }.sorted() == ["a1.wav", "a2.wav", "a3.wav", "a4.wav"], "\(left)")
        #expect(left.contains { $0.hasPrefix(".stall.wav.partial-") }, "\(left)")

        // The rerun, the stalled input now whole: only the four not done are converted.
        unlink(fifo)
        try log.write(to: URL(fileURLWithPath: fifo))
        let rerun = try run(TestEnvironment.deltatapeExecutable.path, ["convert"] + inputs + ["-o", output + "/", "--skip-existing"])
        #expect(rerun.status == 0, "\(rerun.standardError)")
        #expect(Self.written(rerun).sorted() == ["b1", "b2", "b3", "stall"], "\(rerun.standardError)")
        let skipped = rerun.standardError.split(separator: "\n").filter { $0.hasPrefix("skipped ") && $0.hasSuffix("is there already (--skip-existing)") }
        #expect(skipped.count == 4, "\(rerun.standardError)")
        #expect(rerun.standardError.hasSuffix("\n4 of 8 converted, 4 skipped\n"), "\(rerun.standardError)")
        #expect(try Self.wholeFiles(in: output, "after the rerun").count == 8)
    }
}
