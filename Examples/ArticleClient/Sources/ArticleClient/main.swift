// Calls each article's code on a session log (the first argument), writing into a folder (the second). Nothing here
// uses the library except through the articles' functions.
import DeltaTape
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: ArticleClient SESSION.jsonl OUTPUT-FOLDER\n".utf8))
    exit(64)
}
let log = arguments[1], folder = arguments[2]
let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: log)))

// Converting a session log.
let converted = try await convertLog(at: log, to: folder + "/converted.webm")
// The same log in pieces of 1 000 bytes.
let pieces = stride(from: 0, to: bytes.count, by: 1_000).map { Array(bytes[$0..<min(bytes.count, $0 + 1_000)]) }
let recordedLog = try await recordLog(pieces: pieces, to: folder + "/pieces.wav")
// Recording a live session: the log's lines as the messages of a call, the client's sent, the service's received.
let lines = bytes.split(separator: UInt8(ascii: "\n")).map(Array.init)
let messages = AsyncThrowingStream<(bytes: [UInt8], direction: MessageDirection), any Error> { continuation in
    for line in lines {
        let text = String(decoding: line, as: UTF8.self)
        continuation.yield((line, text.contains("input_audio_buffer.append") ? .sent : .received))
    }
    continuation.finish()
}
let recordedCall = try await recordCall(messages: messages, to: folder + "/call.webm")
// Inspecting a session.
let report = try inspectLog(at: log)

for summary in [converted, recordedLog, recordedCall] where summary.frameCount == 0 {
    FileHandle.standardError.write(Data("\(summary.output): no audio written\n".utf8))
    exit(1)
}
print("article client: \(converted.durationSeconds) s, \(recordedLog.durationSeconds) s, \(recordedCall.durationSeconds) s; "
    + "\(report.messageCount) messages inspected")
