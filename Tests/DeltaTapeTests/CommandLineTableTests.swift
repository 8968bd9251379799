import Foundation
import TestSupport
import Testing

/// One run of the `deltatape` binary: its arguments, standard input, expected exit status and message, and what
/// its output must hold. In arguments, `@NAME` is generated session NAME's log, `$/FILE` a file in the case's own
/// temporary folder (`$/DIR/` keeps its slash), `%FILE` a file of TestAudio/.
struct CommandLineCase: Sendable, CustomTestStringConvertible {
    var name: String
    var arguments: [String]
    var status: Int32 = 0
    /// Text standard error must contain.
    var message: String?
    /// Standard input: a generated session's log (`@NAME`), a file the case made (`$/FILE`), or nothing.
    var input: String?
    /// Makes input files in the case's folder before the run.
    var prepare: (@Sendable (URL) throws -> Void)?
    /// Checks the outcome; runs after the status and message are checked.
    var check: (@Sendable (CommandLineRun) throws -> Void)?

    var testDescription: String { name }

    /// A case whose outcome is checked by `check` (the trailing closure) after its status and message.
    init(name: String, arguments: [String], status: Int32 = 0, message: String? = nil, input: String? = nil,
         prepare: (@Sendable (URL) throws -> Void)? = nil, check: @escaping @Sendable (CommandLineRun) throws -> Void) {
        self.init(name: name, arguments: arguments, status: status, message: message, input: input, prepare: prepare)
        self.check = check
    }

    /// A case checked by its status and message alone.
    init(name: String, arguments: [String], status: Int32 = 0, message: String? = nil, input: String? = nil,
         prepare: (@Sendable (URL) throws -> Void)? = nil) {
        self.name = name
        self.arguments = arguments
        self.status = status
        self.message = message
        self.input = input
        self.prepare = prepare
    }
}

/// What a check gets: the case's folder and the process's result.
struct CommandLineRun {
    var folder: URL
    var result: ProcessResult

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Runs `deltatape` again (for comparisons between two settings), with the same token rules.
    func deltatape(_ arguments: [String]) throws -> ProcessResult {
        try run(TestEnvironment.deltatapeExecutable.path, CommandLineTableTests.expand(arguments, folder: folder))
    }
}

/// Every flag and every validation message of `deltatape`, through the process, with its exit status: 0, 64 usage,
/// 65 bad data, 74 output failure (sysexits.h). Expectations come from the fixture script, sox, ffmpeg and ffprobe.
@Suite struct CommandLineTableTests {
    static func expand(_ arguments: [String], folder: URL) throws -> [String] {
        try arguments.map { argument in
            if argument.hasPrefix("@") { return try GeneratedSessions.log(String(argument.dropFirst())) }
            if argument.hasPrefix("$/") {
                // A trailing '/' (an output folder, `-o $/out/`) is kept: URL paths drop it.
                return folder.appendingPathComponent(String(argument.dropFirst(2))).path + (argument.hasSuffix("/") ? "/" : "")
            }
            if argument.hasPrefix("%") { return TestEnvironment.packageRoot.appendingPathComponent("TestAudio/" + argument.dropFirst()).path }
            return argument
        }
    }

    /// Runs `sh -c script` with `$0` the `deltatape` binary and `$1` `argument`, for redirections a table row cannot make.
    static func shell(_ script: String, _ argument: String) throws -> ProcessResult {
        try run("sh", ["-c", script, TestEnvironment.deltatapeExecutable.path, argument])
    }

    @Test(arguments: flagCases + validationCases + failureCases + sameFileCases + flagConflictCases + versionAndAliasCases + plausibilityCases + wrapperCases + noAudioCases + cutOffCases + messageLimitCases + hostileInputCases + repairCases + batchCases + inputKindFlagCases + voiceCases)
    func deltatapeRun(_ testCase: CommandLineCase) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try testCase.prepare?(folder)
        let input = try testCase.input.map { name in
            try Data(contentsOf: name.hasPrefix("$/") ? folder.appendingPathComponent(String(name.dropFirst(2)))
                : URL(fileURLWithPath: GeneratedSessions.log(String(name.dropFirst()))))
        }
        let result = try run(TestEnvironment.deltatapeExecutable.path, Self.expand(testCase.arguments, folder: folder), input: input)
        #expect(result.status == testCase.status, "\(result.standardError)")
        if let message = testCase.message {
            #expect(result.standardError.contains(message), "\(result.standardError)")
        }
        if testCase.status != 0 {
            #expect(result.standardError.contains("rror"), "a failure says why: \(result.standardError)")
        }
        try testCase.check?(CommandLineRun(folder: folder, result: result))
    }
}

// MARK: - Checks shared by the cases

/// ffprobe's value of `entry` (for example `stream=sample_rate`) for `path`'s first audio stream.
func probe(_ path: String, _ entry: String) throws -> String {
    let result = try run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", entry, "-of", "default=nw=1:nk=1", path])
    guard result.status == 0 else { throw TestSupportError("ffprobe failed on \(path): \(result.standardError)") }
    return String(decoding: result.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The duration in 48 kHz samples of each of `path`'s packets, as ffprobe reports them.
func packetDurations(_ path: String) throws -> [Double] {
    let result = try run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=duration_time", "-of", "csv=p=0", path])
    guard result.status == 0 else { throw TestSupportError("ffprobe failed on \(path): \(result.standardError)") }
    // Seconds whatever the container's time base (48 kHz samples in Ogg, WebM's timestamp ticks), as milliseconds.
    return String(decoding: result.standardOutput, as: UTF8.self).split(separator: "\n").compactMap { Double($0).map { ($0 * 1e6).rounded() / 1e3 } }
}

/// Runs sox with `arguments`, failing the test machinery when sox fails.
func sox(_ arguments: [String]) throws {
    let result = try run("sox", arguments)
    guard result.status == 0 else { throw TestSupportError("sox \(arguments): \(result.standardError)") }
}

/// `opusinfo` accepts the file without a warning.
func expectCleanOpusinfo(_ path: String) throws {
    let info = try run("opusinfo", [path])
    let text = String(decoding: info.standardOutput, as: UTF8.self) + info.standardError
    #expect(info.status == 0 && !text.contains("WARNING"), "\(text)")
}

/// The decoded 40 Hz level over the decoded 1 kHz level of an Opus file made from `tones.wav` (see ``makeTones``).
func lowToneRetention(_ path: String) throws -> Double {
    let decoded = Array(pcm16Samples(try ffmpegDecodeToPCM16(path)).dropFirst(24_000).dropLast(24_000))
    return toneAmplitude(decoded, frequency: 40, sampleRate: 48_000) / toneAmplitude(decoded, frequency: 1_000, sampleRate: 48_000)
}

/// 3 s of 40 Hz and 1 kHz tones at equal level, 24 kHz mono, as `tones.wav`.
@Sendable func makeTones(_ folder: URL) throws {
    try sox(["-D", "-n", "-r", "24000", "-c", "1", "-b", "16", folder.appendingPathComponent("tones.wav").path,
             "synth", "3", "sine", "40", "sine", "1000", "gain", "-6", "remix", "-"])
}

/// The user recording at 8 kHz in G.711 (`speech.mulaw`, `speech.alaw`) and 16 kHz stereo PCM (`stereo.raw`: the
/// recording left, its inverse right).
@Sendable func makeRawInputs(_ folder: URL) throws {
    let speech = TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav").path
    let raw = ["-t", "raw", "-b", "8", "-c", "1"]
    try sox(["-D", speech, "-r", "8000"] + raw + ["-e", "mu-law", folder.appendingPathComponent("speech.mulaw").path])
    try sox(["-D", speech, "-r", "8000"] + raw + ["-e", "a-law", folder.appendingPathComponent("speech.alaw").path])
    try sox(["-D", speech, "-r", "16000", "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-c", "2",
             folder.appendingPathComponent("stereo.raw").path, "remix", "1", "1v-1"])
}

/// sox's decoding of headerless G.711 at 8 kHz to 16-bit PCM.
func soxDecodeG711(_ path: String, encoding: String) throws -> Data {
    let result = try run("sox", ["-t", "raw", "-e", encoding, "-b", "8", "-c", "1", "-r", "8000", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"])
    guard result.status == 0 else { throw TestSupportError("sox: \(result.standardError)") }
    return result.standardOutput
}

/// Resampled output `path` against sox's `rate -v` on the session's expected PCM: the same length, and at least
/// `minimumSNR` dB.
func expectAgreesWithSox(_ path: String, session: String, rate: Int, minimumSNR: Double) throws {
    let reference = try soxResampled(GeneratedSessions.expectedAssistant(session), from: 24_000, to: rate)
    let written = pcm16Samples(try soxDecodeToPCM16(path))
    #expect(written.count == reference.count)
    let snr = signalToNoiseRatio(written, reference)
    #expect(snr >= minimumSNR, "SNR against sox: \(snr) dB")
}
