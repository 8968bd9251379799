// Issue 27, item 3: a relay killed mid-session loses nothing it had taken. Each recording keeps a journal of its
// messages beside it (FILE.journal, one write per message before it is recorded), and `deltatape repair` rebuilds
// the recording from it, the answer still held in memory included.
import DeltaTape
import Foundation
import Testing

@Suite("Relay: the journal a kill leaves") struct RelayJournalTests {
    @Test(arguments: ["wav", "webm"])
    func aRelayKilledMidSessionIsRebuiltFromItsJournal(format: String) async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script), arguments: ["--format", format, "--track", "both", "--save-log"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            let third = script.serverSteps.count / 3
            #expect(await eventually(within: 120) { client.receivedCount >= third })
            // The files are made when the session starts: until audio is on disk (as the fault tests wait).
            #expect(try await eventually(within: 60) {
                let file = try scenario.recordings(extension: format).first
                return try file.map { try (FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int ?? 0) > 20_000 } ?? false
            })
            let file = try #require(try scenario.recordings(extension: format).first)
            #expect(FileManager.default.fileExists(atPath: file.path + ".journal"), "a live recording keeps no journal")
            scenario.relay.signal(SIGKILL)
            #expect(await scenario.relay.waitForExit(within: 30)?.signalled == true)
            _ = await running.value

            // What the killed relay left: the recording as it lies, and the saved log (written in 64 KiB blocks, so
            // behind the journal), each converted by another path.
            var options = ConversionOptions()
            options.track = .both
            let log = try #require(try scenario.recordings(extension: "jsonl").first)
            let fromLog = scenario.outputDirectory.appendingPathComponent("from-log.wav").path
            let logged = try await SessionConverter.convert(input: log.path, to: .file(fromLog), options: options, problem: { _ in })
            // What a reader gets from the killed file as it lies (nothing, if the kill came before a whole block).
            let onDisk = (try? await decodeWithFFmpeg(file.path, requireClean: false).count) ?? 0

            let rebuilt = try #require(try SessionConverter.rebuild(fromJournalOf: file.path), "no journal to rebuild from")
            #expect(!FileManager.default.fileExists(atPath: file.path + ".journal"))
            #expect(rebuilt.frameCount >= logged.frameCount, "rebuilt \(rebuilt.frameCount) frames, the saved log holds \(logged.frameCount)")
            // ffmpeg decodes to 16-bit stereo, four bytes a frame, at the WAV's rate or Opus's 48 kHz.
            let onDiskSeconds = Double(onDisk / 4) / Double(format == "wav" ? rebuilt.sampleRate : 48_000)
            let rebuiltSeconds = Double(rebuilt.frameCount) / Double(rebuilt.sampleRate)
            #expect(rebuiltSeconds >= onDiskSeconds, "rebuilt \(rebuiltSeconds) s, the killed file held \(onDiskSeconds) s")
            let decoded = try await decodeWithFFmpeg(file.path)
            #expect(decoded.count > 0)
        }
    }
}
