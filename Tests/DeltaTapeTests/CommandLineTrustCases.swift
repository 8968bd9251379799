import Foundation
import TestSupport
import Testing

/// Copies session `name`'s log into the case's folder as `file`.
private func copying(_ name: String, as file: String) -> @Sendable (URL) throws -> Void {
    { folder in
        try FileManager.default.copyItem(atPath: GeneratedSessions.log(name), toPath: folder.appendingPathComponent(file).path)
    }
}

/// The copied log `file` still holds session `name`'s log, byte for byte.
private func expectUntouched(_ run: CommandLineRun, _ file: String, session name: String) throws {
    let kept = try Data(contentsOf: URL(fileURLWithPath: run.path(file)))
    #expect(kept == (try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log(name)))), "the input was overwritten")
}

/// A case running `script` (see ``CommandLineTableTests/shell(_:_:)``) on a copy of ga-basic's log, `v.jsonl`: refused
/// with exit 64, the log untouched.
private func redirectionCase(_ name: String, script: String) -> CommandLineCase {
    CommandLineCase(name: name, arguments: ["inspect", "@ga-basic"], prepare: copying("ga-basic", as: "v.jsonl")) { run throws in
        let result = try CommandLineTableTests.shell(script, run.path("v.jsonl"))
        #expect(result.status == 64 && result.standardError.contains("is the input"), "\(result.standardError)")
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    }
}

/// Issue 13, defect 1: an output that is the input by any name is refused (exit 64) before anything is opened for
/// writing, and the input keeps every byte.
let sameFileCases: [CommandLineCase] = [
    CommandLineCase(name: "the output is the input, same path", arguments: ["convert", "$/v.jsonl", "-o", "$/v.jsonl", "--format", "wav"], status: 64,
                    message: "is the input", prepare: copying("ga-basic", as: "v.jsonl")) { run throws in
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    },
    CommandLineCase(name: "the output is the input, spelled with ./ and ..", arguments: ["convert", "$/v.wav", "-o", "$/sub/.././v.wav"], status: 64,
                    message: "is the input", prepare: { folder in
                        try copying("ga-basic", as: "v.wav")(folder)
                        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: false)
                    }) { run throws in
        try expectUntouched(run, "v.wav", session: "ga-basic")
    },
    CommandLineCase(name: "the output is a symbolic link to the input", arguments: ["convert", "$/v.jsonl", "-o", "$/link.wav"], status: 64,
                    message: "is the input", prepare: { folder in
                        try copying("ga-basic", as: "v.jsonl")(folder)
                        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link.wav").path, withDestinationPath: "v.jsonl")
                    }) { run throws in
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    },
    CommandLineCase(name: "the output is a hard link to the input", arguments: ["convert", "$/v.jsonl", "-o", "$/hard.ogg"], status: 64,
                    message: "is the input", prepare: { folder in
                        try copying("ga-basic", as: "v.jsonl")(folder)
                        try FileManager.default.linkItem(atPath: folder.appendingPathComponent("v.jsonl").path,
                                                         toPath: folder.appendingPathComponent("hard.ogg").path)
                    }) { run throws in
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    },
    CommandLineCase(name: "an audio file converted onto itself", arguments: ["convert", "$/v.wav", "-o", "$/./v.wav"], status: 64, message: "is the input",
                    prepare: { folder in
                        try FileManager.default.copyItem(atPath: TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav").path,
                                                         toPath: folder.appendingPathComponent("v.wav").path)
                    }) { run throws in
        let kept = try Data(contentsOf: URL(fileURLWithPath: run.path("v.wav")))
        #expect(kept == (try Data(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav"))))
    },
    CommandLineCase(name: "raw PCM converted onto itself", arguments: ["convert", "$/speech.mulaw", "-o", "$/speech.mulaw", "--format", "wav",
                                                                      "--input-format", "mulaw", "--input-rate", "8000"], status: 64, message: "is the input",
                    prepare: makeRawInputs) { run throws in
        let header = try Data(contentsOf: URL(fileURLWithPath: run.path("speech.mulaw"))).prefix(4)
        #expect(header != Data("RIFF".utf8))
    },
    // The shell opens the file for reading only (`<`) or appending (`>>`), so the output is that file.
    redirectionCase("standard input redirected from the output file", script: "\"$0\" convert - -o \"$1\" --format wav < \"$1\""),
    redirectionCase("standard output appending to the input file", script: "\"$0\" convert \"$1\" -o - --format wav >> \"$1\""),
    CommandLineCase(name: "a different file of the same content is fine", arguments: ["convert", "$/v.jsonl", "-o", "$/w.wav"],
                    prepare: copying("ga-basic", as: "v.jsonl")) { run throws in
        #expect(try soxDecodeToPCM16(run.path("w.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
]
