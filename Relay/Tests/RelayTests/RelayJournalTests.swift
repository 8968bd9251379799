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

            // A relay started again on the folder rebuilds what the killed one left, on its own.
            let again = try await RelayProcess(upstream: "ws://127.0.0.1:9", outputDirectory: scenario.outputDirectory)
            defer { again.stop() }
            let line = await again.waitForLine(within: 120) { $0.contains(file.lastPathComponent) }
            #expect(line?.contains("rebuilt from the journal a killed relay left") == true, "\(String(describing: line))")
            #expect(!FileManager.default.fileExists(atPath: file.path + ".journal"))
            // ffmpeg decodes to 16-bit stereo, four bytes a frame, at the WAV's rate or Opus's 48 kHz.
            let rate = Double(format == "wav" ? logged.sampleRate : 48_000)
            let rebuiltSeconds = Double(try await decodeWithFFmpeg(file.path).count / 4) / rate
            let loggedSeconds = Double(logged.frameCount) / Double(logged.sampleRate)
            #expect(rebuiltSeconds >= loggedSeconds - 0.1, "rebuilt \(rebuiltSeconds) s, the saved log holds \(loggedSeconds) s")
            #expect(rebuiltSeconds >= Double(onDisk / 4) / rate, "rebuilt \(rebuiltSeconds) s, the killed file held \(onDisk / 4) frames")
            if format == "wav" {
                // A second reader, Python's wave: the rebuilt header's sizes are true.
                let wav = try await readWAVWithPython(file.path)
                #expect(Double(wav.frameCount) / Double(wav.sampleRate) == rebuiltSeconds)
            }
        }
    }

    /// Waits until the session's recording holds audio on disk (its first blocks written), as the kill test does.
    private static func audioOnDisk(_ scenario: RelayScenario, extension ext: String) async throws -> URL {
        #expect(try await eventually(within: 60) {
            let file = try scenario.recordings(extension: ext).first
            return try file.map { try (FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int ?? 0) > 20_000 } ?? false
        })
        return try #require(try scenario.recordings(extension: ext).first)
    }

    /// With `--no-journal` a live recording keeps none: checked once audio is on disk, when a journal would be there
    /// (the kill test sees one at the same point).
    @Test func noJournalKeepsNone() async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script), arguments: ["--no-journal", "--track", "both"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            let file = try await Self.audioOnDisk(scenario, extension: "wav")
            #expect(!FileManager.default.fileExists(atPath: file.path + ".journal"))
            expectClean(await running.value, relay: scenario.relay)
            _ = try await scenario.finishedRecording(extension: "wav")
        }
    }

    /// A relay started on a folder where another relay is recording leaves that recording's live journal alone (its
    /// lock is held), and says so rather than calling it a killed relay's.
    @Test func aLiveJournalIsLeftAlone() async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script), arguments: ["--track", "both"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            let file = try await Self.audioOnDisk(scenario, extension: "wav")
            let second = try await RelayProcess(upstream: "ws://127.0.0.1:9", outputDirectory: scenario.outputDirectory)
            defer { second.stop() }
            let line = await second.waitForLine(within: 60) { $0.contains(file.lastPathComponent) }
            #expect(line?.contains("still being written") == true, "\(String(describing: line))")
            expectClean(await running.value, relay: scenario.relay)
            let (finished, summary) = try await scenario.finishedRecording(extension: "wav")
            // The file written live, finalized under its session's id (the same random part, the id before it).
            let random = String(file.deletingPathExtension().lastPathComponent.suffix(10))
            #expect(finished.lastPathComponent.hasSuffix("-" + random + ".wav") && !summary.contains("failed"), "\(summary)")
            #expect(try await readWAVWithPython(finished.path).frameCount > 0)
        }
    }
}
