import Foundation
import TestSupport
import Testing

/// `deltatape repair` refusing what it cannot repair, each with its exit status and a sentence saying why; what it
/// repairs is in `WAVRepairTests`, `StreamRepairTests` (Ogg Opus, WebM) and `KilledConversionTests`.
let repairCases: [CommandLineCase] = [
    CommandLineCase(name: "repair refuses a session log", arguments: ["repair", "@ga-basic"], status: 65,
                    message: "is not a WAV, Ogg Opus or WebM file: it looks like JSON text"),
    // Picked by content: a finished Ogg named .wav is read as Ogg, and has nothing to fix (the file is not touched).
    CommandLineCase(name: "repair of a finished Ogg file named .wav", arguments: ["repair", "$/a.wav"], status: 0,
                    prepare: { folder in
                        _ = try run(TestEnvironment.deltatapeExecutable.path, ["convert", GeneratedSessions.log("ga-basic"), "-o",
                                                                              folder.appendingPathComponent("a.ogg").path])
                        try FileManager.default.moveItem(at: folder.appendingPathComponent("a.ogg"), to: folder.appendingPathComponent("a.wav"))
                    }) { run throws in
        #expect(String(decoding: run.result.standardOutput, as: UTF8.self).contains("nothing to fix: a finished Ogg Opus file"))
    },
    CommandLineCase(name: "repair refuses an Ogg file cut inside its headers", arguments: ["repair", "$/cut.ogg"], status: 65,
                    message: "the process was stopped before any audio was written, so there is nothing to keep",
                    prepare: { folder in
                        let ogg = folder.appendingPathComponent("a.ogg")
                        _ = try run(TestEnvironment.deltatapeExecutable.path, ["convert", GeneratedSessions.log("ga-basic"), "-o", ogg.path])
                        try Data(try Data(contentsOf: ogg).prefix(100)).write(to: folder.appendingPathComponent("cut.ogg"))
                    }) { run throws in
        // Refused files are not touched.
        #expect(try Data(contentsOf: URL(fileURLWithPath: run.path("cut.ogg"))).count == 100)
    },
    CommandLineCase(name: "repair refuses a WebM file cut inside its EBML header", arguments: ["repair", "$/cut.webm"], status: 65,
                    message: "ends inside its EBML header",
                    prepare: { folder in
                        try Data([0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86]).write(to: folder.appendingPathComponent("cut.webm"))
                    }),
    // Found by the repair fuzzer: an EBML type taken from the file went into the message raw (a DEL there; an escape
    // sequence here would have reached the terminal).
    CommandLineCase(name: "repair refuses an EBML file of another type, its name made printable", arguments: ["repair", "$/other.webm"],
                    status: 65, message: "it is an EBML file of type '?[31mevil', not WebM or Matroska",
                    prepare: { folder in
                        let docType = [0x1B] + Array("[31mevil".utf8)
                        let payload = [0x42, 0x82, 0x80 | UInt8(docType.count)] + docType
                        try Data([0x1A, 0x45, 0xDF, 0xA3, 0x80 | UInt8(payload.count)] + payload).write(to: folder.appendingPathComponent("other.webm"))
                    }) { run throws in
        #expect(!run.result.standardError.contains("\u{1B}"))
    },
    CommandLineCase(name: "repair refuses a WAV without a data chunk", arguments: ["repair", "$/header.wav"], status: 65, message: "no data chunk",
                    prepare: { folder in
                        var bytes = Data("RIFF".utf8) + Data([28, 0, 0, 0]) + Data("WAVEfmt ".utf8) + Data([16, 0, 0, 0, 1, 0, 1, 0])
                        bytes += Data([0xC0, 0x5D, 0, 0, 0x80, 0xBB, 0, 0, 2, 0, 16, 0])
                        try bytes.write(to: folder.appendingPathComponent("header.wav"))
                    }),
    // Issue 27, item 8: a 20-byte file (RIFF, WAVE, the fmt chunk's ID and size) was "16 bytes, shorter than the 16 a WAV needs".
    CommandLineCase(name: "repair refuses a WAV cut off inside its fmt chunk", arguments: ["repair", "$/cut.wav"], status: 65,
                    message: "is 20 bytes long and ends inside its fmt chunk",
                    prepare: { folder in
                        try (Data("RIFF".utf8) + Data([0xFF, 0xFF, 0xFF, 0xFF]) + Data("WAVEfmt ".utf8) + Data([16, 0, 0, 0]))
                            .write(to: folder.appendingPathComponent("cut.wav"))
                    }) { run throws in
        #expect(!run.result.standardError.contains("shorter than the 16"))
    },
    CommandLineCase(name: "repair of a file that does not exist", arguments: ["repair", "$/missing.wav"], status: 66, message: "No such file"),
    CommandLineCase(name: "repair of a folder", arguments: ["repair", "$/"], status: 66, message: "is a folder"),
    CommandLineCase(name: "repair needs a file", arguments: ["repair"], status: 64, message: "Missing expected argument"),
    CommandLineCase(name: "repair --help says it never destroys data", arguments: ["repair", "--help"]) { run throws in
        #expect(String(decoding: run.result.standardOutput, as: UTF8.self).contains("never destroys data"))
    },
    CommandLineCase(name: "repair of several files exits with the worst status", arguments: ["repair", "$/missing.wav", "@ga-basic"], status: 66,
                    message: "is not a WAV, Ogg Opus or WebM file"),
]
