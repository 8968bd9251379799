import DeltaTape

/// The human-readable form of an inspection report.
enum ReportText {
    static func render(_ report: SessionReport) -> String {
        var lines: [String] = []
        lines.append("\(report.input): \(report.messageCount) messages on \(report.lineCount) lines")
        if let wrapper = report.wrapper { lines.append("wrapper: \(wrapper)") }
        lines.append("vocabulary: \(report.vocabularyName ?? "not recognized")")
        lines.append("formats: \(report.formats.isEmpty ? "none configured" : report.formats.joined(separator: ", "))")
        let seconds = (report.assistant.durationSeconds * 1000).rounded() / 1000
        lines.append("assistant audio: \(seconds) s in \(report.assistant.deltaCount) deltas "
            + "(\(report.responseCount) responses, \(report.itemCount) items)")
        let userSeconds = (report.user.durationSeconds * 1000).rounded() / 1000
        lines.append("user audio: \(userSeconds) s in \(report.user.deltaCount) messages")
        if let connections = report.webSocketConnectionCount {
            lines.append("WebSocket connections: \(connections), frames without a JSON message: \(report.nonMessageFrameCount ?? 0)")
        }
        if report.truncationCount + report.interruptionCount + report.deltasAfterDone > 0 {
            lines.append("cut-offs: \(report.truncationCount) truncations, \(report.interruptionCount) interruptions; "
                + "\(report.deltasAfterDone) deltas after .done")
        }
        lines.append("events:")
        let width = report.eventCounts.values.map { String($0).count }.max() ?? 1
        for (type, count) in report.eventCounts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            let number = String(count)
            lines.append("  " + String(repeating: " ", count: width - number.count) + number + "  " + type)
        }
        if !report.problems.isEmpty {
            lines.append("problems:")
            for problem in report.problems { lines.append("  line \(problem.line): \(problem.message)") }
        }
        if !report.diagnoses.isEmpty {
            lines.append("notes:")
            for note in report.diagnoses { lines.append("  - \(note.message)") }
        }
        return lines.joined(separator: "\n")
    }
}
