import DeltaTape
import Foundation
import TestSupport

/// Writes `lines` as a JSONL session log in a new folder, converts it to WAV through the library and returns the
/// WAV's path with the problems reported: for tests whose session is a few lines written in the test itself.
func convertInlineSession(_ lines: [String]) throws -> (output: String, problems: [Problem]) {
    let folder = try TestEnvironment.temporaryDirectory()
    let log = folder.appendingPathComponent("session.jsonl")
    try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
    let output = folder.appendingPathComponent("session.wav").path
    var problems: [Problem] = []
    _ = try SessionConverter.convert(input: log.path, to: .file(output)) { problems.append($0) }
    return (output, problems)
}
