// Issue 27, item 4: recordings are made new under names with a random part, never through a planted link, and a
// taken name is never reused. The relay's test hook DELTATAPE_RELAY_TEST_NAMES gives the random part it tries first,
// so that a test can plant at the very name the relay will try.
import Foundation
import Testing

@Suite("Relay: names and links")
struct RelayLinkTests {
    /// Symbolic links planted at the names the recording and its log will try first, pointing at a victim file, are
    /// never followed: the victim is unchanged, the links are still links, and the recording and its log are made
    /// under a fresh random part. A link at the journal's name alone does the same: the recording does not run
    /// without a journal under the planted name (the soak found it did, silently).
    @Test(arguments: [["wav", "jsonl"], ["wav.journal"]])
    func aPlantedLinkIsNeverFollowed(_ plantedExtensions: [String]) async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let victim = try RelayTestEnvironment.temporaryDirectory("victim").appendingPathComponent("victim.txt")
        defer { try? FileManager.default.removeItem(at: victim.deletingLastPathComponent()) }
        try Data("the victim's own bytes\n".utf8).write(to: victim)
        let planted = "planted_01"  // not base32: the helpers that find the recording never take a link for it
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--save-log"],
                            environment: { _ in ["DELTATAPE_RELAY_TEST_NAMES": planted] }) { scenario in
            // The relay names its files from the connection's start: links for the seconds around now.
            let start = Date()
            var links: [URL] = []
            for offset in -2...60 {
                let stem = recordingStem(start: start.addingTimeInterval(Double(offset)), connection: 1, random: planted)
                for ext in plantedExtensions {
                    let link = scenario.outputDirectory.appendingPathComponent("\(stem).\(ext)")
                    try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)
                    links.append(link)
                }
            }
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            // While it runs, the recording has its journal (under the fresh name).
            #expect(try await eventually(within: 30) {
                try scenario.recordings(extension: "wav").first.map { FileManager.default.fileExists(atPath: $0.path + ".journal") } ?? false
            })
            expectClean(await running.value, relay: scenario.relay)
            let (file, summary) = try await scenario.finishedRecording(extension: "wav")
            #expect(!file.lastPathComponent.contains(planted), "\(file.lastPathComponent)")
            #expect(!summary.contains(planted), "\(summary)")
            #expect(try Data(contentsOf: victim) == Data("the victim's own bytes\n".utf8), "the victim was written through a link")
            for link in links {
                #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)) == victim.path, "\(link.lastPathComponent)")
            }
            #expect(try await readWAVWithPython(file.path).frameCount > 0)
            #expect(FileManager.default.fileExists(atPath: try scenario.savedLog(of: file).path))
        }
    }

    /// Two relays sharing one folder, told to try the same random part first, each keep their own recording: the
    /// second finds the name taken and makes its files under a fresh one, so neither replaces the other's.
    @Test func twoRelaysSharingAFolderNeverReplaceEachOthersRecordings() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let same = ["DELTATAPE_RELAY_TEST_NAMES": "samesame22"]
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let upstream = FakeUpstream(.init(script: script))
        try await upstream.run { port in
            let relays = [try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder, arguments: ["--format", "wav"], environment: same),
                          try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder, arguments: ["--format", "wav"], environment: same)]
            defer { for relay in relays { relay.stop() } }
            let clients = relays.map {
                RealtimeClient(.init(url: $0.webSocketBase + "/v1/realtime?model=gpt-realtime", headers: [], script: script,
                                     pace: RelayTestEnvironment.pace, closesAfterReceiving: script.serverSteps.count))
            }
            async let a = clients[0].run()
            async let b = clients[1].run()
            let outcomes = await [a, b]
            #expect(outcomes.allSatisfy { $0.error == nil }, "\(outcomes)")
            // Each relay's summary line names its own file; the two files are both there, whole.
            var summaries: [String] = []
            for relay in relays {
                summaries.append(await relay.waitForLine { $0.contains(".wav: ") } ?? "none: \(relay.standardErrorLines)")
            }
            let recordings = try files(in: folder).filter { RelayContract.isRecordingName($0, connection: 1, extension: "wav") }
            #expect(recordings.count == 2, "\((try? files(in: folder)) ?? []); \(summaries)")
            #expect(Set(recordings.map { name in summaries.firstIndex { $0.contains(name) } }).count == 2, "\(recordings) \(summaries)")
            for recording in recordings {
                #expect(try await readWAVWithPython(folder.appendingPathComponent(recording).path).frameCount > 0)
            }
        }
    }
}

/// `<YYYYMMDDTHHMMSSZ>-<connection>-<random>` of a recording begun at `start`.
func recordingStem(start: Date, connection: Int, random: String) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
    return "\(formatter.string(from: start))-\(connection)-\(random)"
}
